"""RTP packets are lost.

What it checks:
    Per audio stream, the share of packets lost over the whole stream:
    expected (from the sequence numbers, wraps included) minus received, as
    tshark counts it; and, where the receiver sent RTCP, the loss it reported
    over the whole reported period (cumulative lost between its first and
    last report over the packets expected between them), which also covers
    losses after the capture point. The worse of the two is graded: pass
    below 1 %, fail above 3 % (configurable), warn between.

Why it matters:
    RTP is never retransmitted: every lost packet is 20-30 ms of missing
    audio. Above a few percent speech breaks up audibly. RTCP shows losses
    after the capture point that the capture cannot see.

Evidence:
    Per stream: packets expected and received, loss percentage, the RTCP
    loss over the reported period, and the worst single RTCP interval (with
    its report's frame) as a fact, not the grade; frames and a filter for
    the stream.

Remedy:
    find the drops: Find where packets drop: Wi-Fi, congested uplinks, VPNs,
    overloaded firewalls or SBCs, the provider's network. Mark RTP with DSCP
    EF and prioritise it (QoS), and capture at both ends to see on which side
    the loss happens.

Exceptions:
    ``n/a`` without audio RTP (video and T.38 streams are not graded).
    Duplicates make the count negative; they are not loss. One bad RTCP
    interval (a "fraction lost" of 3 % in five seconds) does not make a
    stream lossy when the whole stream lost little.
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
    """Loss the receiver reported over the whole reported period (0 without two reports)."""
    reported = stream.rtcp.reported_loss_pct if stream.rtcp is not None else None
    return reported or 0.0


def _interval_peak(stream: RtpStream) -> str:
    rtcp = stream.rtcp
    if rtcp is None or not rtcp.reports:
        return ""
    where = f" (frame {rtcp.fraction_lost_max_frame})" if rtcp.fraction_lost_max_frame else ""
    return f"; worst RTCP interval {100.0 * rtcp.fraction_lost_max / 256:.1f}%{where}"


def check(ctx: CallContext) -> Outcome:
    streams = ctx.media.audio_streams
    if not streams:
        return not_applicable("no audio RTP in this call")
    warn_at, fail_above = LOSS_WARN.of(ctx.settings), LOSS_FAIL.of(ctx.settings)
    scored = sorted(((max(s.loss_pct, rtcp_loss_pct(s)), s) for s in streams), key=lambda p: -p[0])
    worst, stream = scored[0]
    evidence = []
    for _, s in scored:
        line = f"{s.loss_pct:.1f}% lost ({max(s.lost, 0)} of {s.expected} expected)"
        if s.rtcp is not None and s.rtcp.reported_loss_pct is not None:
            line += f", RTCP reported {rtcp_loss_pct(s):.1f}% over its reports"
        evidence.append(Evidence(s.label(), line + _interval_peak(s)))
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
