"""The audio sounds poor: the E-model's MOS for a stream is low.

What it checks:
    Per audio stream with packets after the answer, the ITU-T G.107 E-model
    estimate of how it sounds: R and MOS from the codec's equipment
    impairment Ie and loss robustness Bpl (ITU-T G.113 Appendix I), the
    packets not played (lost, plus those too late for the jitter buffer)
    with their burstiness (BurstR from the loss runs the tap counted), and
    the mouth-to-ear delay (network one-way delay, half the RTCP round trip
    where one was measured, else none assumed; packetisation; the jitter
    buffer). The graded figure models an adaptive jitter buffer sized from
    the stream's jitter; a fixed 60 ms buffer's figure is shown beside it.
    The worst stream is graded: warn below MOS 3.6, fail below 3.1
    (configurable).

Why it matters:
    Loss, jitter and delay each have a threshold, but what a listener hears
    is their sum, and how the loss falls matters: the same 2 % loss in
    bursts of five packets cuts out whole syllables where isolated losses
    are concealed. One figure that weighs them the way G.107 does says
    whether the call sounded bad, and its terms say which impairment did it.

Evidence:
    Per stream: MOS and R, the effective equipment impairment Ie,eff with
    the loss percentage, BurstR and the codec's Ie and Bpl, the delay
    impairment Id with the delay it comes from, the jitter buffer; the
    fixed-buffer figure; frames and a filter for the stream.

Remedy:
    fix the worst term: Work on the term that costs the most: loss (Ie,eff)
    means finding where packets drop or arrive too late (Wi-Fi, congested
    uplinks, VPNs, an overloaded SBC; mark RTP with DSCP EF); a high delay
    impairment (Id) means shortening the path (a media region or relay
    nearer the parties) or a smaller jitter buffer; a high codec impairment
    with no loss means a better codec (G.711 or a wideband codec instead of
    G.729 or GSM) where bandwidth allows.

Exceptions:
    ``n/a`` without audio RTP after the answer, or when no stream can be
    rated: a codec G.113 gives no values for (wideband codecs such as G.722
    and Opus, iLBC) is said, not guessed; streams of fewer than 50 packets
    are too short. Where the receiver's RTCP reports more loss than the
    capture shows, that loss is used, as random loss. Yields to RTP003,
    RTP004 and RTP005 when one of them fails: the score restates their cause.
"""

from __future__ import annotations

from .. import filters
from ..analysis.quality import StreamQuality
from ..emodel import NotRated, Rating
from ..verdict import Evidence, Outcome, Status, failed, not_applicable, passed, warned
from ._common import stream_filter
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)

MOS_WARN = Threshold("mos_warn", 3.6, "MOS", "an audio stream's E-model MOS below this is at least warn",
                     lower_is_worse=True)
MOS_FAIL = Threshold("mos_fail", 3.1, "MOS", "an audio stream's E-model MOS below this fails", lower_is_worse=True)


def _line(q: StreamQuality) -> str:
    graded = q.adaptive
    if not isinstance(graded, Rating):
        return graded.explain()
    text = graded.explain()
    if q.loss_from == "RTCP":
        text += "; loss as the receiver's RTCP reported it (burstiness unknown)"
    if not q.ptime_from:
        text += f"; {q.ptime_ms:g} ms packets assumed (no a=ptime, packet rate unclear)"
    if isinstance(q.fixed, Rating):
        text += f"; with a fixed {q.fixed.buffer_ms:g} ms buffer: MOS {q.fixed.mos:.2f}"
        if q.fixed.late:
            text += f" ({q.fixed.late} packets too late for it)"
    return text


def check(ctx: CallContext) -> Outcome:
    streams = ctx.media.after_answer()
    if not streams:
        return not_applicable("no audio RTP after the answer")
    qualities = [q for q in ctx.analysis.quality if q.stream in streams]
    evidence = [Evidence(q.stream.label(), _line(q)) for q in qualities]
    rated = sorted((q for q in qualities if q.mos is not None), key=lambda q: q.mos or 0.0)
    if not rated:
        reasons = dict.fromkeys(q.adaptive.reason for q in qualities if isinstance(q.adaptive, NotRated))
        return not_applicable("no stream can be rated: " + "; ".join(reasons), evidence=evidence)
    worst = rated[0]
    mos = worst.mos or 0.0
    warn_below, fail_below = MOS_WARN.of(ctx.settings), MOS_FAIL.of(ctx.settings)
    if mos >= warn_below:
        return passed(f"MOS {mos:.2f} or better on every rated stream (worst {worst.stream.ssrc_hex}, "
                      f"{worst.codec})", evidence=evidence, display_filter=filters.streams(streams))
    status = Status.FAIL if mos < fail_below else Status.WARN
    make = failed if status is Status.FAIL else warned
    assert isinstance(worst.adaptive, Rating)
    return make(f"{worst.stream.ssrc_hex} scores MOS {mos:.2f} (R {worst.adaptive.r:.1f}): "
                f"{_cost(worst.adaptive)}", remedy=REMEDY["fix the worst term"], evidence=evidence,
                frames=[worst.stream.first_frame, worst.stream.last_frame],
                display_filter=stream_filter(worst.stream))


def _cost(rating: Rating) -> str:
    """The impairments that cost the most, largest first, in words."""
    if rating.ppl > 0:
        kind = "random" if f"{rating.burst_r:.1f}" == "1.0" else f"in bursts, BurstR {rating.burst_r:.1f}"
        codec = f" with {rating.codec}" if rating.ie else ""
        if rating.late and not rating.lost:
            what = f"{rating.ppl:.1f}% of packets too late for a {rating.buffer_ms:g} ms jitter buffer"
        elif rating.late:
            what = f"{rating.ppl:.1f}% lost or too late ({rating.lost} lost, {rating.late} late)"
        else:
            what = f"{rating.ppl:.1f}% loss ({kind})"
        loss = f"{what}{codec} (Ie,eff {rating.ie_eff:.1f})"
    else:
        loss = f"codec {rating.codec} (Ie {rating.ie:g})"
    delay = f"{rating.delay_ms:.0f} ms one-way delay (Id {rating.id_:.1f})"
    terms = sorted(((rating.ie_eff, loss), (rating.id_, delay)), key=lambda t: -t[0])
    return ", ".join(text for cost, text in terms if cost >= 3.0) or "many small impairments"


RULE = Rule(id="RTP009", name="poor-audio-quality", scope="call", check=check, doc=__doc__ or "",
            thresholds=(MOS_WARN, MOS_FAIL))
