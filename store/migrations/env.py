"""Alembic environment: migrations run on a connection the gateway hands in (store.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from store.schema import Base


def run_migrations(connection: Connection) -> None:
    """Apply the pending migrations on an open connection."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `imaging-gateway migrate`, which supplies the connection"
    )
run_migrations(connection)
