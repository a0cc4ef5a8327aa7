"""`sipdiag watch` output: one line per call as its verdict is known, the calls still in progress, a summary.

    TIME STATUS CALL-ID FROM -> TO RULE SUMMARY
    2026-01-05T10:00:01.234Z fail 7-1@10.0.0.1 sip:+15550100001@10.0.0.1 -> sip:+15550100002@10.0.0.2 SIP005 ...

TIME is the call's first SIP message (ISO 8601 UTC, milliseconds), STATUS the verdict's (pass, warn,
fail; padded to 4), RULE the verdict's rule id or `-` for a healthy call. Text from the capture is
shown with its controls escaped (display_text), so a line is always one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import __version__
from ..model import Call
from ..report import CallReport
from ..text import display_text
from .jsonfmt import REPORT_SCHEMA
from .jsonl import start_time


@dataclass(frozen=True)
class Unfinished:
    """A call the capture stopped in the middle of (written when tshark ended, its signalling not over)."""

    call_id: str
    from_: str
    to: str
    start: float  # s since the capture's first packet


def unfinished(call: Call) -> Unfinished:
    times = [m.time for m in call.messages] or [0.0]
    return Unfinished(call_id=call.call_id, from_=call.from_.uri if call.from_ else "",
                      to=call.to.uri if call.to else "", start=min(times))


def _iso(epoch: float | None, offset: float) -> str | None:
    """ISO 8601 UTC with milliseconds, as the jsonl lines write times; None without a usable time."""
    moment = start_time(epoch, offset)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def _when(epoch: float | None, offset: float) -> str:
    return _iso(epoch, offset) or f"+{offset:.3f}s"


def call_line(epoch: float | None, call: CallReport) -> str:
    """A judged call's line (no newline)."""
    verdict = call.verdict
    return display_text(f"{_when(epoch, call.start)} {verdict.status.value:<4} {call.call_id} "
                        f"{call.from_ or '?'} -> {call.to or '?'} {verdict.rule or '-'} {verdict.summary}")


def in_progress_line(epoch: float | None, call: Unfinished) -> str:
    return display_text(f"{_when(epoch, call.start)} open {call.call_id} {call.from_ or '?'} -> {call.to or '?'} "
                        "still in progress when the capture stopped")


def summary_text(verdicts: Mapping[str, int], open_calls: Sequence[str]) -> str:
    """The closing line: calls by verdict status, and how many were still in progress (no newline)."""
    total = sum(verdicts.values())
    parts = ", ".join(f"{verdicts.get(s, 0)} {s}" for s in ("pass", "warn", "fail"))
    return f"watched {total} finished call(s): {parts}; {len(open_calls)} still in progress"


def in_progress_record(epoch: float | None, call: Unfinished) -> dict[str, object]:
    return {"call_id": call.call_id, "from": call.from_, "to": call.to, "start_time": _iso(epoch, call.start)}


def summary_record(source: str, verdicts: Mapping[str, int], fails: Mapping[str, int], warns: Mapping[str, int],
                   open_calls: Sequence[dict[str, object]]) -> dict[str, object]:
    """watch's last jsonl object: the contract's summary keys for its one live capture, the verdicts by status
    and the calls still in progress."""
    def ranked(counts: Mapping[str, int]) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    return {"type": "summary", "tool": "sipdiag", "version": __version__, "report_schema": REPORT_SCHEMA,
            "captures": 1, "by_status": {"ok": 1}, "calls": sum(verdicts.values()),
            "fails_by_rule": ranked(fails), "warns_by_rule": ranked(warns),
            "source": source, "verdicts": {s: verdicts.get(s, 0) for s in ("pass", "warn", "fail")},
            "in_progress": list(open_calls)}
