"""The message log's rule: a message seen before is a duplicate, unless it was refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Identity = tuple[Any, Any, Any, str]  # sending application, facility, control id, content


@dataclass(frozen=True, slots=True)
class Logged:
    """A message's log row as loaded: its id, resends, outcome and control-id flag."""

    id: int
    receive_count: int
    outcome: str
    control_id_reused: bool


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as the log sees it."""

    identity: Identity
    check_reuse: bool  # HL7 only: engines reset MSH-10 counters, a DICOM UID is never reused
    replay: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """Log it anew (`seen` None), or count a resend of `seen`; apply it or not."""

    seen: Logged | None
    duplicate: bool
    control_id_reused: bool


def judge(
    arrivals: Sequence[Arrival],
    logged: Mapping[Identity, Logged],
    used_control_ids: set[tuple[Any, Any, Any]],
    accepted: frozenset[str],
) -> list[Verdict]:
    """The verdict on each message of a batch, whose identities are distinct."""
    used = set(used_control_ids)
    verdicts = []
    for arrival in arrivals:
        seen = logged.get(arrival.identity)
        triple = arrival.identity[:3]
        if seen is None:
            reused = arrival.check_reuse and triple in used
            verdicts.append(Verdict(None, duplicate=False, control_id_reused=reused))
        else:
            previous_applied = seen.outcome == "applied"
            duplicate = seen.outcome in accepted and not (arrival.replay and not previous_applied)
            verdicts.append(Verdict(seen, duplicate, seen.control_id_reused))
        if None not in triple:
            used.add(triple)
    return verdicts
