"""Rendering reports: pure functions from reports to text."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence

from tabulate import tabulate

from . import __version__
from .report import CallReport, CaptureReport
from .rules.base import Check, Rule, Status

REPORT_SCHEMA = 1

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MARKS = {
    Status.PASS: "pass",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.INFO: "info",
    Status.NA: "n/a",
}
_SUMMARY_WIDTH = 72
_WIDTH = 110


def safe_text(text: str) -> str:
    """Capture text made safe for a terminal: control characters (ESC included) become '?'."""
    return _CONTROL.sub("?", text).replace("\t", " ")


# --- JSON (the contract in cli-contract.md) ---------------------------------

def check_json(check: Check) -> dict[str, object]:
    return {
        "id": check.id,
        "name": check.name,
        "status": check.status.value,
        "summary": check.summary,
        "evidence": [{"label": e.label, "value": e.value} for e in check.evidence],
        "frames": list(check.frames),
        "display_filter": check.display_filter,
        "remedy": check.remedy,
    }


def call_json(call: CallReport) -> dict[str, object]:
    return {
        "call_id": call.call_id,
        "direction": call.direction,
        "from": call.from_,
        "to": call.to,
        "first_frame": call.first_frame,
        "final_status": call.final_status,
        "checks": [check_json(c) for c in call.checks],
    }


def capture_json(capture: CaptureReport) -> dict[str, object]:
    return {
        "path": capture.path,
        "status": capture.status,
        "error": capture.error,
        "capture_checks": [check_json(c) for c in capture.capture_checks],
        "calls": [call_json(c) for c in capture.calls],
    }


def report_json(captures: Sequence[CaptureReport]) -> str:
    document = {
        "tool": "sipdiag",
        "version": __version__,
        "report_schema": REPORT_SCHEMA,
        "captures": [capture_json(c) for c in captures],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- table --------------------------------------------------------------------

def _rows(checks: Sequence[Check]) -> list[list[str]]:
    return [[_MARKS[c.status], c.id, c.name, safe_text(c.summary)] for c in checks]


def _table(checks: Sequence[Check]) -> str:
    return tabulate(_rows(checks), headers=["status", "id", "check", "finding"], tablefmt="simple",
                    maxcolwidths=[None, None, None, _SUMMARY_WIDTH])


def _wrapped(label: str, text: str, indent: int) -> str:
    prefix = " " * indent + label
    return textwrap.fill(safe_text(text), width=_WIDTH, initial_indent=prefix,
                         subsequent_indent=" " * len(prefix), break_long_words=False, break_on_hyphens=False)


def _remedies(checks: Sequence[Check]) -> list[str]:
    lines = []
    for check in checks:
        if check.status not in (Status.FAIL, Status.WARN):
            continue
        lines.append(f"  {check.id} {check.name}: {safe_text(check.summary)}")
        lines += [_wrapped(f"{e.label}: ", e.value, 6) for e in check.evidence]
        if check.display_filter:
            lines.append(f"    filter: {safe_text(check.display_filter)}")
        if check.remedy:
            lines.append(_wrapped("remedy: ", check.remedy, 4))
    return lines


def _call_header(call: CallReport) -> str:
    final = str(call.final_status) if call.final_status is not None else "none"
    parties = f"{safe_text(call.from_) or '?'} -> {safe_text(call.to) or '?'}"
    return (f"Call {safe_text(call.call_id)}\n  {call.direction}, {parties}, final response {final}, "
            f"first frame {call.first_frame}, {call.duration:.1f} s of signalling")


def capture_table(capture: CaptureReport) -> str:
    head = f"Capture {safe_text(capture.path)}: {capture.status}"
    if capture.status == "error":
        return f"{head}: {safe_text(capture.error or '')}\n"
    parts = [f"{head}, {len(capture.calls)} call(s)"]
    if capture.error:
        parts.append(f"  {safe_text(capture.error)}")
    parts += [_table(capture.capture_checks), *_remedies(capture.capture_checks), ""]
    for call in capture.calls:
        parts += [_call_header(call), _table(call.checks), *_remedies(call.checks), ""]
    return "\n".join(parts) + "\n"


def report_table(captures: Sequence[CaptureReport]) -> str:
    return "\n".join(capture_table(c) for c in captures)


# --- the catalog ----------------------------------------------------------------

def rules_table(rules: Sequence[Rule]) -> str:
    rows = [[r.id, r.name, r.scope, r.title] for r in rules]
    return tabulate(rows, headers=["id", "name", "scope", "what it finds"], tablefmt="simple") + "\n"


def rules_json(rules: Sequence[Rule]) -> str:
    data = [{"id": r.id, "name": r.name, "scope": r.scope, "title": r.title, "aliases": list(r.aliases),
             "doc": r.doc.strip()} for r in rules]
    return json.dumps(data, indent=2) + "\n"


def rule_doc(rule: Rule) -> str:
    return f"{rule.id} {rule.name} ({rule.scope})\n\n{rule.doc.strip()}\n"
