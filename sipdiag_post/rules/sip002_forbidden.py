"""The INVITE was refused with 403 Forbidden.

What it checks:
    Whether the call's final response is 403, other than the regional
    anchoring refusal that SIP003 reports.

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

Exceptions:
    "Domestic Anchored Terms Not Met" is SIP003. A 403 after a digest
    challenge points at the credentials themselves.
"""

from __future__ import annotations

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule
from .base import CallContext, Rule, remedies
from .sip003_domestic_anchoring_rejected import is_domestic_anchoring

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    def matches(response: SipMessage) -> bool:
        return response.status == 403 and not is_domestic_anchoring(response)

    def failure(response: SipMessage) -> tuple[str, str]:
        after_challenge = bool(ctx.flow.challenges)
        summary = f"call refused: {response.label}"
        if after_challenge:
            summary += " after a digest challenge (credentials rejected)"
        remedy = by_direction(ctx, inbound=REMEDY["inbound"], outbound=REMEDY["outbound"])
        return summary, remedy

    return final_code_rule(ctx, matches, "403 Forbidden", failure)


RULE = Rule(id="SIP002", name="forbidden", scope="call", check=check, doc=__doc__ or "",
            finals=frozenset({403}))
