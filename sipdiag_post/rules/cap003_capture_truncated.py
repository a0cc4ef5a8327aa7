"""The capture is cut short or damaged.

What it checks:
    Whether tshark could read the whole file (a file cut in the middle of a
    packet, or a damaged record, stops the read), whether SIP packets were
    cut by the capture's snap length, whether the tap failed on any packet,
    and whether the tap's bounds kept anything out of the summary: calls past
    its 20,000 Call-IDs, messages past a call's 2,000 (only repeats that no
    verdict needs), RTP streams past 20,000, X- headers past 64 a message.

Why it matters:
    A report from part of a capture can look healthy when the failure lies in
    the part that was lost: a missing ACK or BYE may only be missing from the
    file, and a call past the tap's bound is not in the report at all.

Evidence:
    tshark's own message, the packets that were read, the number of SIP
    frames shorter on disk than on the wire (display filter
    ``sip && frame.cap_len < frame.len``), samples of tap errors, and every
    count the tap's bounds kept out (calls and their messages, messages,
    RTP streams and their packets, X- headers, TLS ports), whatever else the
    check found.

Remedy:
    capture again: Capture again and stop it cleanly (Ctrl-C on
    tcpdump/dumpcap rather than killing it or filling the disk), with no snap
    length limit (tcpdump -s 0). If the file was copied or uploaded, check it
    arrived whole.

    tap errors: Report the frames below with the capture (or a trimmed copy)
    to the sipdiag maintainers; the packets are likely malformed.

    bounds: The capture holds more calls (or a call more messages, or more
    RTP streams) than one run of sipdiag keeps; the bounds protect it from
    hostile captures (docs/pdml-schema.md). Split the capture by time into
    parts with fewer calls, with an overlap longer than the longest call
    (docs/scaling.md, bench/split.py), and analyse the parts; a call of
    thousands of messages is worth a look on its own.

Exceptions:
    Tap errors alone are a ``warn``: the other packets were analysed. So are
    bounds that kept messages, streams or headers out but every call in: each
    call reported keeps the messages its verdict depends on. Calls past the
    bound are a ``fail``: they are not in the report.
"""

from __future__ import annotations

from dataclasses import replace

from ..model import CaptureFacts
from ..verdict import Evidence, Outcome, Status, failed, passed, warned
from .base import CaptureContext, Rule, remedies

REMEDY = remedies(__doc__)


def bounds(facts: CaptureFacts) -> list[Evidence]:
    """What the tap's bounds kept out of the summary, one line each (none when nothing was)."""
    found = []
    if facts.calls_dropped_messages:
        count = f"{'at least ' if facts.calls_dropped_at_least else ''}{facts.calls_dropped}"
        found.append(Evidence("calls past the bound, not analysed",
                              f"{count} ({facts.calls_dropped_messages} SIP messages); {facts.calls} analysed"))
    if facts.messages_dropped:
        found.append(Evidence("messages not kept", f"{facts.messages_dropped} repeats past a call's bound "
                              "(final responses, ACK, BYE, CANCEL, new requests and SDP kept)"))
    if facts.rtp_streams_dropped:
        found.append(Evidence("RTP streams past the bound", f"{facts.rtp_streams_dropped} "
                              f"({facts.rtp_packets_dropped} packets)"))
    if facts.xheaders_dropped:
        found.append(Evidence("X- headers not kept", str(facts.xheaders_dropped)))
    if facts.tls_ports_dropped:
        found.append(Evidence("TLS frames on ports past the bound", str(facts.tls_ports_dropped)))
    return found


def _check(facts: CaptureFacts) -> Outcome:
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
    if facts.calls_dropped_messages:
        count = f"{'at least ' if facts.calls_dropped_at_least else ''}{facts.calls_dropped}"
        return failed(f"{count} call(s) past the tap's bound were not analysed: results cover the first "
                      f"{facts.calls} calls", remedy=REMEDY["bounds"])
    if facts.tap_errors:
        return warned(
            f"the tap could not analyse {facts.tap_errors} packet(s); the rest were analysed",
            remedy=REMEDY["tap errors"],
            evidence=[Evidence(f"frame {e.frame}", e.message) for e in facts.tap_error_samples],
            frames=[e.frame for e in facts.tap_error_samples],
            display_filter="_ws.malformed || _ws.expert.severity >= error",
        )
    if facts.bounds_reached:
        return warned("the tap's bounds kept repeats out; every call is analysed with what its verdict needs",
                      remedy=REMEDY["bounds"])
    late = []
    if facts.late_sip_messages or facts.late_rtp_packets:
        late.append(Evidence("traffic of calls already over", f"{facts.late_sip_messages} SIP message(s), "
                             f"{facts.late_rtp_packets} RTP packet(s) after their call was written (counted, "
                             "not analysed; see the tap's linger and idle timers)"))
    return passed(f"all {facts.packets} packets read", evidence=late)


def check(ctx: CaptureContext) -> Outcome:
    facts = ctx.summary.facts
    outcome = _check(facts)
    extra = bounds(facts)
    return replace(outcome, evidence=(*outcome.evidence, *extra)) if extra else outcome


RULE = Rule(id="CAP003", name="capture-truncated", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN, Status.FAIL}))
