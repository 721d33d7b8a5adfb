"""POSTing webhook events with aiohttp's client: one session per destination."""

from __future__ import annotations

import aiohttp

from mappers.webhooks import headers_for
from outbound.attempts import Outcome, Verdict, http_verdict


class WebhookClient:
    """Sends signed events to one URL; the secret is held here and never logged."""

    def __init__(self, url: str, secret: str, *, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, body: bytes, event_id: str, type_: str) -> Outcome:
        """POST one event; the verdict its answer gives."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = headers_for(event_id, type_, self._secret, body)
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                verdict = http_verdict(response.status)
                error = None if verdict is Verdict.DELIVERED else f"HTTP {response.status}"
                return Outcome(verdict, True, error)
        except TimeoutError:
            return Outcome(Verdict.RETRY, True, "no answer within the timeout")
        except aiohttp.ClientError as exc:
            return Outcome(Verdict.RETRY, False, f"connection failed: {type(exc).__name__}")

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
