"""What a check can say: statuses, evidence, a rule's outcome and a stamped check.

Below both the rules (which produce outcomes) and the report (which holds
checks), so neither has to import the other to name a status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"
    NA = "n/a"


@dataclass(frozen=True)
class Evidence:
    label: str  # what the value is ("final response", "loss")
    value: str  # the value seen, one line


@dataclass(frozen=True)
class Outcome:
    """What a rule found, before the engine stamps the rule's id and name on it."""

    status: Status
    summary: str  # one line
    evidence: tuple[Evidence, ...] = ()
    frames: tuple[int, ...] = ()  # frames that show the finding, ascending
    display_filter: str | None = None  # a Wireshark display filter that shows them
    remedy: str | None = None  # what to do, in our words (fail/warn)


@dataclass(frozen=True)
class Check:
    """One rule's verdict on one call (or on the capture)."""

    id: str
    name: str
    status: Status
    summary: str
    evidence: tuple[Evidence, ...] = ()
    frames: tuple[int, ...] = ()
    display_filter: str | None = None
    remedy: str | None = None
    explained_by: str | None = None  # the rule whose finding this one only restates; None: stands alone


@dataclass(frozen=True)
class Verdict:
    """A call's one answer to "why did it fail, and what do I do?": its primary finding."""

    status: Status  # pass, warn or fail
    rule: str | None  # the rule of the primary finding; None only for a healthy call's pass
    summary: str  # one line


def _frames(frames: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(frames)))


def passed(summary: str, *, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
           display_filter: str | None = None) -> Outcome:
    return Outcome(Status.PASS, summary, tuple(evidence), _frames(frames), display_filter)


def info(summary: str, *, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
         display_filter: str | None = None) -> Outcome:
    return Outcome(Status.INFO, summary, tuple(evidence), _frames(frames), display_filter)


def not_applicable(reason: str, *, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome(Status.NA, reason, tuple(evidence))


def failed(summary: str, *, remedy: str, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
           display_filter: str | None = None) -> Outcome:
    return Outcome(Status.FAIL, summary, tuple(evidence), _frames(frames), display_filter, remedy)


def warned(summary: str, *, remedy: str, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
           display_filter: str | None = None) -> Outcome:
    return Outcome(Status.WARN, summary, tuple(evidence), _frames(frames), display_filter, remedy)
