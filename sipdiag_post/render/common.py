"""Helpers every output format shares: safe text and batch summaries."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..report import CaptureReport
from ..rules.base import Status

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# characters XML 1.0 does not allow (besides what CONTROL already covers)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def safe_text(text: str) -> str:
    """Capture text made safe for a terminal or log: control characters (ESC included) become '?'."""
    return CONTROL.sub("?", text).replace("\t", " ")


def xml_text(text: str) -> str:
    """Text made storable in XML 1.0: characters it forbids become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class BatchSummary:
    captures: int
    by_status: dict[str, int]  # ok / truncated / error -> captures
    calls: int
    fails: dict[str, int]  # rule id -> checks that failed, most first
    warns: dict[str, int]


def summarise(captures: Sequence[CaptureReport]) -> BatchSummary:
    fails: Counter[str] = Counter()
    warns: Counter[str] = Counter()
    for capture in captures:
        for check in capture.all_checks():
            if check.status is Status.FAIL:
                fails[check.id] += 1
            elif check.status is Status.WARN:
                warns[check.id] += 1
    return BatchSummary(
        captures=len(captures),
        by_status=dict(Counter(c.status for c in captures)),
        calls=sum(len(c.calls) for c in captures),
        fails=dict(sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))),
        warns=dict(sorted(warns.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def summary_line(summary: BatchSummary) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.by_status.items()))
    fails = ", ".join(f"{rule} x{n}" for rule, n in summary.fails.items()) or "none"
    warns = ", ".join(f"{rule} x{n}" for rule, n in summary.warns.items()) or "none"
    return (f"{summary.captures} capture(s) ({statuses}), {summary.calls} call(s); "
            f"failed: {fails}; warnings: {warns}")
