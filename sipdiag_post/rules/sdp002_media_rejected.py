"""The answer refuses the audio stream (m=audio 0).

What it checks:
    Whether an SDP answer's audio m= line has port 0 while its offer's did
    not.

Why it matters:
    Port 0 in an answer rejects that stream (RFC 3264 6): the call may connect
    but carries no audio. It usually follows a mismatch the answerer could not
    accept: transport profile (RTP/AVP vs RTP/SAVP), encryption, or codecs.

Evidence:
    The answer's m= line with port 0 and the offer's m= line it refuses.

Remedy:
    compare: Compare the offered audio line with what the answering side
    supports: profile (RTP/AVP against RTP/SAVP), encryption keying (a=crypto,
    DTLS fingerprint) and codecs; make both sides agree on one of each.

Exceptions:
    A video or other non-audio line refused with port 0 is normal. ``n/a``
    when no answer was captured.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import sdp_line
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    answered = [e for e in ctx.media.exchanges if e.answer_sdp is not None]
    if not answered:
        return not_applicable("no SDP answer in this call")
    for exchange in answered:
        answer = exchange.answer_sdp
        audio = answer.audio() if answer else None
        offer_audio = exchange.offer_sdp.audio() if exchange.offer_sdp else None
        if audio is not None and audio.port == 0 and (offer_audio is None or offer_audio.port):
            assert exchange.answer is not None
            evidence = [Evidence("answer", sdp_line(exchange.answer, audio))]
            frames = [exchange.answer.frame]
            if exchange.offer is not None and offer_audio is not None:
                evidence.append(Evidence("offer", sdp_line(exchange.offer, offer_audio)))
                frames.append(exchange.offer.frame)
            return failed(
                f"the answer at frame {exchange.answer.frame} rejects the audio stream (m=audio 0)",
                remedy=REMEDY["compare"],
                evidence=evidence, frames=frames, display_filter=filters.sdp(ctx.call.call_id),
            )
    return passed("every answer accepts the audio stream")


RULE = Rule(id="SDP002", name="media-rejected", scope="call", check=check, doc=__doc__ or "")
