"""Capture level: packet times in the capture go backwards, jump by hours, or lie before 1995.

What it checks:
    Whether the time between two consecutive packets is negative by more
    than the backwards limit, or larger than the jump limit, and whether the
    capture's first packet lies before 1995 (a clock that was never set).

Why it matters:
    Every duration sipdiag reports (how long a call rang, how long media was
    silent, when a timeout fired, jitter) is a difference of packet times. A
    capture merged from machines with unsynchronised clocks, or written by a
    device without a clock, makes those numbers meaningless: a call "up for
    53 years" is a clock artifact, not a call. The verdicts that rest on
    time are then caveated.

Evidence:
    The largest step back and the largest step forward with the packets
    that made them, the first packet's absolute time, and a display filter
    of those packets.

Remedy:
    fix the clock: Check the clock of the machine that captured (NTP), and
    when captures from several machines were merged, merge them again with
    their clocks aligned (mergecap, or editcap -t to shift one). Read the
    durations in this report with care.

Exceptions:
    Out-of-order packets within a second (two interfaces, a busy capture
    buffer) are normal and do not count.
"""

from __future__ import annotations

import time

from .. import filters
from ..verdict import Evidence, Outcome, Status, passed, warned
from .base import CaptureContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)
BACKWARDS = Threshold("time_backwards_s", 1.0, "s", "packet times that go back by more than this are broken")
JUMP = Threshold("time_jump_s", 3600.0, "s", "a step forward between two packets larger than this is broken")
_EPOCH_1995 = 788918400.0  # 1995-01-01T00:00:00Z


def check(ctx: CaptureContext) -> Outcome:
    facts = ctx.summary.facts
    problems, evidence, frames = [], [], []
    if facts.time_backwards_s > BACKWARDS.of(ctx.settings):
        problems.append(f"time goes back {facts.time_backwards_s:.1f} s at frame {facts.time_backwards_frame}")
        evidence.append(Evidence("largest step back", f"{facts.time_backwards_s:.3f} s at frame "
                                 f"{facts.time_backwards_frame}"))
        frames.append(facts.time_backwards_frame)
    if facts.time_jump_s > JUMP.of(ctx.settings):
        problems.append(f"time jumps {facts.time_jump_s:,.0f} s forward at frame {facts.time_jump_frame}")
        evidence.append(Evidence("largest step forward", f"{facts.time_jump_s:.3f} s at frame {facts.time_jump_frame}"))
        frames.append(facts.time_jump_frame)
    if facts.start_epoch is not None and facts.start_epoch < _EPOCH_1995:
        problems.append("the first packet is dated before 1995")
        frames.append(1)
    if facts.start_epoch is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(facts.start_epoch)) \
            if 0 <= facts.start_epoch < 253402300800 else f"{facts.start_epoch:.0f} s since 1970"
        evidence.append(Evidence("first packet", stamp))
    if not problems:
        return passed("packet times move forward steadily")
    return warned("capture timing is broken: " + "; ".join(problems) + "; durations and timeouts are unreliable",
                  remedy=REMEDY["fix the clock"], evidence=evidence, frames=frames,
                  display_filter=filters.frames(frames))


RULE = Rule(id="CAP005", name="capture-timing-broken", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN}), thresholds=(BACKWARDS, JUMP))
