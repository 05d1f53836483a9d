"""Diagnostics: trouble codes with their life cycle, and the identity of the nodes that sent them.

Revision ID: 0003_diagnostics
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_diagnostics"
down_revision = "0002_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the trouble code table (it refers to no other table)."""
    op.create_table(
        "diagnostic_codes",
        sa.Column("code_id", sa.String(80), primary_key=True),
        sa.Column("protocol", sa.String(8), nullable=False),
        sa.Column("source_address", sa.Integer, nullable=False),
        sa.Column("dsa", sa.Integer, nullable=True),
        sa.Column("spn", sa.Integer, nullable=False),
        sa.Column("fmi", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("occurrence_count", sa.Integer, nullable=True),
        sa.Column("red_lamp", sa.Boolean, nullable=False),
        sa.Column("yellow_lamp", sa.Boolean, nullable=False),
        sa.Column("interface", sa.String(40), nullable=False),
        sa.Column("cleared_at", sa.Float, nullable=True),
        sa.Column("lamps", sa.JSON, nullable=False),
    )
    op.create_index("ix_diagnostic_codes_status", "diagnostic_codes", ["status"])
    op.create_table(
        "diagnostic_nodes",
        sa.Column("node_key", sa.String(40), primary_key=True),
        sa.Column("source_address", sa.Integer, nullable=False),
        sa.Column("name", sa.String(20), nullable=True),
        sa.Column("product", sa.String(400), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop the diagnostics tables."""
    op.drop_index("ix_diagnostic_codes_status", table_name="diagnostic_codes")
    op.drop_table("diagnostic_nodes")
    op.drop_table("diagnostic_codes")
