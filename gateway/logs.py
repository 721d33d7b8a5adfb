"""Logging set-up: one line per record, to stderr.

Records above DEBUG carry control ids, UIDs and peers, never patient data (STYLE.md).
"""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    """Send records at `level` and above to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log is per request; keep it for DEBUG runs only.
    logging.getLogger("aiohttp.access").setLevel(max(logging.getLevelName(level), logging.WARNING))
