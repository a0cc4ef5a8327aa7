"""The report: rule verdicts per capture and per call, with each call's analysis, ready to render."""

from __future__ import annotations

from dataclasses import dataclass, field

from .analysis import CallAnalysis
from .verdict import Check, Verdict


@dataclass(frozen=True)
class CallReport:
    call_id: str
    direction: str  # inbound, outbound or unknown
    from_: str  # From URI ("" when unknown)
    to: str  # To URI ("" when unknown)
    first_frame: int  # frame of the call's first message
    final_status: int | None  # the call's final response code; None without one
    start: float  # s since the capture's first packet
    duration: float  # s from the call's first to its last message
    checks: tuple[Check, ...]
    verdict: Verdict  # the call's primary finding
    legs: tuple[str, ...] = ()  # Call-IDs of the other legs of its conversation in the capture (CID002)
    analysis: CallAnalysis | None = field(default=None, compare=False, repr=False)  # what the checks read


@dataclass(frozen=True)
class CaptureReport:
    path: str  # as the user gave it
    status: str  # ok, truncated or error
    error: str | None  # one line, when status is error (or truncated)
    capture_checks: tuple[Check, ...] = ()
    calls: tuple[CallReport, ...] = ()
    start_epoch: float | None = None  # s since 1970 (UTC) of the capture's first packet; None without packets

    def all_checks(self) -> tuple[Check, ...]:
        return self.capture_checks + tuple(c for call in self.calls for c in call.checks)
