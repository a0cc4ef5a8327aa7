"""Offer and answer share no audio codec, or the call failed with 488.

What it checks:
    Whether the call failed with 488 Not Acceptable Here (or 606), or with
    LiveKit's answer to an offer it cannot accept (400 with an empty reason
    phrase), or the initial answer's audio formats have no codec in common
    with the offer's (payload types compared by number for static types and
    by encoding name and clock rate for dynamic ones; telephone-event and
    comfort noise do not count as codecs).

Why it matters:
    Without a common codec there is nothing both sides can encode and decode:
    the call is refused, or connects with silence or noise.

Evidence:
    The offer's and the answer's format lists with their encodings, or the 488
    and its Warning header.

Remedy:
    codec: Offer a codec the other side supports (G.711 PCMU/PCMA works almost
    everywhere), or enable one of the offered codecs on the answering side
    (some need a licence or transcoding, G.729 among them).

    livekit offer: LiveKit's SIP service could not accept the offer. It takes
    PCMU (0), PCMA (8) or G722 (9), with telephone-event (101) for DTMF; SRTP
    only by SDES (RTP/SAVP with a=crypto) and only when the trunk asks for
    encryption; and it needs the offer in the INVITE. Make the provider's
    trunk offer one of these codecs (G.711 is the safe choice), with early
    offer.

Exceptions:
    ``n/a`` without an answer and without a 488.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import AUXILIARY
from ..model import SdpMedia
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import livekit_party, message_evidence, response_details
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)



def codecs(media: SdpMedia) -> dict[str, str]:
    """Format -> 'ENCODING/RATE' for the media line's codecs (auxiliary formats left out)."""
    out = {}
    for fmt in media.formats:
        name = (media.encoding(fmt) or fmt).lower()
        if name in AUXILIARY:
            continue
        mapped = media.rtpmap_of(fmt)
        rate = mapped.rate if mapped is not None else ""
        out[fmt] = f"{name}/{rate}" if rate else name
    return out


def describe(media: SdpMedia) -> str:
    return " ".join(f"{fmt}:{media.encoding(fmt) or '?'}" for fmt in media.formats) or "(none)"


def common(offer: SdpMedia, answer: SdpMedia) -> list[str]:
    """The answer's formats that the offer has too: the same static payload type, or the same encoding."""
    offered = codecs(offer)
    names = set(offered.values())
    return [fmt for fmt, name in codecs(answer).items()
            if name in names or (fmt in offered and fmt.isdigit() and int(fmt) < 96)]


def check(ctx: CallContext) -> Outcome:
    final = ctx.flow.decisive.final if ctx.flow.decisive else None
    call_id = ctx.call.call_id
    livekit_refused = (final is not None and final.status == 400 and not (final.reason or "").strip()
                       and livekit_party(ctx) == "callee")
    if final is not None and (final.status in (488, 606) or livekit_refused) and not ctx.flow.answered:
        evidence = [message_evidence("final response", final), *response_details(final)]
        offer = ctx.media.initial.offer_sdp if ctx.media.initial else None
        frames = [final.frame]
        if offer is not None and offer.audio() is not None:
            evidence.append(Evidence("offered", describe(offer.audio())))
            frames.append(ctx.media.initial.offer.frame)  # type: ignore[union-attr]
        if livekit_refused:
            return failed("LiveKit refused the offer: 400 with an empty reason phrase (what it answers to an SDP "
                          "it cannot accept)", remedy=REMEDY["livekit offer"], evidence=evidence, frames=frames,
                          display_filter=filters.final(call_id, 400))
        return failed(f"the offer was refused: {final.label}", remedy=REMEDY["codec"], evidence=evidence,
                      frames=frames, display_filter=filters.final(call_id, final.status or 0))
    offer, answer = ctx.media.audio_pair()
    if offer is None or answer is None:
        return not_applicable("no SDP offer and answer with audio in this call")
    if answer.port == 0:
        return not_applicable("the answer rejects the audio stream (SDP002)")
    shared = common(offer, answer)
    exchange = ctx.media.initial
    assert exchange is not None and exchange.answer is not None
    evidence = [Evidence("offered", describe(offer)), Evidence("answered", describe(answer))]
    if shared:
        return passed(f"common codec {answer.encoding(shared[0]) or shared[0]} (payload type {shared[0]})",
                      evidence=evidence)
    frames = [exchange.answer.frame] + ([exchange.offer.frame] if exchange.offer else [])
    return failed("the answer shares no codec with the offer", remedy=REMEDY["codec"], evidence=evidence,
                  frames=frames, display_filter=filters.sdp(call_id))


RULE = Rule(id="SDP003", name="no-common-codec", scope="call", check=check, doc=__doc__ or "")
