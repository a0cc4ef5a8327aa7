"""The INVITE carries no SDP offer (delayed offer).

What it checks:
    Whether each initial INVITE of the call has an SDP body. Without one the
    offer moves to the 200 OK and the answer to the ACK ("delayed offer",
    RFC 3261 13.2.1).

Why it matters:
    Services that need the caller's media details up front (to pick codecs,
    allocate media ports or start an agent) refuse or mishandle delayed-offer
    calls; some providers send them by default from certain trunks.

Evidence:
    The INVITE without SDP, and where the offer and answer were found
    (200 OK, ACK).

Remedy:
    early offer: Enable early offer on the calling side (the trunk's "early
    offer" / "SDP in INVITE" setting on the SBC or PBX) so the INVITE carries
    the media offer.

Exceptions:
    ``n/a`` when the INVITE is not in the capture.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Outcome, failed, not_applicable, passed
from ._common import message_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    invites = [t.request for t in ctx.flow.attempts if t.request is not None]
    if not invites:
        return not_applicable("the INVITE is not in the capture")
    without = [i for i in invites if not i.has_sdp]
    if not without:
        return passed(f"the INVITE carries the SDP offer (frame {invites[0].frame})", frames=[invites[0].frame])
    invite = without[0]
    evidence = [message_evidence("INVITE without SDP", invite)]
    frames = [invite.frame]
    later = [m for m in ctx.call.messages if m.has_sdp and m.time >= invite.time and not m.retransmission]
    for message in later[:2]:
        evidence.append(message_evidence("SDP in", message))
        frames.append(message.frame)
    return failed(
        f"delayed offer: the INVITE at frame {invite.frame} has no SDP",
        remedy=REMEDY["early offer"],
        evidence=evidence,
        frames=frames,
        display_filter=filters.method(ctx.call.call_id, "INVITE", "ACK"),
    )


RULE = Rule(id="SIP012", name="delayed-offer", scope="call", check=check, doc=__doc__ or "")
