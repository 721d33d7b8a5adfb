"""The delivery rules as data: which answers retry, which dead-letter, and the backoff."""

from __future__ import annotations

import random

import pytest

from outbound.attempts import Verdict, ack_verdict, backoff, http_verdict


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("AA", Verdict.DELIVERED),
        ("CA", Verdict.DELIVERED),
        ("AE", Verdict.RETRY),
        ("CE", Verdict.RETRY),
        ("AR", Verdict.DEAD),
        ("CR", Verdict.DEAD),
        ("??", Verdict.RETRY),
    ],
)
def test_ack_codes(code: str, verdict: Verdict) -> None:
    """AA/CA deliver, AE/CE retry, AR/CR dead-letter at once; anything else retries."""
    assert ack_verdict(code) is verdict


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (400, Verdict.DEAD),
        (401, Verdict.DEAD),
        (404, Verdict.DEAD),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (302, Verdict.RETRY),
    ],
)
def test_http_statuses(status: int, verdict: Verdict) -> None:
    """2xx delivers; 4xx other than 408 and 429 dead-letters; the rest retries."""
    assert http_verdict(status) is verdict


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    """Each delay lies in the upper half of base*2^(n-1), capped, and varies between draws."""
    rng = random.Random(16)
    for attempts in range(1, 12):
        ceiling = min(60.0, 1.0 * 2 ** (attempts - 1))
        delays = {backoff(attempts, base=1.0, cap=60.0, rng=rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
    assert backoff(10_000, base=1.0, cap=60.0, rng=rng) <= 60.0
