"""Persistence on a real SQLite file: write-behind, settings, audit, and survival of kill -9."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coachiq.db.manager import DatabaseManager
from coachiq.persistence.store import PersistenceService


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
from coachiq.persistence.store import PersistenceService

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
