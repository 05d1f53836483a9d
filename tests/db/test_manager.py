"""The database manager against real SQLite files and real Alembic migrations."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from coachiq.core.errors import ConfigError
from coachiq.core.service import ServiceStartError, Status
from coachiq.db.manager import MIGRATIONS_DIR, DatabaseManager, Revisions, UnsupportedDatabaseURL
from coachiq.settings import load_settings
from tests.conftest import clean_env, run_cli

TEST_MIGRATION = '''"""A test migration one step past head.

Revision ID: {rev}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("settings", sa.Column("note", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("settings", "note")
'''


def manager_for(data_dir: Path, migrations: Path = MIGRATIONS_DIR) -> DatabaseManager:
    return DatabaseManager(f"sqlite:///{data_dir / 'coachiq.db'}", data_dir, migrations)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_revision_scan_agrees_with_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    assert Revisions.scan().head == script.get_current_head()
    assert set(Revisions.scan().ordered) == {r.revision for r in script.walk_revisions()}


async def test_fresh_database_is_created_at_head_with_wal(tmp_path: Path) -> None:
    manager = manager_for(tmp_path)
    await manager.start()
    try:
        health = await manager.health()
        assert health.status is Status.HEALTHY
        assert health.data["revision"] == manager.revisions.head

        def inspect(conn: Connection) -> tuple[object, object, object, set[str]]:
            pragmas = [conn.execute(text(f"PRAGMA {name}")).scalar()
                       for name in ("journal_mode", "foreign_keys", "synchronous")]
            tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
            return pragmas[0], pragmas[1], pragmas[2], tables

        journal_mode, foreign_keys, synchronous, tables = await manager.read(inspect)
        assert (journal_mode, foreign_keys, synchronous) == ("wal", 1, 2)  # synchronous 2 is FULL
        assert {"settings", "entity_state", "entity_history", "audit_log", "alerts"} <= tables
    finally:
        await manager.stop()


async def newer_release(tmp_path: Path, data: Path, edit: Callable[[str], str] = lambda text: text) -> tuple[
        Path, str, str]:
    """A database at today's head in `data`, and the migrations of a newer release: the shipped ones plus
    TEST_MIGRATION (changed by `edit`). Returns that folder, today's head and the new revision."""
    first = manager_for(data)
    await first.start()
    await first.stop()
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = Revisions.scan().head
    new = f"{len(Revisions.scan().ordered) + 1:04d}"
    (migrations / "versions" / f"{new}_test_note.py").write_text(edit(TEST_MIGRATION.format(rev=new, down=head)))
    return migrations, head, new


async def test_database_behind_is_backed_up_then_upgraded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    migrations, head, new = await newer_release(tmp_path, data)
    before = digest(data / "coachiq.db")
    second = manager_for(data, migrations)
    await second.start()
    try:
        assert second.revision == new
        assert second.last_backup is not None
        assert second.last_backup.name.startswith(f"coachiq-{head}-")
        assert second.last_backup.parent == data / "backups"
        with sqlite3.connect(second.last_backup) as backup:
            assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        columns = await second.read(lambda conn: [r[1] for r in conn.execute(text("PRAGMA table_info(settings)"))])
        assert "note" in columns
    finally:
        await second.stop()
    assert digest(data / "coachiq.db") != before


async def test_a_failed_upgrade_is_reported_and_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    column = 'op.add_column("settings", sa.Column("note", sa.Text, nullable=True))'
    migrations, head, new = await newer_release(tmp_path, data, lambda text: text.replace(
        column, column + '\n    op.execute("INSERT INTO no_such_table VALUES (1)")'))
    second = manager_for(data, migrations)
    with pytest.raises(ServiceStartError, match=f"the database upgrade to {new} failed: .*no_such_table"):
        await second.start()
    # One transaction: the column added before the failure is gone again, the revision unchanged.
    with sqlite3.connect(data / "coachiq.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        assert "note" not in [r[1] for r in conn.execute("PRAGMA table_info(settings)")]
    assert list((data / "backups").glob(f"coachiq-{head}-*.db"))


@pytest.mark.parametrize("revision", ["9999", "abcdef123456"])
async def test_database_ahead_or_unknown_is_refused(tmp_path: Path, revision: str) -> None:
    manager = manager_for(tmp_path)
    await manager.start()
    await manager.run(lambda conn: conn.execute(text("UPDATE alembic_version SET version_num = :r"),
                                                {"r": revision}))
    await manager.stop()
    before = digest(tmp_path / "coachiq.db")
    with pytest.raises(ServiceStartError, match=f"schema revision '{revision}'"):
        await manager_for(tmp_path).start()
    assert digest(tmp_path / "coachiq.db") == before


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100,
                                     b"SQLite format 3\x00" + b"\x13" * 4000])
async def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "coachiq.db"
    path.write_bytes(content)
    with pytest.raises(ServiceStartError) as caught:
        await manager_for(tmp_path).start()
    assert "left untouched" in str(caught.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coachiq.db"]


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "coachiq.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    before = digest(path)
    with pytest.raises(ServiceStartError, match="not CoachIQ's"):
        await manager_for(tmp_path).start()
    assert digest(path) == before


async def test_unwritable_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ServiceStartError) as caught:
        await manager_for(blocker / "data").start()
    assert "Not a directory" in caught.value.cause
    assert "COACHIQ_DATA_DIR" in caught.value.remedy


async def test_online_backup(tmp_path: Path) -> None:
    manager = manager_for(tmp_path / "data")
    await manager.start()
    try:
        await manager.backup(tmp_path / "copy.db")
    finally:
        await manager.stop()
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_work_runs_on_the_one_database_thread(tmp_path: Path) -> None:
    manager = manager_for(tmp_path)
    await manager.start()
    try:
        threads = [await manager.run(lambda _conn: threading.current_thread()),
                   await manager.read(lambda _conn: threading.current_thread())]
        assert (await manager.health()).ok
    finally:
        await manager.stop()
    assert threads[0] is threads[1] is not threading.current_thread()
    assert threads[0].name.startswith("coachiq-db")
    assert not threads[0].is_alive(), "stop() must end the database thread"


async def test_failed_work_rolls_back_and_reraises(tmp_path: Path) -> None:
    manager = manager_for(tmp_path)
    await manager.start()

    def insert_then_fail(conn: Connection) -> None:
        conn.execute(text("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', '2024-01-01')"))
        raise LookupError("deliberate")

    try:
        with pytest.raises(LookupError, match="deliberate"):
            await manager.run(insert_then_fail)
        assert await manager.read(lambda conn: conn.execute(text("SELECT count(*) FROM settings")).scalar()) == 0
    finally:
        await manager.stop()
    with pytest.raises(RuntimeError, match="not started"):
        await manager.read(lambda conn: None)


@pytest.mark.parametrize(("url", "driver", "instead"), [
    ("sqlite+aiosqlite:///data/coachiq.db", "aiosqlite", "sqlite:///<path>"),
    ("postgresql+asyncpg://coach@localhost/coachiq", "asyncpg", "postgresql+psycopg://"),
    ("mysql+asyncmy://coach@localhost/coachiq", "asyncmy", "sqlite:///<path> or postgresql+psycopg://"),
])
def test_async_driver_urls_are_refused(tmp_path: Path, url: str, driver: str, instead: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, database_url=url)
    message = str(caught.value)
    assert f"setting 'database_url' = {url!r} is not allowed" in message
    assert f"the driver '{driver}' is an asyncio driver" in message and f"write {instead}" in message
    with pytest.raises(UnsupportedDatabaseURL, match=f"the driver '{driver}' is an asyncio driver"):
        DatabaseManager(url, tmp_path)


def test_synchronous_urls_are_accepted(tmp_path: Path) -> None:
    assert load_settings(environ={}, data_dir=tmp_path).effective_database_url == f"sqlite:///{tmp_path}/coachiq.db"
    url = "postgresql+psycopg://coach@localhost/coachiq"
    assert load_settings(environ={}, database_url=url).effective_database_url == url
    manager = DatabaseManager(url, tmp_path)
    assert not manager.is_sqlite and manager.path is None


ASYNC_MODULES = ("sqlalchemy.orm", "sqlalchemy.ext.asyncio", "aiosqlite")

RUN_SERVER = r"""
import asyncio, sys
from pathlib import Path
import coachiq.server
from coachiq.app import create_app
from coachiq.features.manager import load_feature_config
from coachiq.runtime import Runtime
from coachiq.settings import Settings

async def main(folder):
    settings = Settings(data_dir=Path(folder), flush_interval=0.05, health_interval=0.05)
    runtime = Runtime(settings, load_feature_config())
    create_app(runtime)
    await runtime.start()
    persistence = runtime.core.persistence
    # Something to write, so that the periodic flush has work whether or not the coach has changed since.
    persistence.update_entity_state("probe.entity", {"on": True})
    await persistence.audit("test", "probe", "probe.entity", "ok")
    deadline = asyncio.get_running_loop().time() + 30
    while "probe.entity" not in await persistence.load_entity_states():
        assert asyncio.get_running_loop().time() < deadline, "the periodic flush never wrote"
        await asyncio.sleep(0.05)
    health = await runtime.core.database.health()
    await runtime.stop()
    print(health.status, [name for name in sys.argv[2:] if name in sys.modules])

asyncio.run(main(sys.argv[1]))
"""


def test_importing_the_server_loads_no_async_database_modules() -> None:
    probe = f"import sys, coachiq.server; print([m for m in {ASYNC_MODULES!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_running_server_loads_no_async_database_modules(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Created first, so that the server starts on a database at head; a migration may import what it likes.
    upgrade = run_cli("db", "upgrade", env=clean_env(COACHIQ_DATA_DIR=str(data)))
    assert upgrade.returncode == 0, upgrade.stderr
    result = subprocess.run([sys.executable, "-c", RUN_SERVER, str(data), *ASYNC_MODULES], capture_output=True,
                            text=True, timeout=60, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "healthy []"
