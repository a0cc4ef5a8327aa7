"""RTP packets are lost.

What it checks:
    Per stream, the share of packets lost: expected (from the sequence
    numbers, wraps included) minus received, as tshark counts it; and the
    highest "fraction lost" the far side reported in RTCP. Pass below 1 %,
    fail above 3 % (configurable), warn between.

Why it matters:
    RTP is never retransmitted: every lost packet is 20-30 ms of missing
    audio. Above a few percent speech breaks up audibly. RTCP shows losses
    after the capture point that the capture cannot see.

Evidence:
    Per stream: packets expected and received, loss percentage, RTCP fraction
    lost, frames and a filter for the stream.

Remedy:
    find the drops: Find where packets drop: Wi-Fi, congested uplinks, VPNs,
    overloaded firewalls or SBCs, the provider's network. Mark RTP with DSCP
    EF and prioritise it (QoS), and capture at both ends to see on which side
    the loss happens.

Exceptions:
    ``n/a`` without RTP. Duplicates make the count negative; they are not
    loss.
"""

from __future__ import annotations

from .. import filters
from ..model import RtpStream
from ..verdict import Evidence, Outcome, Status, failed, not_applicable, passed, warned
from ._common import grade, stream_filter
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)

LOSS_WARN = Threshold("loss_warn_pct", 1.0, "%", "packet loss at or above this is at least warn")
LOSS_FAIL = Threshold("loss_fail_pct", 3.0, "%", "packet loss above this fails")


def rtcp_loss_pct(stream: RtpStream) -> float:
    return 100.0 * stream.rtcp.fraction_lost_max / 256 if stream.rtcp and stream.rtcp.reports else 0.0


def check(ctx: CallContext) -> Outcome:
    streams = ctx.call.streams
    if not streams:
        return not_applicable("no RTP in this call")
    warn_at, fail_above = LOSS_WARN.of(ctx.settings), LOSS_FAIL.of(ctx.settings)
    scored = sorted(((max(s.loss_pct, rtcp_loss_pct(s)), s) for s in streams), key=lambda p: -p[0])
    worst, stream = scored[0]
    evidence = []
    for _, s in scored:
        line = f"{s.loss_pct:.1f}% lost ({max(s.lost, 0)} of {s.expected} expected)"
        if s.rtcp and s.rtcp.reports:
            line += f", RTCP reported up to {rtcp_loss_pct(s):.1f}%"
        evidence.append(Evidence(s.label(), line))
    status = grade(worst, warn_at, fail_above)
    summary = f"worst stream loses {worst:.1f}% ({stream.ssrc_hex})"
    if status is Status.PASS:
        return passed(f"loss below {warn_at:g}% on every stream (worst {worst:.1f}%)", evidence=evidence,
                      display_filter=filters.streams(streams))
    make = failed if status is Status.FAIL else warned
    return make(summary, remedy=REMEDY["find the drops"], evidence=evidence,
                frames=[stream.first_frame, stream.last_frame], display_filter=stream_filter(stream))


RULE = Rule(id="RTP003", name="packet-loss", scope="call", check=check, doc=__doc__ or "",
            thresholds=(LOSS_WARN, LOSS_FAIL))
