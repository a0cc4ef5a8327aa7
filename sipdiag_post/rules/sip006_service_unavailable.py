"""The INVITE was answered 503 Service Unavailable.

What it checks:
    Whether the call's final response is 503.

Why it matters:
    A 503 from a provider on an outbound call most often means the trunk
    points at the wrong host (a project-specific subdomain of the provider's
    SIP domain instead of the domain itself), or the provider is overloaded
    or in maintenance. Either way no call on that trunk will connect.

Evidence:
    The 503 with its Retry-After, Reason (often a Q.850 cause) and Warning
    headers and the sender's Server header, the INVITE's Request-URI and
    destination address, the direction.

Remedy:
    inbound: Your SIP service answered that it cannot take calls: check its
    health, logs and capacity.

    outbound: Check the outbound trunk's address{host}: it must be the SIP
    host the provider documents, not a project-specific subdomain of it. If it
    is right, the provider is overloaded or in maintenance: check its status
    and honour Retry-After.

Exceptions:
    None.
"""

from __future__ import annotations

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        invite = ctx.flow.first_invite
        host = f" (the INVITE went to {invite.request_uri})" if invite and invite.request_uri else ""
        remedy = by_direction(
            ctx,
            inbound=REMEDY["inbound"],
            outbound=REMEDY["outbound"].format(host=host),
        )
        return f"service unavailable: {response.label}", remedy

    return final_code_rule(ctx, lambda r: r.status == 503, "503 Service Unavailable", failure)


RULE = Rule(id="SIP006", name="service-unavailable", scope="call", check=check, doc=__doc__ or "",
            finals=frozenset({503}))
