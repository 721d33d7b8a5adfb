"""Answering whoever waits on the writer: a future set once, from any thread's result."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any


def settle(future: concurrent.futures.Future[Any] | asyncio.Future[Any], outcome: Any) -> None:
    """Answer `future` with `outcome`: its exception when it is one, else its result.

    A submitter that went away (its connection closed) no longer needs an answer, but its
    message is stored all the same: the sender may have seen nothing and will resend.
    """
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def settle_all(answers: list) -> None:
    """Answer each (future, outcome) pair."""
    for future, answer in answers:
        settle(future, answer)
