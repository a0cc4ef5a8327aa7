"""The INVITE was answered 404 Not Found.

What it checks:
    Whether the call's final response is 404, and which kind: a trunk or
    object that does not exist on the service side (a phrase such as "object
    cannot be found"), or a destination that does not exist or is not in
    service.

Why it matters:
    The two kinds have different owners: a wrong trunk ID is a configuration
    fix on your side; an invalid destination is a number to correct.

Evidence:
    The 404, its reason phrase and Reason/Warning headers, the INVITE's
    Request-URI, the direction, and which kind the phrase points to.

Remedy:
    trunk: Check that the trunk the call was placed with exists and that its
    ID is spelled exactly as in the project (a deleted or mistyped trunk ID
    gives this).

    destination: Check the dialled number{target}: complete, in E.164 form
    (+country code), and in service. The provider's CDR for the call usually
    says which.

    inbound: Your side found nothing for the called number{target}: check that
    an inbound trunk lists that number and a dispatch rule routes it.

    livekit no trunk: LiveKit found no inbound trunk for this call: check the
    inbound trunk's numbers (the called number{target} must be listed, in the
    form the provider sends it, usually E.164 with +), its allowed addresses
    (the provider's signalling addresses must be among them), and its username
    and password if it has them.

    livekit no dispatch rule: The inbound trunk matched, but no dispatch rule
    takes the call: create a dispatch rule for this trunk (or for all trunks)
    that covers the called number{target}, with the room and agent it should
    go to.

Exceptions:
    604 "Does Not Exist Anywhere" is reported by SIP008.
"""

from __future__ import annotations

import re

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule, livekit_party, response_text
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)

# LiveKit's own phrases (its SIP service, pkg/sip/inbound.go)
_LK_NO_TRUNK = re.compile(r"does not match any sip trunks|no trunk found", re.IGNORECASE)
_LK_NO_DISPATCH = re.compile(r"does not match trunks or dispatch rules", re.IGNORECASE)
_TRUNK = re.compile(r"object cannot be found|twirp|trunk", re.IGNORECASE)
_DESTINATION = re.compile(r"destination|not in service|does ?n.t exist|no such|unallocated|number",
                          re.IGNORECASE)


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        text = response_text(response)
        uri = ctx.flow.first_invite.request_uri if ctx.flow.first_invite else None
        target = f" ({uri})" if uri else ""
        if livekit_party(ctx) == "callee":
            if _LK_NO_DISPATCH.search(text):
                return (f"LiveKit matched an inbound trunk but no dispatch rule: {response.label}",
                        REMEDY["livekit no dispatch rule"].format(target=target))
            if _LK_NO_TRUNK.search(text):
                return (f"LiveKit matched no inbound trunk: {response.label}",
                        REMEDY["livekit no trunk"].format(target=target))
        if _TRUNK.search(text):
            return f"{response.label}: the trunk or object referenced does not exist", REMEDY["trunk"]
        destination_remedy = REMEDY["destination"].format(target=target)
        if _DESTINATION.search(text):
            return f"{response.label}: the destination does not exist or is not in service", destination_remedy
        remedy = by_direction(
            ctx,
            inbound=REMEDY["inbound"].format(target=target),
            outbound=destination_remedy,
        )
        return f"{response.label}: the called number or user was not found", remedy

    return final_code_rule(ctx, lambda r: r.status == 404, "404 Not Found", failure)


RULE = Rule(id="SIP004", name="not-found", scope="call", check=check, doc=__doc__ or "",
            finals=frozenset({404}))
