"""--format table: the checklist a person reads at a glance.

One block per capture and per call; one row per rule with its status.
Passing and not-applicable rows are folded into counts unless `show_all`;
`verbose` adds evidence, the display filter and the remedy. Colour only when
asked (the CLI asks when stdout is a terminal and NO_COLOR is unset). All
capture text goes through display_text: no escape sequence reaches the
terminal, and no line break, bidi override or invisible character forges or
hides a line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from ..report import CallReport, CaptureReport
from ..text import display_text
from ..verdict import Check, Status
from .common import summarise, summary_line

_MARKS = {Status.PASS: "pass", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.INFO: "info", Status.NA: "n/a"}
_COLOURS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "1;31", Status.INFO: "36", Status.NA: "2"}
_FOLDED = (Status.PASS, Status.NA)
_SUMMARY_WIDTH = 72
_WIDTH = 110


@dataclass(frozen=True)
class TableOptions:
    verbose: bool = False  # evidence, display filter and remedy under each finding
    show_all: bool = False  # list passing and not-applicable rows too
    colour: bool = False  # ANSI colours
    summary: bool = False  # a batch summary line at the end


def _paint(text: str, code: str, options: TableOptions) -> str:
    return f"\033[{code}m{text}\033[0m" if options.colour else text


def _mark(status: Status, options: TableOptions) -> str:
    return _paint(_MARKS[status], _COLOURS[status], options)


def _wrapped(label: str, text: str, indent: int) -> str:
    prefix = " " * indent + label
    return textwrap.fill(display_text(text), width=_WIDTH, initial_indent=prefix,
                         subsequent_indent=" " * len(prefix), break_long_words=False, break_on_hyphens=False)


def _details(check: Check) -> list[str]:
    lines = [_wrapped(f"{display_text(e.label)}: ", e.value, 10) for e in check.evidence]
    if check.frames:
        lines.append(_wrapped("frames: ", " ".join(map(str, check.frames)), 10))
    if check.display_filter:
        lines.append(f"          filter: {display_text(check.display_filter)}")
    if check.remedy:
        lines.append(_wrapped("remedy: ", check.remedy, 10))
    return lines


def _checks(checks: Sequence[Check], options: TableOptions) -> list[str]:
    shown = [c for c in checks if options.show_all or c.status not in _FOLDED]
    lines = []
    if shown:
        rows = [[_mark(c.status, options), c.id, c.name,
                 "\n".join(textwrap.wrap(display_text(c.summary), _SUMMARY_WIDTH) or [""])] for c in shown]
        groups: list[list[str]] = []  # the printed lines of each row (a long summary wraps)
        for line in tabulate(rows, tablefmt="plain").splitlines():
            if line[:1].strip() or not groups:
                groups.append([line])
            else:
                groups[-1].append(line)
        for group, check in zip(groups, shown, strict=True):
            lines += ["  " + line for line in group]
            if options.verbose and check.status not in _FOLDED:
                lines += _details(check)
    if not options.show_all:
        passed = sum(c.status is Status.PASS for c in checks)
        na = sum(c.status is Status.NA for c in checks)
        if passed or na:
            folded = [f"{passed} passed"] if passed else []
            folded += [f"{na} not applicable"] if na else []
            lines.append(f"  {_paint(', '.join(folded), _COLOURS[Status.PASS], options)} (--all lists them)")
    return lines


def _call_header(call: CallReport, options: TableOptions) -> list[str]:
    final = str(call.final_status) if call.final_status is not None else "none"
    parties = f"{display_text(call.from_) or '?'} -> {display_text(call.to) or '?'}"
    verdict = call.verdict
    headline = f"{_MARKS[verdict.status]} {verdict.rule or ''}".rstrip()
    return [_paint(f"Call {display_text(call.call_id)}", "1", options),
            f"  {call.direction}, {parties}, final response {final}, {call.duration:.1f} s, "
            f"first frame {call.first_frame}",
            _wrapped(f"verdict: {_paint(headline, _COLOURS[verdict.status], options)}: ", verdict.summary, 2)]


def capture_table(capture: CaptureReport, options: TableOptions) -> str:
    head = f"Capture {display_text(capture.path)}: {capture.status}"
    if capture.status == "error":
        return _paint(head, "1;31", options) + f": {display_text(capture.error or '')}\n"
    fails = sum(c.status is Status.FAIL for c in capture.all_checks())
    parts = [_paint(f"{head}, {len(capture.calls)} call(s), {fails} failed check(s)", "1", options)]
    if capture.error:
        parts.append(f"  {display_text(capture.error)}")
    parts += [*_checks(capture.capture_checks, options), ""]
    for call in capture.calls:
        parts += [*_call_header(call, options), *_checks(call.checks, options), ""]
    return "\n".join(parts) + "\n"


def report_table(captures: Sequence[CaptureReport], options: TableOptions = TableOptions()) -> str:
    text = "\n".join(capture_table(c, options) for c in captures)
    if options.summary:
        text += "\nSummary: " + display_text(summary_line(summarise(captures))) + "\n"
    return text
