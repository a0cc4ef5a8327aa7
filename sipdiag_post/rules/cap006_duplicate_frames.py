"""Capture level: frames captured twice, byte for byte (two interfaces, SPAN duplication).

What it checks:
    Whether the capture holds frames byte-identical to one seen within 50 ms
    before: the same packet recorded twice, not sent twice.

Why it matters:
    A mirrored port that copies both directions, or a capture on two
    interfaces of one path, records every packet twice. Read naively, each
    copy looks like a SIP retransmission, an RTP duplicate or a reordering;
    sipdiag counts such copies once and says how many it set aside.

Evidence:
    How many frames were copies and the first of them.

Remedy:
    None: information only. Capture on one interface, or dedupe the file
    with `editcap -D 5` before sharing it.

Exceptions:
    A real SIP retransmission differs in time by hundreds of milliseconds
    and is not a copy; it is still counted as a retransmission.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, Status, info, passed
from .base import CaptureContext, Rule


def check(ctx: CaptureContext) -> Outcome:
    facts = ctx.summary.facts
    if not facts.duplicate_frames:
        return passed("no frame captured twice")
    first = facts.duplicate_first_frame
    return info(f"{facts.duplicate_frames} frame(s) were captured twice (byte-identical within 50 ms) and "
                "counted once", evidence=[Evidence("copies", str(facts.duplicate_frames)),
                                          Evidence("first copy", f"frame {first}")],
                frames=[first] if first else [], display_filter=filters.frames([first]) if first else None)


RULE = Rule(id="CAP006", name="duplicate-frames", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.INFO}))
