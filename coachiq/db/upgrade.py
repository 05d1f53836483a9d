"""Upgrade a database to a schema revision, in a process of its own.

`python -m coachiq.db.upgrade MIGRATIONS_DIR REVISION`, with the database URL on standard input (so that a
password in it never shows in the process list), runs the Alembic migrations up to REVISION in one
transaction and exits 0, or prints why it failed and exits 1. The database manager runs it as a
child process so that Alembic and the migration scripts (about 10 MiB once imported) never stay in the
server's memory after a first start or an upgrade.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from sqlalchemy import create_engine, event

from coachiq.db.manager import UPGRADE_FAILED, set_sqlite_pragmas


def _sqlite_connected(dbapi_connection: Any, record: Any) -> None:
    set_sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.isolation_level = None  # the module's own transaction handling off: see upgrade()


def upgrade(url: str, migrations_dir: str, revision: str) -> None:
    """Run the migrations of `migrations_dir` on the database at `url` up to `revision`."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connected)
        # The sqlite3 module begins a transaction only before a data change, so a failed migration would
        # keep the schema changes made before the failure: begin explicitly, so that DDL is rolled back too.
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", migrations_dir)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    """Upgrade as the arguments and standard input say; 0 on success, 1 with the reason on standard error."""
    if len(argv) != 2:
        print("usage: python -m coachiq.db.upgrade MIGRATIONS_DIR REVISION < URL", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        upgrade(sys.stdin.readline().strip(), *argv)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"{UPGRADE_FAILED}{type(exc).__name__}: {first_line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
