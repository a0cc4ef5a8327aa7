"""--format jsonl: one JSON object per line (cli-contract.md, v2), built from jsonfmt's objects.

    {"type": "call", "capture": PATH, ...call object...}        each call of a capture
    {"type": "capture", ...capture object without calls...}     when the capture is done
    {"type": "summary", ...}                                    last: the captures so rendered

On standard output a capture's call lines go out one by one as each call is
judged, while tshark still reads the capture (in the order the calls were
judged: about the order they ended); written to files, or for a capture
analysed in another process, a capture's lines come together in first-frame
order.

Lines add two keys to the contract's objects, for queries over many captures:
`start_time` (the call's first message, or the capture's first packet, as
ISO 8601 UTC; null when the capture has no usable time) and, on call lines,
`duration_s` (first to last SIP message).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from .. import __version__
from ..report import CallReport, CaptureReport
from .jsonfmt import REPORT_SCHEMA, call_json, capture_json, summary_json


def start_time(epoch: float | None, offset: float = 0.0) -> datetime | None:
    """The time `offset` seconds after a capture's first packet, in UTC; None without one."""
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch + offset, tz=UTC)
    except (OverflowError, OSError, ValueError):  # a capture whose clock is far off
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def call_record(capture: CaptureReport, call: CallReport) -> dict[str, object]:
    """A call line's object: the contract's call object, its capture, its start time and duration."""
    return {"type": "call", "capture": capture.path, **call_json(call),
            "start_time": _iso(start_time(capture.start_epoch, call.start)), "duration_s": round(call.duration, 3)}


def capture_record(capture: CaptureReport) -> dict[str, object]:
    """A capture line's object: the contract's capture object without its calls, with the capture's start time."""
    document = capture_json(capture)
    del document["calls"]
    return {"type": "capture", **document, "start_time": _iso(start_time(capture.start_epoch))}


def summary_record(captures: Sequence[CaptureReport]) -> dict[str, object]:
    return {"type": "summary", "tool": "sipdiag", "version": __version__, "report_schema": REPORT_SCHEMA,
            **summary_json(captures)}


def _line(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def call_line(capture: CaptureReport, call: CallReport) -> str:
    """One call's line (capture: the call's capture, its calls not needed)."""
    return _line(call_record(capture, call))


def capture_line(capture: CaptureReport) -> str:
    """The capture's own line, for a capture whose call lines went out as each call was judged."""
    return _line(capture_record(capture))


def capture_lines(capture: CaptureReport) -> str:
    """A capture's lines: each call, then the capture."""
    return "".join(call_line(capture, call) for call in capture.calls) + capture_line(capture)


def summary_line(captures: Sequence[CaptureReport]) -> str:
    return _line(summary_record(captures))


def report_jsonl(captures: Sequence[CaptureReport]) -> str:
    """Every capture's lines, then the summary of them all."""
    return "".join(capture_lines(c) for c in captures) + summary_line(captures)
