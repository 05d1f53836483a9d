"""The persistence core service: settings, entity state, history, audit log and alerts.

Entity state and history are written behind: updates are coalesced in memory and flushed in one
transaction every `flush_interval` seconds and at shutdown, never one transaction per frame. That
keeps an SD card alive for years, and a crash loses at most the last interval.
Audit entries and alerts are rare and important, so they are written at once, each text bounded in
length (a client's 2 MB body must not become a 2 MB audit line).

Retention: audit entries and history samples older than a number of days, or beyond a number of rows
(the newest kept), are deleted at start and then once an hour, so the database stays within an SD card's
means however long the coach runs.

Every database use is one call to the database manager's thread (`run` for a transaction, `read`
for a query): a flush hands over the whole transaction at once rather than hopping per statement.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all, sleep_aligned
from coachiq.db.manager import DatabaseManager
from coachiq.db.models import alerts, audit_log, entity_history, entity_state, settings_table

log = logging.getLogger(__name__)

JSONValue = Any

MAX_REASON_CHARS = 1000
MAX_FIELD_CHARS = 200  # actor, action, target: the columns' width
RETENTION_EVERY_S = 3600.0
MAX_PENDING_AUDIT = 10_000  # audit entries kept in memory while the database refuses them


@dataclass(frozen=True, slots=True)
class Retention:
    """How long and how much of the audit log and the history is kept."""

    audit_days: float = 180.0
    audit_rows: int = 50_000
    history_days: float = 14.0
    history_rows: int = 500_000


def bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    note = f"... ({len(text)} characters)"
    return text[:limit - len(note)] + note


def _prune(connection: Connection, retention: Retention, now: float) -> tuple[int, int]:
    """Delete what retention no longer keeps; returns (audit entries, history samples) deleted."""
    cutoff = datetime.fromtimestamp(now - retention.audit_days * 86400, UTC)
    audit = connection.execute(delete(audit_log).where(audit_log.c.ts < cutoff)).rowcount or 0
    audit += _keep_newest(connection, audit_log, retention.audit_rows)
    history = connection.execute(delete(entity_history).where(
        entity_history.c.ts < now - retention.history_days * 86400)).rowcount or 0
    history += _keep_newest(connection, entity_history, retention.history_rows)
    return audit, history


def _keep_newest(connection: Connection, table: Any, rows: int) -> int:
    count = connection.execute(select(func.count()).select_from(table)).scalar() or 0
    if count <= rows:
        return 0
    # Ids grow with time: everything up to the newest `rows` goes.
    last_gone = connection.execute(select(table.c.id).order_by(table.c.id.desc()).offset(rows).limit(1)).scalar()
    if last_gone is None:
        return 0
    return connection.execute(delete(table).where(table.c.id <= last_gone)).rowcount or 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what to which target, the result and why."""

    ts: datetime
    actor: str
    action: str
    target: str
    result: str
    reason: str


@dataclass(frozen=True, slots=True)
class HistorySample:
    """One persisted sample of an entity's state."""

    ts: float
    state: dict[str, JSONValue]


def _write_pending(connection: Connection, is_sqlite: bool, states: Mapping[str, dict[str, JSONValue]],
                   history: list[tuple[str, float, dict[str, JSONValue]]], now: datetime) -> None:
    if states:
        rows = [{"entity_id": k, "state": v, "updated_at": now} for k, v in states.items()]
        if is_sqlite:
            stmt = sqlite_insert(entity_state)
            stmt = stmt.on_conflict_do_update(
                index_elements=[entity_state.c.entity_id],
                set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
            )
            connection.execute(stmt, rows)
        else:
            connection.execute(delete(entity_state).where(entity_state.c.entity_id.in_(states)))
            connection.execute(insert(entity_state), rows)
    if history:
        connection.execute(insert(entity_history), [{"entity_id": e, "ts": t, "state": s} for e, t, s in history])


def _store_setting(connection: Connection, key: str, value: JSONValue, now: datetime) -> None:
    changed = connection.execute(update(settings_table).where(settings_table.c.key == key)
                                 .values(value=value, updated_at=now))
    if changed.rowcount == 0:
        connection.execute(insert(settings_table).values(key=key, value=value, updated_at=now))


class PersistenceService:
    """Typed access to everything CoachIQ stores, with write-behind for high-rate data."""

    name = "persistence"

    def __init__(self, database: DatabaseManager, flush_interval: float = 5.0,
                 retention: Retention | None = None) -> None:
        """`retention` None: the defaults of Retention."""
        self._db = database
        self.flush_interval = flush_interval
        self.retention = retention if retention is not None else Retention()
        self.pruned = (0, 0)  # audit entries, history samples deleted by retention so far
        self.last_prune: float | None = None
        self._pending_state: dict[str, dict[str, JSONValue]] = {}
        self._pending_history: list[tuple[str, float, dict[str, JSONValue]]] = []
        self._pending_audit: list[dict[str, Any]] = []
        self.audit_dropped = 0
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.flushes = 0
        self.last_flush: float | None = None
        self.last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the periodic flush."""
        self._flush_task = asyncio.create_task(self._flush_loop(), name="persistence-flush")

    async def stop(self) -> None:
        """Stop the periodic flush and write what is pending."""
        if self._flush_task is not None:
            await cancel_all([self._flush_task])
            self._flush_task = None
        await self.flush()

    async def health(self) -> Health:
        """Healthy while the flush loop runs and the last flush succeeded."""
        if self._flush_task is None:
            return Health(Status.STOPPED, "not started")
        if self._flush_task.done():
            return Health(Status.UNHEALTHY, "the flush loop stopped")
        pending = len(self._pending_state) + len(self._pending_history) + len(self._pending_audit)
        if self.last_error:
            return Health(Status.UNHEALTHY, f"last flush failed: {self.last_error}; {pending} updates pending")
        return Health(Status.HEALTHY, f"{self.flushes} flushes, {pending} updates pending",
                      {"flushes": self.flushes, "pending": pending})

    async def _flush_loop(self) -> None:
        await self.prune()
        while True:
            # A quarter second off the whole-second tick (and off the health round at the half).
            await sleep_aligned(self.flush_interval, phase=min(0.25, self.flush_interval / 4))
            await self.flush()
            if self.last_prune is None or time.monotonic() - self.last_prune >= RETENTION_EVERY_S:
                await self.prune()

    async def prune(self) -> tuple[int, int]:
        """Apply the retention now; returns (audit entries, history samples) deleted. Failures are logged."""
        self.last_prune = time.monotonic()
        retention, now = self.retention, time.time()
        try:
            deleted = await self._db.run(lambda connection: _prune(connection, retention, now))
        except Exception as exc:  # the next round tries again; a full disk is what retention relieves
            log.error("applying the audit and history retention failed: %s", exc)
            return 0, 0
        self.pruned = (self.pruned[0] + deleted[0], self.pruned[1] + deleted[1])
        if any(deleted):
            log.info("retention: deleted %d audit entries and %d history samples", *deleted)
        return deleted

    # -- write-behind entity state and history -----------------------------------------------

    def update_entity_state(self, entity_id: str, state: Mapping[str, JSONValue]) -> None:
        """Record the latest state of an entity; written at the next flush (coalesced)."""
        self._pending_state[entity_id] = dict(state)

    def add_history(self, entity_id: str, ts: float, state: Mapping[str, JSONValue]) -> None:
        """Queue a history sample; written at the next flush."""
        self._pending_history.append((entity_id, ts, dict(state)))

    async def flush(self) -> None:
        """Write all pending state and history in one transaction. On failure they stay pending."""
        async with self._flush_lock:
            if not self._pending_state and not self._pending_history and not self._pending_audit:
                return
            states, self._pending_state = self._pending_state, {}
            history, self._pending_history = self._pending_history, []
            audits, self._pending_audit = self._pending_audit, []
            now = datetime.now(UTC)

            def write(connection: Connection) -> None:
                _write_pending(connection, is_sqlite, states, history, now)
                if audits:
                    connection.execute(insert(audit_log), audits)

            try:
                is_sqlite = self._db.is_sqlite
                await self._db.run(write)
            except Exception as exc:  # keep the data and retry at the next flush
                for key, value in states.items():
                    self._pending_state.setdefault(key, value)
                self._pending_history[:0] = history
                self._pending_audit[:0] = audits
                self.last_error = str(exc)
                log.error("flush of %d states and %d history samples failed: %s", len(states), len(history), exc)
                return
            self.flushes += 1
            self.last_flush = time.time()
            if not self._pending_audit:  # an audit entry refused while this flush ran is still not stored
                self.last_error = None

    async def load_entity_states(self) -> dict[str, tuple[dict[str, JSONValue], datetime]]:
        """Every entity's last persisted state and when it was written."""
        query = select(entity_state.c.entity_id, entity_state.c.state, entity_state.c.updated_at)
        rows = await self._db.read(lambda connection: connection.execute(query).all())
        return {row.entity_id: (row.state, row.updated_at) for row in rows}

    async def history(self, entity_id: str, since: float | None = None, limit: int = 1000) -> list[HistorySample]:
        """Persisted history samples of an entity, oldest first."""
        query = select(entity_history.c.ts, entity_history.c.state).where(entity_history.c.entity_id == entity_id)
        if since is not None:
            query = query.where(entity_history.c.ts >= since)
        query = query.order_by(entity_history.c.ts.desc()).limit(limit)
        rows = await self._db.read(lambda connection: connection.execute(query).all())
        return [HistorySample(row.ts, row.state) for row in reversed(rows)]

    # -- settings ------------------------------------------------------------------------------

    async def get_setting(self, key: str, default: JSONValue = None) -> JSONValue:
        """A stored setting, or `default` when it was never set."""
        query = select(settings_table.c.value).where(settings_table.c.key == key)
        value = await self._db.read(lambda connection: connection.execute(query).scalar())
        return default if value is None else value

    async def set_setting(self, key: str, value: JSONValue) -> None:
        """Store a setting (any JSON value) at once."""
        now = datetime.now(UTC)
        await self._db.run(lambda connection: _store_setting(connection, key, value, now))

    # -- audit log -----------------------------------------------------------------------------

    async def audit(self, actor: str, action: str, target: str, result: str, reason: str = "") -> None:
        """Write one audit entry at once: every command and every refusal goes here."""
        row = {"ts": datetime.now(UTC), "actor": bounded(actor, MAX_FIELD_CHARS),
               "action": bounded(action, MAX_FIELD_CHARS), "target": bounded(target, MAX_FIELD_CHARS),
               "result": bounded(result, 50), "reason": bounded(reason, MAX_REASON_CHARS)}
        try:
            await self._db.run(lambda connection: connection.execute(insert(audit_log), [row]))
        except Exception as exc:  # locked, full, gone: kept and written with the next flush that works
            if len(self._pending_audit) >= MAX_PENDING_AUDIT:
                self._pending_audit.pop(0)
                self.audit_dropped += 1
            self._pending_audit.append(row)
            self.last_error = str(exc)
            log.error("audit entry kept in memory until the database takes it again: %s", exc)

    async def audit_entries(self, limit: int = 100, target: str | None = None) -> list[AuditEntry]:
        """The newest audit entries, newest first."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        rows = await self._db.read(lambda connection: connection.execute(query).all())
        return [AuditEntry(r.ts, r.actor, r.action, r.target, r.result, r.reason) for r in rows]

    # -- alerts --------------------------------------------------------------------------------

    async def record_alert(self, key: str, priority: str, source: str, message: str) -> None:
        """Store a raised alert."""
        statement = insert(alerts).values(key=key, priority=priority, source=source, message=message,
                                          raised_at=datetime.now(UTC))
        await self._db.run(lambda connection: connection.execute(statement))

    async def clear_alert(self, key: str) -> None:
        """Mark every open alert with this key cleared."""
        statement = (update(alerts).where(alerts.c.key == key, alerts.c.cleared_at.is_(None))
                     .values(cleared_at=datetime.now(UTC)))
        await self._db.run(lambda connection: connection.execute(statement))
