"""What one attempt came to, and when to try again: the delivery rules, the same for HL7 and
webhooks (pure).

A timeout, a closed connection, HL7 AE/CE or an HTTP answer that may pass (5xx, 408, 429) is
tried again after an exponential backoff with jitter; HL7 AR/CR, or an HTTP 4xx other than
408 and 429, is a dead letter at once, since sending the same bytes again cannot change the
answer. (Mirth's "queue on error, stop on reject", without dcm4chee's retries at no delay.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """The end of one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: its verdict, whether the destination got the bytes, and why not."""

    verdict: Verdict
    sent: bool
    error: str | None = None


# HL7 MSA-1 (table 0008) and what each means for delivery.
_ACK_VERDICTS = {
    "AA": Verdict.DELIVERED,
    "CA": Verdict.DELIVERED,
    "AE": Verdict.RETRY,
    "CE": Verdict.RETRY,
    "AR": Verdict.DEAD,
    "CR": Verdict.DEAD,
}
_HTTP_RETRYABLE = frozenset({408, 429})


def ack_verdict(code: str) -> Verdict:
    """What an acknowledgement code means for the message it acknowledges."""
    return _ACK_VERDICTS.get(code, Verdict.RETRY)


def http_verdict(status: int) -> Verdict:
    """What an HTTP status means for the webhook POSTed."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if 400 <= status < 500 and status not in _HTTP_RETRYABLE:
        return Verdict.DEAD
    return Verdict.RETRY


def backoff(attempts: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the n-th failed attempt (n >= 1): base * 2^(n-1), at most `cap`,
    with full jitter over its upper half so that destinations coming back are not stampeded."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 32))
    return ceiling * (0.5 + 0.5 * (rng or random).random())
