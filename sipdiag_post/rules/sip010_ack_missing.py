"""A 200 OK to the INVITE was never acknowledged.

What it checks:
    Whether the first 2xx answer to the INVITE is followed by an ACK with the
    same CSeq number.

Why it matters:
    Without the ACK the answering side keeps retransmitting its 200 OK and,
    after about 32 s, hangs up: the call "drops after half a minute". The 200
    either never reached the caller or the caller could not send the ACK to
    the address the 200 gave.

Evidence:
    The 200 OK (frame, Contact header), how often it was retransmitted, any
    BYE that followed, how long the capture ran after it.

Remedy:
    inbound: The caller never acknowledged your 200 OK: make sure the Contact
    your side puts in the 200 is publicly reachable (self-hosted: advertise
    the external IP) and that no SIP ALG rewrites it.

    outbound: Your side never acknowledged the provider's 200 OK: it probably
    never received it (firewall or NAT on the return path), or could not reach
    the 200's Contact/Record-Route address or transport.

    udp: Over UDP a large 200 OK can be fragmented and lost; try TCP.

    capture ended: Capture for longer, and where the ACK may travel (a proxy
    that record-routes, the other leg of an SBC), to see whether the ACK
    arrives.

    livekit inbound: LiveKit retransmitted its 200 OK and, with no ACK, hung
    up a few seconds later: the provider never acknowledged it, so it probably
    never received the 200 or cannot reach its Contact. A self-hosted LiveKit
    SIP behind NAT must put its public address in Contact and SDP
    (use_external_ip, or nat_1_to_1_ip); otherwise check the provider's
    firewall and any SIP ALG on the way.

Exceptions:
    ``fail`` only on proof the ACK never arrived: the 200 OK was retransmitted,
    or the answering side hung up within Timer H (32 s) of it (a LiveKit SIP
    service sends its BYE some seconds after the 200). When the 200 was not
    retransmitted and the call carried on (the ACK probably took another
    path, past the capture point), or the capture ended first, it is a
    ``warn``. ``n/a`` for calls that were not answered.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import CALLEE
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import by_direction, direction_evidence, livekit_party, message_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)

_CAPTURE_TAIL_S = 1.0
_TIMER_H_S = 32.0  # RFC 3261 Timer H (64*T1): how long the answering side waits for an ACK


def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    answer = flow.answer
    if answer is None:
        return not_applicable("the call was not answered")
    ack = flow.ack_for(answer)
    if ack is not None:
        return passed(
            f"ACK at frame {ack.frame}, {ack.time - answer.time:.3f} s after the 200 OK",
            frames=[answer.frame, ack.frame],
        )
    tx = flow.decisive
    retransmissions = tx.final_retransmissions if tx is not None else 0
    waited = ctx.capture_end - answer.time
    evidence = [
        message_evidence("answer", answer),
        Evidence("200 OK retransmissions", str(retransmissions)),
        Evidence("capture continued after the 200 OK", f"{waited:.1f} s"),
    ]
    if answer.contact:
        evidence.append(Evidence("Contact in the 200 OK", answer.contact))
    byes = [m for m in flow.requests("BYE") if m.time >= answer.time]
    if byes:
        evidence.append(message_evidence("BYE", byes[0]))
    retransmitted = [r.frame for r in tx.responses if r.retransmission] if tx is not None else []
    frames = [answer.frame, *retransmitted, *(b.frame for b in byes[:1])]
    answerer_bye = next((b for b in byes if ctx.media.party_of(b) == CALLEE
                         and b.time - answer.time <= _TIMER_H_S), None)
    if retransmissions == 0 and answerer_bye is None:
        if waited < _CAPTURE_TAIL_S or not byes:
            summary = f"no ACK seen, but the capture ended {waited:.2f} s after the 200 OK"
        else:
            summary = (f"no ACK seen, but the 200 OK was not retransmitted and the call carried on until the "
                       f"caller's BYE {byes[0].time - answer.time:.1f} s later: the ACK probably took another "
                       "path")
        return warned(
            summary,
            remedy=REMEDY["capture ended"],
            evidence=evidence,
            frames=frames,
            display_filter=filters.call(ctx.call.call_id),
        )
    how = (f"{retransmissions} retransmission(s) over {waited:.1f} s" if answerer_bye is None else
           f"{retransmissions} retransmission(s), then the answering side hung up "
           f"{answerer_bye.time - answer.time:.1f} s later")
    remedy = by_direction(
        ctx,
        inbound=REMEDY["livekit inbound"] if livekit_party(ctx) == "callee" else REMEDY["inbound"],
        outbound=REMEDY["outbound"],
    )
    return failed(
        f"200 OK at frame {answer.frame} never ACKed ({how})",
        remedy=remedy + " " + REMEDY["udp"],
        evidence=[*evidence, direction_evidence(ctx)],
        frames=frames,
        display_filter=filters.call(ctx.call.call_id),
    )


RULE = Rule(id="SIP010", name="ack-missing", scope="call", check=check, doc=__doc__ or "")
