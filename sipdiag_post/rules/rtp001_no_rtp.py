"""The call was answered but no RTP flows in either direction.

What it checks:
    Whether any audio RTP stream of the call (one negotiated on an audio m=
    line) has packets after the 200 OK that answered it. Video or T.38 alone
    does not carry the conversation: it is listed, not counted.

Why it matters:
    Signalling succeeded, so the call looks connected, but nobody hears
    anything: media is blocked or was never sent.

Evidence:
    The 200 OK and ACK, the media addresses both sides advertised in SDP,
    and how long the capture ran after the answer.

Remedy:
    open the path: Open UDP in both directions on the RTP port range of both
    sides (commonly 10000-20000; LiveKit SIP's default) in firewalls and
    security groups; check the advertised SDP addresses are reachable (SDP001,
    SDP004); and capture where media flows, which may be another path than
    SIP.

    capture ended: Capture for longer to see whether media starts.

    media not captured: Capture where the media flows as well as the
    signalling (on the media server, the SBC's media interface, or without a
    SIP-only capture filter), then check again.

Exceptions:
    ``warn`` when the capture ends less than a second after the answer, and
    when the capture holds no RTP or RTCP of any call at all (CAP004: taken on
    a signalling-only path, or filtered); ``n/a`` for calls that were not
    answered.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import CALLEE, CALLER, media_kind
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import message_evidence, stream_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)



def check(ctx: CallContext) -> Outcome:
    answer = ctx.flow.answer
    if answer is None:
        return not_applicable("the call was not answered")
    after = ctx.media.after_answer()
    if after:
        packets = sum(s.packets for s in after)
        return passed(f"{len(after)} RTP stream(s) after the answer ({packets} packets)",
                      frames=[s.first_frame for s in after])
    end = min(ctx.flow.hangup_time(ctx.capture_end), ctx.capture_end)
    waited = end - answer.time
    evidence = [message_evidence("answer", answer)]
    ports = []
    for party in (CALLER, CALLEE):
        endpoints = sorted(str(e) for e in ctx.media.endpoints(party))
        evidence.append(Evidence(f"{party} media address (SDP)", ", ".join(endpoints) or "none"))
        ports += [e.port for e in ctx.media.endpoints(party)]
    evidence.append(Evidence("time after the answer", f"{waited:.1f} s"))
    others = ctx.media.after_answer(ctx.media.other_streams)
    evidence += [stream_evidence(f"{media_kind(s)} stream (not audio)", s) for s in others]
    what = "RTP" if not others else f"audio RTP (only {', '.join(sorted({media_kind(s) for s in others}))})"
    display_filter = " || ".join([filters.call(ctx.call.call_id), *(f"udp.port == {p}" for p in sorted(set(ports)))])
    if not ctx.facts.media_captured:
        return warned("answered, but the capture holds no RTP or RTCP of any call: the media path may not "
                      "be in it (CAP004)", remedy=REMEDY["media not captured"], evidence=evidence,
                      frames=[answer.frame], display_filter=display_filter)
    if waited < 1.0:
        return warned(f"no {what} seen, but the capture ended {waited:.2f} s after the answer",
                      remedy=REMEDY["capture ended"], evidence=evidence,
                      frames=[answer.frame], display_filter=display_filter)
    return failed(f"answered, but no {what} in either direction during {waited:.1f} s", remedy=REMEDY["open the path"],
                  evidence=evidence, frames=[answer.frame], display_filter=display_filter)


RULE = Rule(id="RTP001", name="no-rtp", scope="call", check=check, doc=__doc__ or "")
