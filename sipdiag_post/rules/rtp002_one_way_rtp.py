"""RTP flows in only one direction after the answer.

What it checks:
    Which party sent each RTP stream of the answered call (told by the SDP
    address the stream was sent to, or came from), and whether one party sent
    nothing while the SDP allowed it to send.

Why it matters:
    One party hears the other but not the reverse: almost always NAT or an
    advertised address the other side cannot reach, occasionally a firewall
    letting media through in one direction only.

Evidence:
    The streams present, the party that sent nothing, the address it
    advertised and the address its audio should have been sent to.

Remedy:
    path: Check the direction that is missing: the silent party's SDP address
    must be reachable (SDP004), NAT must keep a return pinhole open, and
    firewalls must pass RTP both ways.

    inbound: If your SIP service is self-hosted behind NAT, make it advertise
    its external IP (LiveKit SIP: use_external_ip: true); on LiveKit Cloud,
    check the provider's SDP carries a routable address.

    outbound: If your SIP service is self-hosted behind NAT, make it advertise
    its external IP (LiveKit SIP: use_external_ip: true); otherwise ask the
    provider why its media does not reach you.

    livekit: On LiveKit's side: symmetric_rtp: true makes it send back to
    where the provider's RTP comes from (it sends to the SDP address by
    default), and a self-hosted service must advertise its public address
    (use_external_ip or nat_1_to_1_ip).

Exceptions:
    One-way media that the SDP asks for (sendonly/recvonly, a hold) passes.
    ``n/a`` when there is no RTP at all (RTP001) or the senders cannot be
    told apart.
"""

from __future__ import annotations

from ..analysis.media import CALLEE, CALLER, other
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import by_direction, livekit_party, stream_evidence, stream_filter
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    answer = ctx.flow.answer
    if answer is None:
        return not_applicable("the call was not answered")
    after = view.after_answer()
    if not after:
        return not_applicable("no RTP after the answer (RTP001)")
    senders = {view.sender_of(s) for s in after} - {None}
    if senders == {CALLER, CALLEE}:
        return passed("RTP in both directions", frames=[s.first_frame for s in after])
    if not senders:
        return not_applicable("cannot tell which party sent the RTP (no matching SDP address)")
    (talking,) = senders
    silent = other(talking)
    if not view.may_send(silent, answer.time):
        return passed(f"RTP only from the {talking}, as the SDP asks (the {silent} is not to send)")
    end = min(ctx.flow.hangup_time(ctx.capture_end), ctx.capture_end)
    evidence = [stream_evidence(f"from the {talking}", s) for s in after]
    evidence.append(Evidence(f"{silent} advertised", ", ".join(sorted(str(e) for e in view.endpoints(silent)))
                             or "no address"))
    evidence.append(Evidence(f"{silent}'s audio should go to", ", ".join(
        sorted(str(e) for e in view.endpoints(talking))) or "no address"))
    remedy = REMEDY["path"] + " " + by_direction(ctx, inbound=REMEDY["inbound"], outbound=REMEDY["outbound"])
    if livekit_party(ctx) is not None:
        remedy += " " + REMEDY["livekit"]
    return failed(f"one-way audio: RTP only from the {talking}; nothing from the {silent} during "
                  f"{end - answer.time:.1f} s", remedy=remedy, evidence=evidence,
                  frames=[s.first_frame for s in after], display_filter=stream_filter(*after))


RULE = Rule(id="RTP002", name="one-way-rtp", scope="call", check=check, doc=__doc__ or "")
