"""The capture is cut short or damaged.

What it checks:
    Whether tshark could read the whole file (a file cut in the middle of a
    packet, or a damaged record, stops the read), whether SIP packets were
    cut by the capture's snap length, and whether the tap failed on any
    packet.

Why it matters:
    A report from part of a capture can look healthy when the failure lies in
    the part that was lost: a missing ACK or BYE may only be missing from the
    file.

Evidence:
    tshark's own message, the packets that were read, the number of SIP
    frames shorter on disk than on the wire (display filter
    ``sip && frame.cap_len < frame.len``), and samples of tap errors.

Remedy:
    capture again: Capture again and stop it cleanly (Ctrl-C on
    tcpdump/dumpcap rather than killing it or filling the disk), with no snap
    length limit (tcpdump -s 0). If the file was copied or uploaded, check it
    arrived whole.

    tap errors: Report the frames below with the capture (or a trimmed copy)
    to the sipdiag maintainers; the packets are likely malformed.

Exceptions:
    Tap errors alone are a ``warn``: the other packets were analysed.
"""

from __future__ import annotations

from ..verdict import Evidence, Outcome, Status, failed, passed, warned
from .base import CaptureContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CaptureContext) -> Outcome:
    facts = ctx.summary.facts
    if facts.read_error:
        return failed(
            f"capture cut short: results cover only the first {facts.packets} packets",
            remedy=REMEDY["capture again"],
            evidence=[Evidence("tshark", facts.read_error), Evidence("packets read", str(facts.packets))],
            frames=[facts.packets],
            display_filter=f"frame.number == {facts.packets}",
        )
    if facts.snapped_sip_frames:
        return failed(
            f"{facts.snapped_sip_frames} SIP frame(s) cut by the capture's snap length",
            remedy=REMEDY["capture again"],
            evidence=[Evidence("SIP frames cut short", str(facts.snapped_sip_frames))],
            display_filter="sip && frame.cap_len < frame.len",
        )
    if facts.tap_errors:
        return warned(
            f"the tap could not analyse {facts.tap_errors} packet(s); the rest were analysed",
            remedy=REMEDY["tap errors"],
            evidence=[Evidence(f"frame {e.frame}", e.message) for e in facts.tap_error_samples],
            frames=[e.frame for e in facts.tap_error_samples],
            display_filter="_ws.malformed || _ws.expert.severity >= error",
        )
    return passed(f"all {facts.packets} packets read")


RULE = Rule(id="CAP003", name="capture-truncated", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN, Status.FAIL}))
