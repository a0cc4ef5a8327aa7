"""The one-way latency estimated from RTCP is too high.

What it checks:
    Half the round trip that RTCP measures: for each receiver report whose
    LSR matches a sender report seen in the capture, the time between the two
    at the capture point minus the receiver's DLSR (as tshark's
    rtcp.roundtrip-delay), and the round trip delay of RTCP-XR VoIP metrics
    where present. Pass below 150 ms, fail above 300 ms (configurable).

Why it matters:
    Above a few hundred milliseconds of mouth-to-ear delay people talk over
    each other and conversations break down, even with perfect audio.

Evidence:
    Per stream: the number of round trips measured, their mean and maximum,
    the estimate of one-way latency; frames of the stream.

Remedy:
    shorten: Shorten the media path: keep media in a region near both parties
    (region pinning), avoid hairpinning through distant SBCs or VPN
    concentrators, and look for large jitter buffers or transcoding on the
    way.

Exceptions:
    ``n/a`` where the round trip was measured next to the receiver report's
    sender (every round trip under 5 ms: the capture point sees the sender
    report arrive and the receiver report leave, and almost none of the
    path in between).
    ``n/a`` without RTCP round trip data (no RTCP, or no sender report in the
    capture that the receiver reports refer to).
"""

from __future__ import annotations

from ..verdict import Evidence, Outcome, Status, failed, not_applicable, passed, warned
from ._common import grade
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)


LATENCY_WARN = Threshold("latency_warn_ms", 150.0, "ms", "one-way latency at or above this is at least warn")
LATENCY_FAIL = Threshold("latency_fail_ms", 300.0, "ms", "one-way latency above this fails")


# a round trip this short was measured where the receiver report left (the capture point answered
# the sender report itself): it says nothing about the path
_NEAR_MS = 5.0


def check(ctx: CallContext) -> Outcome:
    measured = []
    for s in ctx.call.streams:
        rtcp = s.rtcp
        if rtcp is None:
            continue
        rtt = rtcp.rtt_mean_ms if rtcp.rtt_count else None
        if rtt is None and rtcp.xr_rtt_ms:
            rtt = float(rtcp.xr_rtt_ms)
        if rtt is not None:
            measured.append((rtt, s))
    if not measured:
        return not_applicable("no RTCP round trip data")
    if all(s.rtcp is not None and s.rtcp.rtt_count and not s.rtcp.xr_rtt_ms
           and (s.rtcp.rtt_max_ms or 0.0) < _NEAR_MS for _, s in measured):
        largest = max(s.rtcp.rtt_max_ms or 0.0 for _, s in measured if s.rtcp is not None)
        return not_applicable(f"RTCP round trips of at most {largest:.2f} ms: measured next to the receiver "
                              "report's sender, the capture point sees almost none of the path")
    rtt, stream = max(measured, key=lambda p: p[0])
    evidence = []
    for value, s in measured:
        rtcp = s.rtcp
        assert rtcp is not None
        detail = (f"{rtcp.rtt_count} round trip(s), mean {rtcp.rtt_mean_ms:.1f} ms, max {rtcp.rtt_max_ms:.1f} ms"
                  if rtcp.rtt_count else f"RTCP-XR round trip {rtcp.xr_rtt_ms} ms")
        evidence.append(Evidence(s.label(), f"{detail}; one-way about {value / 2:.0f} ms"))
    one_way = rtt / 2
    status = grade(one_way, LATENCY_WARN.of(ctx.settings), LATENCY_FAIL.of(ctx.settings))
    if status is Status.PASS:
        return passed(f"one-way latency about {one_way:.0f} ms", evidence=evidence)
    make = failed if status is Status.FAIL else warned
    return make(f"one-way latency about {one_way:.0f} ms (RTCP round trip {rtt:.0f} ms)",
                remedy=REMEDY["shorten"],
                evidence=evidence,
                frames=[stream.rtcp.rtt_max_frame] if stream.rtcp and stream.rtcp.rtt_max_frame else [],
                display_filter=f"rtcp.ssrc.identifier == {stream.ssrc_hex} || rtcp.senderssrc == {stream.ssrc_hex}")


RULE = Rule(id="RTP005", name="latency", scope="call", check=check, doc=__doc__ or "",
            thresholds=(LATENCY_WARN, LATENCY_FAIL))
