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

Exceptions:
    604 "Does Not Exist Anywhere" is reported by SIP008.
"""

from __future__ import annotations

import re

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule, response_text
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)

_TRUNK = re.compile(r"object cannot be found|twirp|trunk", re.IGNORECASE)
_DESTINATION = re.compile(r"destination|not in service|does ?n.t exist|no such|unallocated|number",
                          re.IGNORECASE)


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        text = response_text(response)
        uri = ctx.flow.first_invite.request_uri if ctx.flow.first_invite else None
        target = f" ({uri})" if uri else ""
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
