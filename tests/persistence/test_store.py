"""Persistence on a real SQLite file: write-behind, settings, audit, and survival of kill -9."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coachiq.db.manager import DatabaseManager
from coachiq.db.models import audit_log
from coachiq.persistence.store import MAX_REASON_CHARS, PersistenceService, Retention
from tests.conftest import wait_for


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[PersistenceService]:
    database = DatabaseManager(f"sqlite:///{tmp_path / 'coachiq.db'}", tmp_path)
    await database.start()
    service = PersistenceService(database, flush_interval=3600)
    await service.start()
    yield service
    await service.stop()
    await database.stop()


async def test_entity_state_is_coalesced_into_one_flush(store: PersistenceService, tmp_path: Path) -> None:
    for value in range(500):
        store.update_entity_state("light.galley", {"brightness": value})
    store.update_entity_state("tank.fresh", {"level": 50})
    await store.flush()
    assert store.flushes == 1
    states = await store.load_entity_states()
    assert states["light.galley"][0] == {"brightness": 499}
    assert states["tank.fresh"][0] == {"level": 50}


async def test_pending_state_is_written_at_stop(tmp_path: Path) -> None:
    database = DatabaseManager(f"sqlite:///{tmp_path / 'coachiq.db'}", tmp_path)
    await database.start()
    service = PersistenceService(database, flush_interval=3600)
    await service.start()
    service.update_entity_state("light.bedroom", {"on": True})
    await service.stop()
    await database.stop()
    with sqlite3.connect(tmp_path / "coachiq.db") as conn:
        assert conn.execute("SELECT entity_id FROM entity_state").fetchall() == [("light.bedroom",)]


async def test_settings_history_and_audit(store: PersistenceService) -> None:
    assert await store.get_setting("units", "metric") == "metric"
    await store.set_setting("units", {"temperature": "F"})
    await store.set_setting("units", {"temperature": "C"})
    assert await store.get_setting("units") == {"temperature": "C"}
    store.add_history("tank.fresh", 1.0, {"level": 10})
    store.add_history("tank.fresh", 2.0, {"level": 20})
    await store.flush()
    samples = await store.history("tank.fresh", since=1.5)
    assert [s.state for s in samples] == [{"level": 20}]
    await store.audit("api:127.0.0.1", "extend", "slide.living", "refused", "vehicle is moving")
    entries = await store.audit_entries()
    assert entries[0].result == "refused" and entries[0].reason == "vehicle is moving"


async def test_health_reports_pending_updates(store: PersistenceService) -> None:
    store.update_entity_state("a", {"x": 1})
    health = await store.health()
    assert health.ok and "1 updates pending" in health.detail


WRITER = r'''
import asyncio, sys
from pathlib import Path
from coachiq.db.manager import DatabaseManager
from coachiq.db.models import audit_log
from coachiq.persistence.store import MAX_REASON_CHARS, PersistenceService, Retention

async def main(folder):
    database = DatabaseManager(f"sqlite:///{folder}/coachiq.db", Path(folder))
    await database.start()
    store = PersistenceService(database, flush_interval=0.1)
    counter = 0
    while True:
        for _ in range(200):
            counter += 1
            store.update_entity_state("counter", {"value": counter})
            store.add_history("counter", counter, {"value": counter})
        await store.flush()
        print(counter, flush=True)
        await asyncio.sleep(0.02)  # a pause between bursts, so the kill can land between or within flushes

asyncio.run(main(sys.argv[1]))
'''


def test_kill_9_during_a_burst_loses_at_most_the_last_flush(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    flushed = []
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while len(flushed) < 15 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        flushed.append(int(line))
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    process.stdout.close()
    assert len(flushed) >= 15, "the writer did not run"
    with sqlite3.connect(tmp_path / "coachiq.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (state,) = conn.execute("SELECT json_extract(state, '$.value') FROM entity_state").fetchone()
        (history,) = conn.execute("SELECT max(ts) FROM entity_history").fetchone()
    # Everything reported flushed is there; at most the writes since that flush are lost.
    assert state >= flushed[-1]
    assert history >= flushed[-1]


async def test_audit_texts_are_bounded(store: PersistenceService) -> None:
    await store.audit("http:127.0.0.1", "set_brightness", "light.galley", "invalid", "x" * 2_000_000)
    entry = (await store.audit_entries(limit=1))[0]
    assert len(entry.reason) == MAX_REASON_CHARS and entry.reason.endswith("(2000000 characters)")


async def test_retention_by_age_and_by_rows(tmp_path: Path) -> None:
    database = DatabaseManager(f"sqlite:///{tmp_path / 'coachiq.db'}", tmp_path)
    await database.start()
    service = PersistenceService(database, flush_interval=3600, retention=Retention(
        audit_days=30, audit_rows=100, history_days=7, history_rows=1000))
    try:
        now = time.time()
        for n in range(150):
            await service.audit("test", "turn_on", f"light.n{n}", "confirmed")
        old = datetime.fromtimestamp(now - 40 * 86400, UTC)
        await database.run(lambda c: c.execute(audit_log.insert().values(
            ts=old, actor="old", action="turn_on", target="light.old", result="confirmed", reason="")))
        for n in range(1200):
            service.add_history("light.galley", now - n, {"on": n % 2 == 0})
        service.add_history("light.galley", now - 8 * 86400, {"on": True})
        await service.flush()
        audit_gone, history_gone = await service.prune()
        entries = await service.audit_entries(limit=1000)
        assert len(entries) == 100 and all(e.actor == "test" for e in entries)
        assert entries[0].target == "light.n149"  # the newest are kept
        assert audit_gone == 51 and history_gone == 201
        samples = await service.history("light.galley", limit=5000)
        assert len(samples) == 1000 and min(s.ts for s in samples) >= now - 7 * 86400
    finally:
        await service.stop()
        await database.stop()


async def test_an_audit_entry_refused_during_a_flush_keeps_the_error_until_it_is_stored(
        store: PersistenceService, tmp_path: Path) -> None:
    """The writer thread runs one job at a time: an audit entry refused by a locked database while a flush
    waits behind it must not be hidden by that flush's success."""
    locker = sqlite3.connect(tmp_path / "coachiq.db", timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        # Tasks take their first step in the order they were made: the audit entry's insert is queued on
        # the writer thread first, then the flush takes the pending lists and queues its write behind it.
        store.update_entity_state("light.galley", {"on": True})
        refused = asyncio.create_task(store.audit("http:127.0.0.1", "turn_on", "light.galley", "confirmed"))
        flush = asyncio.create_task(store.flush())
        await wait_for(lambda: refused.done(), timeout=15.0)
        assert store.last_error is not None
    finally:
        locker.rollback()
        locker.close()
    await flush
    assert store.last_error is not None  # the audit entry is still only in memory
    assert "1 updates pending" in (await store.health()).detail
    await store.flush()
    assert store.last_error is None
    assert [(e.target, e.result) for e in await store.audit_entries()] == [("light.galley", "confirmed")]
