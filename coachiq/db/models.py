"""The database schema as SQLAlchemy Core tables. Alembic migrations create and change it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

settings_table = Table(
    "settings",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

entity_state = Table(
    "entity_state",
    metadata,
    Column("entity_id", String(200), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

entity_history = Table(
    "entity_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_id", String(200), nullable=False),
    Column("ts", Float, nullable=False),
    Column("state", JSON, nullable=False),
    Index("ix_entity_history_entity_ts", "entity_id", "ts"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("target", String(200), nullable=False),
    Column("result", String(50), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_audit_log_ts", "ts"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("priority", String(2), nullable=False),
    Column("source", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=True),
    Index("ix_alerts_key", "key"),
)
