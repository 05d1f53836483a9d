"""The database manager core service: opens the database, checks its schema revision, migrates.

At start the schema revision in the file is compared with the newest migration shipped:
no database → created at head; behind → the file is backed up, then upgraded; ahead or unknown →
refuse to start; not a CoachIQ database or corrupt → refuse and leave the file untouched.

The SQLite file is inspected with the standard library before SQLAlchemy opens it, read-only, so
that a file we refuse is never written to. Migrations run in a child process (db/upgrade.py), so Alembic
is never imported by the server: the common start (database already at head) stays fast, and a first
start or an upgrade leaves no migration machinery in memory.

SQLAlchemy Core's synchronous engine (the standard library's sqlite3 for SQLite) does the work on one
thread owned by the manager, and `run`/`read` let coroutines await it without blocking the event loop.
One thread serialises the writers, which is what SQLite wants (a single writer at a time), and it
spares the ~7 MiB (measured at import) that SQLAlchemy's asyncio extension, the ORM it pulls in
and aiosqlite would cost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url

from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.settings import async_driver_problem

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.py$")
_REVISION_LINE = re.compile(r'^revision = "([^"]+)"$', re.MULTILINE)
SQLITE_HEADER = b"SQLite format 3\x00"
DB_THREAD_PREFIX = "coachiq-db"

T = TypeVar("T")


class DatabaseRefused(Exception):
    """The database exists but CoachIQ must not use it (foreign, corrupt, or from a newer version)."""


class UnsupportedDatabaseURL(ValueError):
    """The database URL names a driver the manager cannot drive (an asyncio driver)."""


@dataclass(frozen=True, slots=True)
class Revisions:
    """The schema revisions shipped, oldest first; the last one is head."""

    ordered: tuple[str, ...]

    @property
    def head(self) -> str:
        """The newest revision."""
        return self.ordered[-1]

    @classmethod
    def scan(cls, migrations_dir: Path = MIGRATIONS_DIR) -> Revisions:
        """Read the revision ids of the files NNNN_slug.py, ordered by NNNN (history is linear by number).

        The id is the file's `revision = "..."` line ("0001", "0002_access"), read as text so that
        Alembic is not imported.
        """
        numbered = sorted((m.group(1), p) for p in (migrations_dir / "versions").iterdir()
                          if (m := _REVISION_FILE.match(p.name)))
        if not numbered:
            raise RuntimeError(f"no migrations in {migrations_dir / 'versions'}")
        found = []
        for _number, path in numbered:
            declared = _REVISION_LINE.search(path.read_text(encoding="utf-8"))
            if declared is None:
                raise RuntimeError(f"{path} declares no revision = \"...\" line")
            found.append(declared.group(1))
        return cls(tuple(found))


def inspect_sqlite_file(path: Path) -> str | None:
    """Return the schema revision stored in an SQLite file, or None when there is no schema yet.

    Raises DatabaseRefused when the file is not an SQLite database, is corrupt, or holds tables
    that are not CoachIQ's. The file is opened read-only and never modified.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise DatabaseRefused(f"{path} is not an SQLite database (its header is wrong)")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                return None
            if "alembic_version" not in tables:
                listed = ", ".join(sorted(tables)[:5])
                raise DatabaseRefused(f"{path} is an SQLite database but not CoachIQ's (its tables: {listed})")
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseRefused(f"{path} is damaged ({exc})") from exc
    if len(rows) != 1:
        raise DatabaseRefused(f"{path} has {len(rows)} schema revisions recorded; expected exactly one")
    return str(rows[0][0])


def backup_sqlite(source: Path, target: Path) -> None:
    """Copy an SQLite database consistently with SQLite's online backup (safe while in use)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Set the pragmas every connection to the SQLite file uses (a `connect` event listener)."""
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer. synchronous=FULL: a committed flush survives power loss
    # (one fsync per flush every few seconds costs the SD card little).
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=5000", "synchronous=FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


UPGRADE_FAILED = "upgrade failed: "  # db/upgrade.py's line saying why (it imports this module: no import back)
UPGRADE_TIMEOUT_S = 900.0  # a large history table on an SD card migrates slowly


def _run_upgrade(url: str, migrations_dir: Path, target: str) -> None:
    """Run the migrations up to `target` in a child process (db/upgrade.py); ServiceStartError on failure."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH"))
                                                       if p)}
    try:
        done = subprocess.run([sys.executable, "-m", "coachiq.db.upgrade", str(migrations_dir), target],
                              input=url + "\n", capture_output=True, text=True, env=env,
                              timeout=UPGRADE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ServiceStartError(f"the database upgrade to {target} took longer than {UPGRADE_TIMEOUT_S:g} s",
                                "restore the backup from the backups folder and try again") from exc
    for line in done.stderr.splitlines():
        log.info("upgrade: %s", line)
    if done.returncode != 0:
        said = [line.removeprefix(UPGRADE_FAILED) for line in done.stderr.splitlines()
                if line.startswith(UPGRADE_FAILED)]
        reason = said[-1] if said else f"exit code {done.returncode}"
        raise ServiceStartError(f"the database upgrade to {target} failed: {reason}",
                                "the file was left as it was before the upgrade; a backup is in the backups "
                                "folder")


def _current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database; None when it has none (an empty database)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


class DatabaseManager:
    """Core service owning the SQLAlchemy engine, the database thread and the schema revision."""

    name = "database"

    def __init__(self, url: str, data_dir: Path, migrations_dir: Path = MIGRATIONS_DIR) -> None:
        if problem := async_driver_problem(url):
            raise UnsupportedDatabaseURL(f"database URL {url!r}: {problem}")
        self.url = url
        self.data_dir = data_dir
        self.migrations_dir = migrations_dir
        self.revisions = Revisions.scan(migrations_dir)
        self.revision: str | None = None
        self.last_backup: Path | None = None
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.path: Path | None = Path(parsed.database) if self.is_sqlite and parsed.database else None

    # -- the database thread ---------------------------------------------------------------------

    async def _on_db_thread(self, executor: ThreadPoolExecutor, job: Callable[[], T]) -> T:
        future = asyncio.wrap_future(executor.submit(job))
        # Work handed to the thread runs to its end even when the awaiting task is cancelled (at
        # shutdown, say): a transaction must commit or roll back as a whole, never be dropped half-known.
        return await asyncio.shield(future)

    def _started(self) -> tuple[ThreadPoolExecutor, Engine]:
        if self._executor is None or self._engine is None:
            raise RuntimeError("the database manager is not started")
        return self._executor, self._engine

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` on the database thread inside one transaction and return its result.

        The transaction commits when `work` returns and rolls back when it raises (the exception is
        re-raised here). `work` must consume its results (`.all()`, `.scalar()`) before returning.
        """
        executor, engine = self._started()

        def transaction() -> T:
            with engine.begin() as connection:
                return work(connection)

        return await self._on_db_thread(executor, transaction)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run read-only `work` on the database thread and return its result (nothing is committed)."""
        executor, engine = self._started()

        def query() -> T:
            with engine.connect() as connection:
                return work(connection)

        return await self._on_db_thread(executor, query)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, creating or upgrading it; refuse a database we must not touch."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=DB_THREAD_PREFIX)
        try:
            self._engine = await self._on_db_thread(executor, self._open)
        except BaseException:
            # Nothing else was queued, so the thread is idle (or, if this task was cancelled, finishes
            # the open on its own and exits): do not block the event loop waiting for it.
            executor.shutdown(wait=False)
            raise
        self._executor = executor
        self.revision = self.revisions.head

    def _open(self) -> Engine:
        found: str | None = None
        if self.path is not None:
            found = self._prepare_sqlite_file(self.path)
        engine = create_engine(self.url)
        if self.is_sqlite:
            event.listen(engine, "connect", set_sqlite_pragmas)
        try:
            if self.path is None:
                with engine.connect() as connection:
                    found = _current_revision(connection)
                self._check_known(found)
            if found != self.revisions.head:
                if found is not None and self.path is not None:
                    self.last_backup = self._backup_before_upgrade(self.path, found)
                log.info("upgrading database schema from %s to %s", found or "nothing", self.revisions.head)
                _run_upgrade(self.url, self.migrations_dir, self.revisions.head)
        except BaseException:
            engine.dispose()
            raise
        return engine

    def _prepare_sqlite_file(self, path: Path) -> str | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ServiceStartError(f"cannot create {path} ({reason})",
                                    "set COACHIQ_DATA_DIR to a writable folder") from exc
        try:
            found = inspect_sqlite_file(path)
        except DatabaseRefused as exc:
            raise ServiceStartError(str(exc), "move the file away or set COACHIQ_DATA_DIR to another folder; "
                                    "the file was left untouched") from exc
        self._check_known(found)
        if not path.exists():
            try:
                path.touch()
            except OSError as exc:
                raise ServiceStartError(f"cannot create {path} ({exc.strerror})",
                                        "set COACHIQ_DATA_DIR to a writable folder") from exc
        return found

    def _check_known(self, found: str | None) -> None:
        if found is not None and found not in self.revisions.ordered:
            raise ServiceStartError(
                f"the database is at schema revision {found!r}, which this version of CoachIQ does not know "
                f"(newest known: {self.revisions.head})",
                "run the CoachIQ version that wrote it, or restore a backup from the backups folder",
            )

    def _backup_before_upgrade(self, path: Path, revision: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.data_dir / "backups" / f"coachiq-{revision}-{stamp}.db"
        backup_sqlite(path, target)
        log.info("backed up database at revision %s to %s before upgrading", revision, target)
        return target

    async def stop(self) -> None:
        """Close every connection and end the database thread, after the work already handed to it."""
        executor, self._executor = self._executor, None
        engine, self._engine = self._engine, None
        if executor is None:
            return
        try:
            if engine is not None:
                await self._on_db_thread(executor, engine.dispose)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        # The dispose ran after every job queued before it, so the thread is idle: joining it is immediate.
        executor.shutdown(wait=True)

    async def health(self) -> Health:
        """Run a real query and report the schema revision and the file size."""
        if self._engine is None:
            return Health(Status.STOPPED, "not started")

        def check(connection: Connection) -> tuple[str, int | None]:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            return str(revision), self.file_size()

        try:
            revision, size = await self.read(check)
        except Exception as exc:  # any driver error means the database is not usable
            return Health(Status.UNHEALTHY, f"query failed: {exc}")
        detail = f"revision {revision}" + (f", {size} bytes" if size is not None else "")
        return Health(Status.HEALTHY, detail, {"revision": revision, "size_bytes": size})

    def file_size(self) -> int | None:
        """Size of the SQLite file and its write-ahead log, in bytes (None for other databases)."""
        if self.path is None or not self.path.exists():
            return None
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    async def backup(self, target: Path) -> None:
        """Write a consistent copy of the SQLite database to `target` (between start and stop)."""
        if self.path is None:
            raise ValueError("online backup is only available for SQLite databases")
        executor, _ = self._started()
        source = self.path
        # On the database thread, so no flush writes to the file while it is copied (a write would
        # make SQLite restart the copy).
        await self._on_db_thread(executor, lambda: backup_sqlite(source, target))
