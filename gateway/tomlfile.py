"""Reading the small TOML files the gateway is given (tokens, devices)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The file's document.

    Raises:
        error: the file cannot be read or is not TOML (one line naming the file).
    """
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from exc
