"""What can go wrong in the store, as the listeners need to tell it apart.

Hierarchy::

    StoreError            the store could not do what was asked
    ├── StoreUnavailable  the database cannot be reached, is locked, or the gateway is stopping:
    │                     nothing was stored, and sending the same message again may succeed
    └── SchemaOutOfDate   the database lacks migrations this version needs
"""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked."""


class StoreUnavailable(StoreError):
    """Nothing was stored because the database is out of reach for now."""


class SchemaOutOfDate(StoreError):
    """The database is not at the schema this version of the gateway needs."""
