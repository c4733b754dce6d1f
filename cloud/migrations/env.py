"""Alembic environment: runs on the connection `cloud.warehouse.db.migrate` hands over (never from a .ini)."""

from __future__ import annotations

from alembic import context

from cloud.warehouse.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` run by hand lands here
    raise RuntimeError("run migrations through cloud.warehouse.db.migrate(engine)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
