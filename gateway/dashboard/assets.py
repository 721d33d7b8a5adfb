"""The dashboard's static files, read once at start-up so no request reads the disk."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).with_name("static")
# Only these kinds are served; the page is index.html, the rest are its ES modules and styles.
KINDS = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the dashboard: its bytes and content type."""

    body: bytes
    content_type: str


def read_assets(folder: Path = STATIC) -> Mapping[str, Asset]:
    """Every servable file in `folder`, by file name."""
    found = {}
    for path in sorted(folder.iterdir()):
        kind = KINDS.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        if path.is_file() and path.suffix in KINDS and kind is not None:
            found[path.name] = Asset(path.read_bytes(), kind)
    return found
