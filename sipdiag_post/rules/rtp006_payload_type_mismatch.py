"""RTP carries a payload type the SDP answer did not agree on.

What it checks:
    For every RTP stream of the call, the payload types it carries against
    the formats the SDP answers (the initial one and any re-INVITE's) agreed
    for the stream's own media: an audio stream against the audio m= lines,
    a video stream against the video ones.
    Comfort noise counts as agreed only when the answer lists it;
    telephone-events (DTMF) on a payload type the call's SDP maps to
    telephone-event but the answer left out are RTP010's (a DTMF method the
    other side did not agree to), not a codec mismatch.

Why it matters:
    The receiver decodes packets with the codec the payload type names. A
    stream that sends PT 8 (PCMA) when PCMU (PT 0) was agreed is decoded with
    the wrong codec: loud static or garbled speech, with perfect network
    figures.

Evidence:
    The stream, each payload type it sent that was not agreed with its packet
    count, and the answer's format list.

Remedy:
    encode: Make the sending side encode with the negotiated codec: check its
    codec preferences and any SBC or transcoder that rewrites payloads without
    rewriting the SDP (or the reverse).

Exceptions:
    ``n/a`` without an SDP answer or without RTP.
"""

from __future__ import annotations

from ..analysis.media import media_kind
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import stream_filter
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    lines = [m for e in ctx.media.exchanges if e.answer_sdp for m in e.answer_sdp.media]
    answers = [m for m in lines if m.type == "audio"]
    if not answers:
        return not_applicable("no SDP answer with audio in this call")
    if not ctx.call.streams:
        return not_applicable("no RTP in this call")
    # map from media kind to the payload types answered on m= lines of that kind
    agreed: dict[str, set[int]] = {}
    for media in lines:
        agreed.setdefault(media.type.lower(), set()).update(int(f) for f in media.formats if f.isdigit())
    answer = answers[0]
    listed = ", ".join(f"{f} {answer.encoding(f) or ''}".strip() for f in answer.formats)
    wrong, dtmf = [], []
    for stream in ctx.call.streams:
        allowed = agreed.get(media_kind(stream), set())
        events = {e.pt for e in stream.events}
        for payload in stream.payloads:
            if payload.pt in events:
                if payload.pt not in allowed:
                    dtmf.append(Evidence(stream.label(), f"telephone-events on payload type {payload.pt}, which "
                                                         "the answer left out: see RTP010"))
            elif payload.pt not in allowed:
                wrong.append((stream, payload))
    if not wrong:
        return passed(f"every RTP packet uses an agreed payload type ({listed})", evidence=dtmf)
    stream, payload = max(wrong, key=lambda p: p[1].packets)
    evidence = [Evidence("agreed in the answer", listed), *dtmf]
    evidence += [Evidence(s.label(), f"payload type {p.pt} in {p.packets} of {s.packets} packets")
                 for s, p in wrong]
    return failed(f"{stream.ssrc_hex} sends payload type {payload.pt} ({payload.packets} packets); the answer "
                  f"agreed on {listed}",
                  remedy=REMEDY["encode"],
                  evidence=evidence, frames=[payload.first_frame or stream.first_frame],
                  display_filter=f"{stream_filter(stream)} && rtp.p_type == {payload.pt}")


RULE = Rule(id="RTP006", name="payload-type-mismatch", scope="call", check=check, doc=__doc__ or "")
