"""Alembic environment: migrations run on a connection handed over by the database manager."""

from __future__ import annotations

from alembic import context

from coachiq.db.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `coachiq db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
