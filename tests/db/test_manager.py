"""The database manager against real SQLite files and real Alembic migrations."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from coachiq.core.service import ServiceStartError, Status
from coachiq.db.manager import MIGRATIONS_DIR, DatabaseManager, Revisions

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
    return DatabaseManager(f"sqlite+aiosqlite:///{data_dir / 'coachiq.db'}", data_dir, migrations)


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
        async with manager.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            tables = {r[0] for r in await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
        assert {"settings", "entity_state", "entity_history", "audit_log", "alerts"} <= tables
    finally:
        await manager.stop()


async def test_database_behind_is_backed_up_then_upgraded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = manager_for(data)
    await first.start()
    await first.stop()
    # A newer release: the shipped migrations plus one more.
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = Revisions.scan().head
    new = f"{int(head) + 1:04d}"
    (migrations / "versions" / f"{new}_test_note.py").write_text(TEST_MIGRATION.format(rev=new, down=head))
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
        async with second.engine.connect() as conn:
            columns = [r[1] for r in await conn.execute(text("PRAGMA table_info(settings)"))]
        assert "note" in columns
    finally:
        await second.stop()
    assert digest(data / "coachiq.db") != before


@pytest.mark.parametrize("revision", ["9999", "abcdef123456"])
async def test_database_ahead_or_unknown_is_refused(tmp_path: Path, revision: str) -> None:
    manager = manager_for(tmp_path)
    await manager.start()
    async with manager.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
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
