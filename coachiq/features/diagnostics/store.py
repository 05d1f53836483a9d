"""Trouble codes and node identities in the database (tables of migration 0003_diagnostics).

The tables are declared here, beside the feature that owns them, on their own MetaData: they refer
to no other table. Writes are whole-row upserts of the records that changed, done on the database
thread in one transaction; codes change seldom (a fault comes or goes), so each change is written
within a second and a power cut loses at most that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from coachiq.db.manager import DatabaseManager
from coachiq.features.diagnostics.codes import Protocol
from coachiq.features.diagnostics.tracker import CodeKey, CodeRecord, CodeStatus

__all__ = ["DiagnosticsStore", "NodeIdentity"]

metadata = MetaData()

codes_table = Table(
    "diagnostic_codes", metadata,
    Column("code_id", String(80), primary_key=True),
    Column("protocol", String(8), nullable=False),
    Column("source_address", Integer, nullable=False),
    Column("dsa", Integer, nullable=True),
    Column("spn", Integer, nullable=False),
    Column("fmi", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("occurrence_count", Integer, nullable=True),
    Column("red_lamp", Boolean, nullable=False),
    Column("yellow_lamp", Boolean, nullable=False),
    Column("interface", String(40), nullable=False),
    Column("cleared_at", Float, nullable=True),
    Column("lamps", JSON, nullable=False),
)

nodes_table = Table(
    "diagnostic_nodes", metadata,
    Column("node_key", String(40), primary_key=True),
    Column("source_address", Integer, nullable=False),
    Column("name", String(20), nullable=True),
    Column("product", String(400), nullable=True),
    Column("updated_at", Float, nullable=False),
)

NodeIdentity = dict[str, Any]  # {"source_address", "name" (hex NAME or None), "product" (text or None)}


def _row(record: CodeRecord) -> dict[str, Any]:
    key = record.key
    return {"code_id": key.text(), "protocol": key.protocol.value, "source_address": key.source_address,
            "dsa": key.dsa, "spn": key.spn, "fmi": key.fmi, "status": record.status.value,
            "first_seen": record.first_seen, "last_seen": record.last_seen, "count": record.count,
            "occurrence_count": record.occurrence_count, "red_lamp": record.red_lamp,
            "yellow_lamp": record.yellow_lamp, "interface": record.interface, "cleared_at": record.cleared_at,
            "lamps": dict(record.lamps)}


def _record(row: Any) -> CodeRecord:
    key = CodeKey(Protocol(row.protocol), row.source_address, row.dsa, row.spn, row.fmi)
    return CodeRecord(key, CodeStatus(row.status), row.first_seen, row.last_seen, row.count, row.occurrence_count,
                      bool(row.red_lamp), bool(row.yellow_lamp), row.interface, row.cleared_at, dict(row.lamps or {}))


def _upsert(connection: Connection, table: Table, key: str, values: dict[str, Any]) -> None:
    # Update, else insert: portable across the databases SQLAlchemy supports (no dialect upsert).
    changed = connection.execute(update(table).where(table.c[key] == values[key]).values(**values))
    if changed.rowcount == 0:
        connection.execute(insert(table).values(**values))


class DiagnosticsStore:
    """Reads and writes the diagnostics tables through the database manager's thread."""

    def __init__(self, database: DatabaseManager) -> None:
        """Use the core database service (already started)."""
        self.database = database

    async def load(self) -> tuple[list[CodeRecord], dict[str, NodeIdentity]]:
        """Every stored code and node identity."""
        def work(connection: Connection) -> tuple[list[CodeRecord], dict[str, NodeIdentity]]:
            records = [_record(row) for row in connection.execute(select(codes_table))]
            nodes = {row.node_key: {"source_address": row.source_address, "name": row.name, "product": row.product}
                     for row in connection.execute(select(nodes_table))}
            return records, nodes
        return await self.database.read(work)

    async def save(self, records: Iterable[CodeRecord], forgotten: Iterable[CodeKey] = (),
                   nodes: dict[str, tuple[NodeIdentity, float]] | None = None) -> None:
        """Upsert `records` and `nodes`, delete `forgotten` codes, in one transaction."""
        rows = [_row(r) for r in records]
        gone = [k.text() for k in forgotten]
        node_rows = [{"node_key": key, "source_address": ident["source_address"], "name": ident.get("name"),
                      "product": ident.get("product"), "updated_at": at}
                     for key, (ident, at) in (nodes or {}).items()]

        def work(connection: Connection) -> None:
            for values in rows:
                _upsert(connection, codes_table, "code_id", values)
            if gone:
                connection.execute(delete(codes_table).where(codes_table.c.code_id.in_(gone)))
            for values in node_rows:
                _upsert(connection, nodes_table, "node_key", values)
        if rows or gone or node_rows:
            await self.database.run(work)
