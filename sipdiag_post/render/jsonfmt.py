"""--format json: the contract of cli-contract.md (report_schema 1), plus a batch summary.

Strings are exact: what JSON's own escapes leave raw and could act where the
JSON is shown (DEL, C1 controls, U+2028/9, bidi and invisible characters) is
written as a \\uXXXX escape, which reads back as the same character."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

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


def capture_json(capture: CaptureReport) -> dict[str, object]:
    return {
        "path": capture.path,
        "status": capture.status,
        "error": capture.error,
        "capture_checks": [check_json(c) for c in capture.capture_checks],
        "calls": (call_json(c) for c in capture.calls),  # formatted one at a time: no dict of every call
    }


def summary_json(captures: Sequence[CaptureReport]) -> dict[str, object]:
    """A batch's captures by status, calls, and failing and warning checks by rule."""
    s = summarise(captures)
    return {"captures": s.captures, "by_status": s.by_status, "calls": s.calls,
            "fails_by_rule": s.fails, "warns_by_rule": s.warns}


def report_json(captures: Sequence[CaptureReport], *, with_summary: bool = False) -> str:
    document: dict[str, object] = {
        "tool": "sipdiag",
        "version": __version__,
        "report_schema": REPORT_SCHEMA,
        "captures": [capture_json(c) for c in captures],
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
