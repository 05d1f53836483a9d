"""Initial schema: settings, entity state and history, audit log, alerts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables of the first release."""
    op.create_table(
        "settings",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entity_state",
        sa.Column("entity_id", sa.String(200), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entity_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index("ix_entity_history_entity_ts", "entity_history", ["entity_id", "ts"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("result", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_alerts_key", "alerts", ["key"])


def downgrade() -> None:
    """Drop every table of the first release."""
    for index, table in (("ix_alerts_key", "alerts"), ("ix_audit_log_ts", "audit_log"),
                         ("ix_entity_history_entity_ts", "entity_history")):
        op.drop_index(index, table_name=table)
    for table in ("alerts", "audit_log", "entity_history", "entity_state", "settings"):
        op.drop_table(table)
