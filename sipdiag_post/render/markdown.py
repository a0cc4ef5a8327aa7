"""--format markdown: for CI job summaries, pull-request comments and tickets.

Capture text is escaped for Markdown tables and HTML-escaped, so a header
value can neither break the table nor inject markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..report import CaptureReport
from ..text import safe_text
from ..verdict import Check, Status
from .common import summarise, summary_line

_MARKS = {Status.PASS: "pass", Status.WARN: "**WARN**", Status.FAIL: "**FAIL**", Status.INFO: "info",
          Status.NA: "n/a"}


def md(text: str) -> str:
    """Text for a Markdown table cell or paragraph."""
    text = html.escape(safe_text(text), quote=False)
    for ch in "\\`*_[]|#":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def _table(checks: Sequence[Check]) -> list[str]:
    lines = ["| status | id | check | finding |", "|---|---|---|---|"]
    lines += [f"| {_MARKS[c.status]} | {c.id} | {c.name} | {md(c.summary)} |" for c in checks]
    return lines


def _findings(checks: Sequence[Check]) -> list[str]:
    lines = []
    for check in checks:
        if check.status not in (Status.FAIL, Status.WARN):
            continue
        lines += ["", f"**{check.id} {check.name}** ({check.status.value}): {md(check.summary)}", ""]
        lines += [f"- {md(e.label)}: {md(e.value)}" for e in check.evidence]
        if check.display_filter:
            lines.append(f"- display filter: <code>{html.escape(safe_text(check.display_filter))}</code>")
        if check.remedy:
            lines.append(f"- remedy: {md(check.remedy)}")
    return lines


def report_markdown(captures: Sequence[CaptureReport]) -> str:
    lines = ["# sipdiag report", "", md(summary_line(summarise(captures)))]
    for capture in captures:
        lines += ["", f"## {md(capture.path)}: {capture.status}"]
        if capture.error:
            lines += ["", md(capture.error)]
        if capture.status == "error":
            continue
        lines += ["", *_table(capture.capture_checks), *_findings(capture.capture_checks)]
        for call in capture.calls:
            final = call.final_status if call.final_status is not None else "none"
            verdict = call.verdict
            lines += ["", f"### Call {md(call.call_id)}", "",
                      f"**Verdict: {_MARKS[verdict.status].strip('*')}{' ' + verdict.rule if verdict.rule else ''}**: "
                      f"{md(verdict.summary)}", "",
                      f"{call.direction}, {md(call.from_)} to {md(call.to)}, final response {final}, "
                      f"{call.duration:.1f} s", "", *_table(call.checks), *_findings(call.checks)]
    return "\n".join(lines) + "\n"
