"""aiohttp's server log, with a malformed request told as what it is: an expected 400.

aiohttp logs a request it cannot parse (a URL over its 8 KB line limit, a bad header) at ERROR
with a traceback that quotes the request line, which may carry patient identifiers. Such a
request is the client's mistake, answered 400: one INFO line naming the peer and the kind of
error is enough, and the content stays out of the log.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from aiohttp.http_exceptions import BadHttpMessage


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to aiohttp's request handlers."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        """Log an exception; a request aiohttp could not parse is one INFO line."""
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(error, BadHttpMessage):
            peer = args[0] if args else "?"
            self.logger.info(
                "malformed HTTP request from %s refused: %s", peer, type(error).__name__
            )
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def server_log() -> ServerLog:
    """The adapter over aiohttp's own server logger."""
    return ServerLog(logging.getLogger("aiohttp.server"), {})
