"""Is the store writable? One real write that changes nothing, for the readiness probe.

A read can succeed while every write fails (a full disk, a lock held elsewhere, a read-only
replica), so readiness must write. The row rewritten is the schema version, which every
migrated database has: no table of its own, nothing that grows.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

_TOUCH = text("UPDATE alembic_version SET version_num = version_num")


def touch(conn: Connection) -> None:
    """Rewrite the schema version row as it is, inside the caller's transaction."""
    conn.execute(_TOUCH)
