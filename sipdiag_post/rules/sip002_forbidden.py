"""The INVITE was refused with 403 Forbidden.

What it checks:
    Whether the call's final response is 403, and what the Reason header
    says about it: a 403 carrying a Q.850 cause of the called party (21 call
    rejected, 17 busy, 18/19 no answer) was turned down by the callee or its
    network, not refused for the caller's credentials.

Why it matters:
    403 means the peer understood the call and will not carry it: wrong
    credentials, a source address the trunk does not allow, or a number the
    account may not use. Retrying changes nothing.

Evidence:
    The 403 and the INVITE it answers (frames, endpoints), Reason/Warning
    headers, whether a digest challenge came first, the call's direction.

Remedy:
    inbound: Your side refused the caller: check the inbound trunk's allowed
    addresses, allowed numbers and credentials against the caller's source
    address, number and auth.

    outbound: The provider refused the call: check that the trunk's username
    and password match the ones the provider issued, that the provider allows
    your signalling address, and that the caller ID is a number your account
    may use.

    rejected: The called side, or its network on its behalf, turned the call
    down (the Reason header's Q.850 cause says so): the trunk and its
    credentials worked. Check with the called party or its carrier why it
    rejects calls from this number (blocking, do-not-disturb, spam filtering);
    retrying does not help.

    fraud block: Twilio blocked the call as potential fraud (error 32203):
    check the trunk's geographic permissions for the destination, that the
    caller ID is a verified number of the account, and the call volume to that
    destination; Twilio support can lift a block that is wrong.

Exceptions:
    "Domestic Anchored Terms Not Met" is SIP003's (this rule's finding is
    then explained by it). A 403 after a digest challenge points at the
    credentials themselves.
"""

from __future__ import annotations

from ..model import SipMessage
from ..reasons import parse_reason
from ..verdict import Outcome
from ._common import by_direction, final_code_rule, x_header
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    def matches(response: SipMessage) -> bool:
        return response.status == 403

    def failure(response: SipMessage) -> tuple[str, str]:
        twilio = x_header(response, "X-Twilio-Error") or ""
        if twilio.split()[:1] == ["32203"]:
            return f"the provider blocked the call as potential fraud: {response.label}", REMEDY["fraud block"]
        rejected = next((r for r in map(parse_reason, response.reason_headers) if r.rejected_by_callee), None)
        if rejected is not None:
            return (f"call rejected by the called side: {response.label} with {rejected.describe()} "
                    "(not a credentials problem)", REMEDY["rejected"])
        after_challenge = bool(ctx.flow.challenges)
        summary = f"call refused: {response.label}"
        if after_challenge:
            summary += " after a digest challenge (credentials rejected)"
        remedy = by_direction(ctx, inbound=REMEDY["inbound"], outbound=REMEDY["outbound"])
        return summary, remedy

    return final_code_rule(ctx, matches, "403 Forbidden", failure)


RULE = Rule(id="SIP002", name="forbidden", scope="call", check=check, doc=__doc__ or "",
            finals=frozenset({403}))
