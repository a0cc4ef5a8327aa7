"""--format csv: one row per check, for spreadsheets and scripts.

Cells that a spreadsheet would read as a formula (starting with = + - @, tab or
carriage return) are neutralised with a leading apostrophe, and control
characters (NUL, ESC, a lone carriage return that readers take for a row end),
line breaks, bidi overrides and invisible characters are shown as their
escapes (sipdiag_post/text.py display_text): capture text is attacker-controlled.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ..report import CallReport, CaptureReport
from ..text import display_text
from ..verdict import Check

COLUMNS = ("capture", "capture_status", "call_id", "direction", "from", "to", "final_status", "rule_id",
           "rule_name", "status", "summary", "frames", "display_filter", "remedy", "evidence", "explained_by",
           "verdict_status", "verdict_rule", "verdict_summary")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t")


def neutralise(value: object) -> str:
    text = display_text("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(capture: CaptureReport, call: CallReport | None, check: Check) -> list[str]:
    evidence = "; ".join(f"{e.label}: {e.value}" for e in check.evidence)
    cells = [capture.path, capture.status, call.call_id if call else "", call.direction if call else "",
             call.from_ if call else "", call.to if call else "",
             call.final_status if call and call.final_status is not None else "", check.id, check.name,
             check.status.value, check.summary, " ".join(map(str, check.frames)), check.display_filter or "",
             check.remedy or "", evidence, check.explained_by or "",
             call.verdict.status.value if call else "", (call.verdict.rule or "") if call else "",
             call.verdict.summary if call else ""]
    return [neutralise(c) for c in cells]


def report_csv(captures: Sequence[CaptureReport]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for capture in captures:
        if capture.status == "error":
            writer.writerow([neutralise(capture.path), "error", "", "", "", "", "", "", "", "error",
                             neutralise(capture.error), "", "", "", "", "", "", "", ""])
            continue
        for check in capture.capture_checks:
            writer.writerow(_row(capture, None, check))
        for call in capture.calls:
            for check in call.checks:
                writer.writerow(_row(capture, call, check))
    return out.getvalue()
