"""What a rule is, what it returns, and what it gets to look at."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from ..direction import Direction
from ..flow import CallFlow
from ..media import MediaView
from ..model import Call, CaptureFacts, Summary

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"
    NA = "n/a"


@dataclass(frozen=True)
class Evidence:
    label: str
    value: str


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


@dataclass(frozen=True)
class Thresholds:
    """Limits between pass, warn and fail; defaults from the guide (see the catalog)."""

    loss_warn_pct: float = 1.0  # packet loss at or above this is at least warn
    loss_fail_pct: float = 3.0  # above this: fail
    jitter_warn_ms: float = 5.0
    jitter_fail_ms: float = 20.0
    latency_warn_ms: float = 150.0
    latency_fail_ms: float = 300.0
    media_start_s: float = 30.0  # no RTP this long after answer: the call would be dropped
    media_gap_s: float = 15.0  # a silence gap longer than this while the call is up
    notify_wait_s: float = 5.0  # time a REFER's NOTIFY may take after the 202
    invite_timeout_s: float = 32.0  # Timer B (64*T1): an unanswered INVITE times out


@dataclass(frozen=True)
class Settings:
    """What the user told us: our side of the call and the thresholds."""

    local_nets: tuple[IPNetwork, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class CallContext:
    call: Call
    flow: CallFlow
    direction: Direction
    facts: CaptureFacts
    settings: Settings
    media: MediaView

    @property
    def capture_end(self) -> float:
        """Time of the capture's last packet (s since its first)."""
        return self.facts.duration


@dataclass(frozen=True)
class CaptureContext:
    summary: Summary
    settings: Settings


@dataclass(frozen=True)
class Rule:
    """A check of the catalog: stable id, problem-describing name, documentation, code."""

    id: str
    name: str
    scope: Literal["capture", "call"]
    check: Callable[..., Outcome]
    doc: str  # the module docstring: What it checks / Why it matters / Evidence / Remedy / Exceptions
    aliases: tuple[str, ...] = ()
    statuses: frozenset[Status] = frozenset({Status.PASS, Status.WARN, Status.FAIL, Status.NA})
    # the statuses the rule can return (the meta-test holds every rule to them)

    @property
    def title(self) -> str:
        return self.doc.strip().splitlines()[0].strip()


def _frames(frames: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(frames)))


def passed(summary: str, *, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
           display_filter: str | None = None) -> Outcome:
    return Outcome(Status.PASS, summary, tuple(evidence), _frames(frames), display_filter)


def info(summary: str, *, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
         display_filter: str | None = None) -> Outcome:
    return Outcome(Status.INFO, summary, tuple(evidence), _frames(frames), display_filter)


def not_applicable(reason: str) -> Outcome:
    return Outcome(Status.NA, reason)


def failed(summary: str, *, remedy: str, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
           display_filter: str | None = None) -> Outcome:
    return Outcome(Status.FAIL, summary, tuple(evidence), _frames(frames), display_filter, remedy)


def warned(summary: str, *, remedy: str, evidence: Iterable[Evidence] = (), frames: Iterable[int] = (),
           display_filter: str | None = None) -> Outcome:
    return Outcome(Status.WARN, summary, tuple(evidence), _frames(frames), display_filter, remedy)
