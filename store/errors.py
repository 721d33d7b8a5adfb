"""What can go wrong in the store, as the listeners need to tell it apart.

Hierarchy::

    StoreError            the store could not do what was asked
    ├── StoreUnavailable  the database cannot be reached, is locked, or the gateway is stopping:
    │                     nothing was stored, and sending the same message again may succeed
    ├── SchemaOutOfDate   the database lacks migrations this version needs
    └── EventRejected     an event contradicts what is stored (a second MPPS N-CREATE, an
                          N-SET for an unknown or finished step), or holds a value the
                          database cannot; the message is kept, refused
"""

from __future__ import annotations

from enum import StrEnum


class StoreError(Exception):
    """The store could not do what was asked."""


class StoreUnavailable(StoreError):
    """Nothing was stored because the database is out of reach for now."""


class SchemaOutOfDate(StoreError):
    """The database is not at the schema this version of the gateway needs."""


class Rejection(StrEnum):
    """Why the store refused an event, in terms a listener turns into its protocol's answer."""

    DUPLICATE = "duplicate"
    UNKNOWN_INSTANCE = "unknown_instance"
    NOT_UPDATABLE = "not_updatable"
    NO_ORDER = "no_order"  # an operator named an order that does not exist
    # A value the database cannot hold (too long for its column, out of range): sending the
    # same message again cannot succeed, so it is refused rather than failed.
    UNSTORABLE_VALUE = "unstorable_value"


class EventRejected(StoreError):
    """An event contradicts what is stored; nothing of its message is applied."""

    def __init__(self, kind: Rejection, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
