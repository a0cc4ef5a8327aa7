"""Capture level: the capture holds answered calls with audio in their SDP but no RTP or RTCP at all.

What it checks:
    Whether any call was answered with an SDP that announces audio, while the
    capture holds no RTP stream and no RTCP packet of any call.

Why it matters:
    A capture taken on a signalling-only path (a SIP proxy's interface, a
    capture filter on port 5060, a HEP/Homer export of SIP) cannot show
    media. Reading "no RTP" there as "the media path is broken" sends an
    engineer after firewalls that are fine; the media rules say so instead
    of failing.

Evidence:
    The answered calls with audio in their SDP (the first few, with the
    frame of the answer), the RTP streams and RTCP packets seen (none), and a
    display filter of those answers.

Remedy:
    capture media: Capture where the media flows as well: on the media
    server, on the SBC's media interface, or without a capture filter that
    keeps only SIP ports (RTP usually uses 10000-20000). Then check again.

Exceptions:
    ``pass`` when any RTP or RTCP is present; ``n/a`` when no call was
    answered with audio in its SDP (no media was to be expected).
"""

from __future__ import annotations

from .. import filters
from ..model import Call
from ..verdict import Evidence, Outcome, Status, not_applicable, passed, warned
from .base import CaptureContext, Rule, remedies

REMEDY = remedies(__doc__)
_LISTED = 5


def _answered_with_audio(call: Call) -> int | None:
    """The frame of the call's first 2xx to an INVITE when some SDP of the call announces audio."""
    if not any(m.sdp is not None and m.sdp.audio() is not None for m in call.messages):
        return None
    return next((m.frame for m in call.messages if m.is_response and m.cseq_method == "INVITE"
                 and m.status is not None and 200 <= m.status < 300), None)


def check(ctx: CaptureContext) -> Outcome:
    facts = ctx.summary.facts
    if facts.media_captured:
        return passed(f"{facts.rtp_streams} RTP stream(s) and {facts.rtcp_packets} RTCP packet(s) in the capture")
    answered = [(c, f) for c in ctx.summary.calls if (f := _answered_with_audio(c)) is not None]
    if not answered:
        return not_applicable("no call was answered with audio in its SDP")
    evidence = [Evidence("RTP streams", "0"), Evidence("RTCP packets", "0")]
    evidence += [Evidence(f"answered call {c.call_id}", f"2xx at frame {frame}") for c, frame in answered[:_LISTED]]
    if len(answered) > _LISTED:
        evidence.append(Evidence("more answered calls", str(len(answered) - _LISTED)))
    return warned(f"{len(answered)} answered call(s) with audio in the SDP, but no RTP or RTCP of any call: "
                  "the capture was taken on a signalling-only path or filtered; media rules only warn",
                  remedy=REMEDY["capture media"], evidence=evidence, frames=[f for _, f in answered[:_LISTED]],
                  display_filter=filters.frames(f for _, f in answered[:_LISTED]))


RULE = Rule(id="CAP004", name="media-not-captured", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN, Status.NA}))
