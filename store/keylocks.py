"""Advisory locks on a batch's keys, so that gateway processes sharing one PostgreSQL take
turns on a patient or an order (rows not made yet included) instead of losing an update."""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, Connection, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY


def lock_hashes(names: list[str]) -> list[int]:
    """The advisory lock numbers of these keys, sorted: every process takes them in one
    order, so two batches never wait for each other in a circle."""
    return sorted(
        {
            int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big", signed=True)
            for n in names
        }
    )


def lock_keys(conn: Connection, names: list[str]) -> None:
    """Take a transaction-scoped advisory lock per key, so two gateways folding the same
    patient or order take turns (rows not yet made included)."""
    if names:
        conn.execute(select(LOCKED), {"keys": lock_hashes(names)})


# How many of the batch's advisory locks were taken (all of them, once this is evaluated).
_KEY = func.unnest(bindparam("keys", type_=ARRAY(BigInteger()))).table_valued("k").render_derived()
LOCKED = (
    select(func.count(func.pg_advisory_xact_lock(_KEY.c.k))).select_from(_KEY).scalar_subquery()
)
