"""The call set-up handshake and its timings.

What it checks:
    For an answered call: the flow INVITE -> 100 Trying -> 180/183 -> 200 OK
    -> ACK as it happened, with post-dial delay (INVITE to first 18x), answer
    time (INVITE to 200) and ACK delay. It warns when the INVITE had to be
    retransmitted before any response arrived.

Why it matters:
    A clean handshake rules out signalling as the cause of a connected call's
    trouble; long delays or retransmissions show a slow or lossy path before
    any audio flows.

Evidence:
    Each step's frame and time, the timings, any digest challenge before
    (normal with authenticated trunks), INVITE retransmissions.

Remedy:
    slow: The peer answered slower than the 500 ms retransmit timer, or
    messages were lost: check latency and loss towards the peer and that it
    sends 100 Trying at once.

Exceptions:
    ``n/a`` for calls that were not answered or whose 200 OK got no ACK:
    SIP002-SIP010 explain those. 401/407 followed by a new INVITE is normal.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, Status, not_applicable, passed, warned
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    answer, tx = flow.answer, flow.decisive
    if answer is None or tx is None:
        return not_applicable("the call was not answered; its failure rule explains why")
    invite = tx.request
    if invite is None:
        return not_applicable("the INVITE is not in the capture (SIP001)")
    ack = flow.ack_for(answer)
    if ack is None:
        return not_applicable("the 200 OK was not acknowledged (SIP010)")
    trying = next((r for r in tx.provisionals if r.status == 100), None)
    ringing = next((r for r in tx.provisionals if r.status in (180, 183)), None)
    steps = [("INVITE", invite), ("100", trying), (ringing.label if ringing else "18x", ringing),
             ("200", answer), ("ACK", ack)]
    present = [(name, m) for name, m in steps if m is not None]
    path = " -> ".join(name.split()[0] for name, _ in present)
    if flow.challenges:
        path = f"{flow.challenges[0].status} challenge, then " + path
    evidence = [Evidence("flow", path)]
    evidence += [Evidence(name, f"frame {m.frame} at +{m.time - invite.time:.3f} s") for name, m in present]
    if ringing is not None:
        evidence.append(Evidence("post-dial delay", f"{ringing.time - invite.time:.3f} s"))
    evidence.append(Evidence("answer time", f"{answer.time - invite.time:.3f} s"))
    evidence.append(Evidence("ACK delay", f"{ack.time - answer.time:.3f} s"))
    frames = [m.frame for _, m in present]
    display_filter = filters.call(ctx.call.call_id)
    if tx.request_retransmissions:
        first_response = tx.responses[0] if tx.responses else answer
        return warned(
            f"handshake complete, but the INVITE was retransmitted {tx.request_retransmissions} "
            f"time(s) before the first response ({first_response.time - invite.time:.3f} s)",
            remedy=REMEDY["slow"],
            evidence=evidence,
            frames=frames + [m.frame for m in tx.requests if m.retransmission],
            display_filter=display_filter,
        )
    return passed(f"{path}; answered after {answer.time - invite.time:.2f} s", evidence=evidence,
                  frames=frames, display_filter=display_filter)


RULE = Rule(id="SIP013", name="handshake", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN, Status.NA}))
