"""The codec the call uses and how it was negotiated.

What it checks:
    From the initial offer and answer: the codec in use (the first audio
    format of the answer), the offered and answered format lists, ptime,
    telephone-event (DTMF) payload type, direction attributes (sendonly,
    recvonly, inactive mean hold) and whether SRTP keying is present.

Why it matters:
    The codec and its payload type are what the RTP must carry; every media
    check compares against them, and support tickets ask for them first.

Evidence:
    The lists and attributes above, with the frames of the offer and answer.

Remedy:
    None: information only.

Exceptions:
    Always ``info`` when an answer exists; ``n/a`` otherwise.
"""

from __future__ import annotations

from .. import filters
from ..model import SdpMedia
from ..verdict import Evidence, Outcome, Status, info, not_applicable
from .base import CallContext, Rule


def _codec(media: SdpMedia, fmt: str) -> str:
    mapped = media.rtpmap_of(fmt)
    return (mapped.text if mapped is not None else None) or media.encoding(fmt) or f"payload type {fmt}"


def check(ctx: CallContext) -> Outcome:
    offer, answer = ctx.media.audio_pair()
    exchange = ctx.media.initial
    if answer is None or exchange is None or exchange.answer_sdp is None:
        return not_applicable("no SDP answer with audio in this call")
    codec = _codec(answer, answer.formats[0]) if answer.formats and answer.port else "none (audio refused)"
    evidence = [Evidence("codec in use", codec)]
    if offer is not None:
        evidence.append(Evidence("offered", ", ".join(f"{f} {_codec(offer, f)}" for f in offer.formats)))
    evidence.append(Evidence("answered", ", ".join(f"{f} {_codec(answer, f)}" for f in answer.formats)))
    dtmf = [f for f in answer.formats if (answer.encoding(f) or "").lower() == "telephone-event"]
    evidence.append(Evidence("telephone-event", f"payload type {dtmf[0]}" if dtmf else "not negotiated"))
    ptime = answer.ptime or (offer.ptime if offer else None)
    if ptime:
        evidence.append(Evidence("ptime", f"{ptime} ms"))
    offer_sdp, answer_sdp = exchange.offer_sdp, exchange.answer_sdp
    directions = []
    if offer_sdp is not None and offer is not None:
        directions.append(f"offer {offer_sdp.direction_of(offer)}")
    directions.append(f"answer {answer_sdp.direction_of(answer)}")
    evidence.append(Evidence("direction", ", ".join(directions)))
    secure = [m for m in (offer, answer) if m is not None and (m.crypto or m.fingerprint or "SAVP" in m.proto)]
    evidence.append(Evidence("SRTP", "yes (" + ", ".join(sorted({m.proto for m in secure})) + ")" if secure else "no"))
    frames = [m.frame for m in (exchange.offer, exchange.answer) if m is not None]
    return info(f"{codec}" + (f", DTMF on payload type {dtmf[0]}" if dtmf else ""), evidence=evidence,
                frames=frames, display_filter=filters.sdp(ctx.call.call_id))


RULE = Rule(id="SDP005", name="negotiated-codec", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.INFO, Status.NA}))
