"""Plans made again as the tables grow, for the PostgreSQL writer's prepared statements.

The writer prepares its statements once and runs them with generic plans
(store/engine.py). A generic plan is made for the tables as they are then: on a new database,
nearly empty, so a lookup by key becomes a sequential scan, and the plan is kept as the table
grows (measured: the probe for a batch's orders took 4-8 ms at 7,000 orders where its index
lookups take 0.1 ms). PostgreSQL makes a plan again only when the statistics of its tables
change (ANALYZE), which may be a minute or more away. So the writer drops its plans whenever
the message log, which grows with every table the writer reads, has doubled since it last
did: a plan is never used on tables much more than twice the size it was made for, and a
database that is large to begin with is planned again only a few times in its life.
"""

from __future__ import annotations

from sqlalchemy import Connection

_PLANNED_AT = "imaging_gw_planned_at_message"  # key in the DBAPI connection's info
_FIRST = 64  # below this many messages every plan is about the same


def replan_as_tables_grow(conn: Connection, newest_message_id: int) -> None:
    """Drop the connection's cached plans once the message log has doubled (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return
    info = conn.connection.info
    planned_at = info.get(_PLANNED_AT, 0)
    if newest_message_id < max(2 * planned_at, _FIRST):
        return
    # Plans only: the prepared statements stay, and each is planned at its next use.
    conn.exec_driver_sql("DISCARD PLANS")
    info[_PLANNED_AT] = newest_message_id
