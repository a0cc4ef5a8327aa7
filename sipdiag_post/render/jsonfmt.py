"""--format json: the contract of cli-contract.md (report_schema 1), plus a batch summary.

Strings are exact: what JSON's own escapes leave raw and could act where the
JSON is shown (DEL, C1 controls, U+2028/9, bidi and invisible characters) is
written as a \\uXXXX escape, which reads back as the same character."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .. import __version__
from ..report import CallReport, CaptureReport
from ..text import json_text
from ..verdict import Check
from .common import summarise

REPORT_SCHEMA = 1


def check_json(check: Check) -> dict[str, object]:
    out: dict[str, object] = {
        "id": check.id,
        "name": check.name,
        "status": check.status.value,
        "summary": check.summary,
        "evidence": [{"label": e.label, "value": e.value} for e in check.evidence],
        "frames": list(check.frames),
        "display_filter": check.display_filter,
        "remedy": check.remedy,
    }
    if check.explained_by is not None:  # v2: a finding that restates another's cause
        out["explained_by"] = check.explained_by
    return out


def call_json(call: CallReport) -> dict[str, object]:
    return {
        "call_id": call.call_id,
        "direction": call.direction,
        "from": call.from_,
        "to": call.to,
        "first_frame": call.first_frame,
        "final_status": call.final_status,
        "verdict": {"status": call.verdict.status.value, "rule": call.verdict.rule, "summary": call.verdict.summary},
        "checks": [check_json(c) for c in call.checks],
    }


@dataclass(frozen=True)
class CallText:
    """A call's JSON formatted for its place in a report_json document (at `level`), ahead of the rest: while
    tshark still reads the capture, so that little is left to format once it is done."""

    report: CallReport
    level: int
    text: str


_CALL_LEVEL = 4  # document > "captures" list > a capture > its "calls" > a call


def call_text(call: CallReport) -> CallText:
    return CallText(call, _CALL_LEVEL, _pretty(call_json(call), _CALL_LEVEL))


def capture_json(capture: CaptureReport, formatted: Mapping[int, CallText] | None = None) -> dict[str, object]:
    """The capture's JSON object; its calls formatted one at a time (no dict of every call), or taken from
    `formatted` (id of a call's report -> its CallText) where they were formatted ahead."""
    def call(report: CallReport) -> object:
        ahead = formatted.get(id(report)) if formatted else None
        return ahead if ahead is not None and ahead.report is report else call_json(report)

    return {
        "path": capture.path,
        "status": capture.status,
        "error": capture.error,
        "capture_checks": [check_json(c) for c in capture.capture_checks],
        "calls": (call(c) for c in capture.calls),
    }


def summary_json(captures: Sequence[CaptureReport]) -> dict[str, object]:
    """A batch's captures by status, calls, and failing and warning checks by rule."""
    s = summarise(captures)
    return {"captures": s.captures, "by_status": s.by_status, "calls": s.calls,
            "fails_by_rule": s.fails, "warns_by_rule": s.warns}


def report_json(captures: Sequence[CaptureReport], *, with_summary: bool = False,
                formatted: Mapping[int, CallText] | None = None) -> str:
    """The JSON report; `formatted`: calls already formatted (call_text), by id of their report."""
    document: dict[str, object] = {
        "tool": "sipdiag",
        "version": __version__,
        "report_schema": REPORT_SCHEMA,
        "captures": [capture_json(c, formatted) for c in captures],
    }
    if with_summary:  # an extension: the contract allows added keys
        document["summary"] = summary_json(captures)
    return json_text(_pretty(document, 0)) + "\n"


_ONE_LINE = ("checks", "capture_checks")  # lists whose objects are written one per line


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _pretty(value: object, level: int, one_line: bool = False) -> str:
    """Indented JSON whose checks take one line each: readable, and written by
    the json module's C encoder (its indenting encoder is pure Python and took
    most of the post-processor's time on large captures)."""
    if isinstance(value, CallText):
        return value.text if value.level == level else _pretty(call_json(value.report), level)
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{_compact(k)}: {_pretty(v, level + 1, k in _ONE_LINE)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, Iterator):  # each item formatted, and forgotten, as it comes
        items = [inner + _pretty(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]" if items else "[]"
    if isinstance(value, list) and value:
        parts = [_compact(v) if one_line else _pretty(v, level + 1) for v in value]
        return "[\n" + ",\n".join(inner + part for part in parts) + "\n" + pad + "]"
    return _compact(value)
