"""What every output format shares: batch summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..report import CaptureReport
from ..verdict import Status


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
