"""--format markdown: for CI job summaries, pull-request comments and tickets.

Capture text cannot add markup, links, images or mentions: it is made one
line with its controls, bidi and invisible characters shown as escapes
(sipdiag_post/text.py display_text), HTML-escaped, and every Markdown
metacharacter is backslash-escaped (so `[click](https://...)` and `![i](...)`
stay text, and a table cell cannot be split); a zero-width space, written as
an entity, follows `@` and breaks `://` and `www.`, so that `@team` mentions
no one and no bare link or e-mail address becomes a link. Display filters are code spans, whose content
Markdown shows as it is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from ..report import CaptureReport
from ..text import display_text
from ..verdict import Check, Status
from .common import summarise, summary_line

_MARKS = {Status.PASS: "pass", Status.WARN: "**WARN**", Status.FAIL: "**FAIL**", Status.INFO: "info",
          Status.NA: "n/a"}
_METACHARACTERS = re.compile(r"([\\`*_\[\]()|#!~])")
_BREAK = "&#8203;"  # a zero-width space, written as an entity: ends a link or mention where it stands
_AUTOLINK = re.compile(r"(?i)(:)(//)|(www)(\.)|(@)")


def md(text: str) -> str:
    """Capture text for a Markdown table cell or paragraph: shown as it is, never as markup."""
    text = html.escape(display_text(text), quote=False)
    text = _METACHARACTERS.sub(r"\\\1", text)
    return _AUTOLINK.sub(lambda m: "".join(g for g in m.groups() if g).replace("//", _BREAK + "//")
                         .replace(".", _BREAK + ".").replace("@", "@" + _BREAK), text)


def code(text: str) -> str:
    """Text as a Markdown code span: fenced by more backticks than it holds in a row."""
    text = display_text(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


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
            lines.append(f"- display filter: {code(check.display_filter)}")
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
