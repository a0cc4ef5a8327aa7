"""The call was answered but no RTP flows in either direction.

What it checks:
    Whether any RTP stream of the call has packets after the 200 OK that
    answered it.

Why it matters:
    Signalling succeeded, so the call looks connected, but nobody hears
    anything: media is blocked or was never sent.

Evidence:
    The 200 OK and ACK, the media addresses both sides advertised in SDP,
    and how long the capture ran after the answer.

Remedy:
    Check that firewalls and security groups let UDP through on the RTP
    port range (commonly 10000-20000; LiveKit SIP uses 10000-20000 by
    default) in both directions, that the SDP addresses are reachable (SDP001,
    SDP004), and that the capture was taken where media passes (media may take
    another path than signalling).

Exceptions:
    ``warn`` when the capture ends less than a second after the answer; ``n/a``
    for calls that were not answered.
"""

from __future__ import annotations

from .. import filters
from ..media import CALLEE, CALLER
from ._common import message_evidence
from .base import CallContext, Evidence, Outcome, Rule, failed, not_applicable, passed, warned

_REMEDY = (
    "Open UDP in both directions on the RTP port range of both sides (commonly 10000-20000; LiveKit "
    "SIP's default) in firewalls and security groups; check the advertised SDP addresses are "
    "reachable (SDP001, SDP004); and capture where media flows, which may be another path than SIP."
)


def check(ctx: CallContext) -> Outcome:
    answer = ctx.flow.answer
    if answer is None:
        return not_applicable("the call was not answered")
    after = ctx.media.after_answer()
    if after:
        packets = sum(s.packets for s in after)
        return passed(f"{len(after)} RTP stream(s) after the answer ({packets} packets)",
                      frames=[s.first_frame for s in after])
    end = min(ctx.media.call_end(ctx.capture_end), ctx.capture_end)
    waited = end - answer.time
    evidence = [message_evidence("answer", answer)]
    ports = []
    for party in (CALLER, CALLEE):
        endpoints = sorted(str(e) for e in ctx.media.endpoints(party))
        evidence.append(Evidence(f"{party} media address (SDP)", ", ".join(endpoints) or "none"))
        ports += [e.port for e in ctx.media.endpoints(party)]
    evidence.append(Evidence("time after the answer", f"{waited:.1f} s"))
    display_filter = " || ".join([filters.call(ctx.call.call_id), *(f"udp.port == {p}" for p in sorted(set(ports)))])
    if waited < 1.0:
        return warned(f"no RTP seen, but the capture ended {waited:.2f} s after the answer",
                      remedy="Capture for longer to see whether media starts.", evidence=evidence,
                      frames=[answer.frame], display_filter=display_filter)
    return failed(f"answered, but no RTP in either direction during {waited:.1f} s", remedy=_REMEDY,
                  evidence=evidence, frames=[answer.frame], display_filter=display_filter)


RULE = Rule(id="RTP001", name="no-rtp", scope="call", check=check, doc=__doc__ or "")
