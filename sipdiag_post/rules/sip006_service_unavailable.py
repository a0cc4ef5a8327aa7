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

    livekit quota: LiveKit refused the call because the project is at its
    limit (concurrent calls or minutes of its plan): check the usage and
    limits of the project in LiveKit Cloud and raise them, or end calls that
    linger.

    livekit try later: LiveKit hit an error of its own while taking the call
    (its auth back end or the dispatch of the room): it is worth retrying;
    check LiveKit's status page and the project's SIP call logs for this call.

    rate limit: The provider refused the call for its rate limit (calls per
    second or concurrent calls on the trunk): spread the calls out, and ask
    the provider to raise the trunk's limits.

Exceptions:
    None.
"""

from __future__ import annotations

import re

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule, livekit_party
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


# LiveKit's phrases (pkg/sip/inbound.go) and a provider's rate-limit bodies (Twilio's, as LiveKit reads them)
_LK_QUOTA = re.compile(r"service temporarily unavailable", re.IGNORECASE)
_LK_TRY_LATER = re.compile(r"try again later", re.IGNORECASE)
_RATE_LIMIT = re.compile(r"cps limit exceeded|concurrent call limit exceeded|rate limit", re.IGNORECASE)


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        text = " ".join((response.reason or "", response.body or ""))
        if livekit_party(ctx) == "callee":
            if _LK_QUOTA.search(text):
                return f"LiveKit refused the call for the account's limits: {response.label}", REMEDY["livekit quota"]
            if _LK_TRY_LATER.search(text):
                return f"LiveKit could not take the call just now: {response.label}", REMEDY["livekit try later"]
        if _RATE_LIMIT.search(text):
            limit = _RATE_LIMIT.search(text).group(0)  # type: ignore[union-attr]
            return f"the provider's rate limit: {response.label} ({limit})", REMEDY["rate limit"]
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
