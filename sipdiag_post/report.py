"""The report: rule verdicts per capture and per call, ready to render."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Summary
from .rules.base import Check, Status


@dataclass(frozen=True)
class CallReport:
    call_id: str
    direction: str  # inbound, outbound or unknown
    from_: str  # From URI ("" when unknown)
    to: str  # To URI
    first_frame: int
    final_status: int | None  # the call's final response code; None without one
    start: float  # s since the capture's first packet
    duration: float  # s from the call's first to its last message
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class CaptureReport:
    path: str  # as the user gave it
    status: str  # ok, truncated or error
    error: str | None  # one line, when status is error (or truncated)
    capture_checks: tuple[Check, ...] = ()
    calls: tuple[CallReport, ...] = ()
    model: Summary | None = field(default=None, compare=False, repr=False)  # what the checks were run on

    def all_checks(self) -> tuple[Check, ...]:
        return self.capture_checks + tuple(c for call in self.calls for c in call.checks)


def worst(checks: tuple[Check, ...]) -> Status | None:
    statuses = {c.status for c in checks}
    for status in (Status.FAIL, Status.WARN):
        if status in statuses:
            return status
    return None
