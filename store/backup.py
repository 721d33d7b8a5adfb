"""A consistent online copy of the embedded SQLite store, taken while the gateway serves.

SQLite's backup API copies the database page by page inside one read transaction: in WAL
mode a reader blocks no writer, so ingest goes on, and the copy is the database as it was at
one commit. It is written beside the target and renamed into place only when whole.
PostgreSQL has its own tools for this (README: pg_dump, pg_basebackup).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The copy could not be taken; says why."""


def sqlite_file(url: str) -> Path:
    """The file of an SQLite database URL.

    Raises:
        BackupError: the URL is not an SQLite file (PostgreSQL, or in memory).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            f"{parsed.get_backend_name()} is backed up with its own tools "
            "(pg_dump or pg_basebackup; see the README)"
        )
    if parsed.database in (None, "", ":memory:"):
        raise BackupError("an in-memory database has nothing to back up")
    return Path(parsed.database)


def backup_sqlite(database: Path, target: Path) -> int:
    """Copy `database` to `target` while it is in use; return the copy's size in bytes.

    Raises:
        BackupError: the database cannot be read, or the target cannot be written.
    """
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    part = target.with_name(f"{target.name}.part")
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            with contextlib.closing(sqlite3.connect(part)) as copy:
                source.backup(copy)  # one step: one read snapshot, writers carry on
                if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise BackupError("the copy failed its integrity check")
        finally:
            source.close()
        os.replace(part, target)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        raise BackupError(f"backup to {target} failed: {exc}") from exc
    return target.stat().st_size
