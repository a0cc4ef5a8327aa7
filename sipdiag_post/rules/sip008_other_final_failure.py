"""The INVITE failed with another 4xx, 5xx or 6xx response.

What it checks:
    Whether the call's final response is a failure that no more specific
    rule covers (403 is SIP002/SIP003, 404 SIP004, 408 SIP007, 486 SIP005,
    503 SIP006, repeated 401/407 SIP014), and explains the code from the
    standard response table: 480, 487 after CANCEL, 488, 603 and so on.

Why it matters:
    Every final failure code names a cause; reading it right tells whether to
    fix the number, the codecs, the trunk or nothing at all.

Evidence:
    The final response with its Reason/Warning headers, what the code means,
    the CANCEL that preceded a 487, the INVITE. The remedy for each code comes
    from the response table (sipdiag_post/responses.py).

Remedy:
    no credentials: The caller never retried with credentials after the
    challenge: configure the trunk's username and password (the caller has
    none set).

Exceptions:
    A single 401/407 that the caller never answered with credentials is
    reported here (the caller has none configured); repeated challenges are
    SIP014.
"""

from __future__ import annotations

from ..model import SipMessage
from ..reasons import parse_reason
from ..responses import describe
from ..verdict import Outcome, passed
from ._common import final_code_rule
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)

def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    elsewhere = ctx.final_rules  # final status -> the rule(s) that report it, from the registry
    final = flow.decisive.final if flow.decisive is not None else None
    if final is not None and not flow.answered and final.status in elsewhere:
        return passed(f"final response {final.label} is reported by {elsewhere[final.status]}")
    if final is not None and final.status in (401, 407) and len(flow.challenges) >= 2:
        return passed(f"final response {final.label} after repeated challenges is reported by SIP014")

    def matches(response: SipMessage) -> bool:
        status = response.status or 0
        if status < 400 or status in elsewhere:
            return False
        return not (status in (401, 407) and len(flow.challenges) >= 2)

    def failure(response: SipMessage) -> tuple[str, str]:
        meaning, advice = describe(response.status or 0)
        summary = f"call failed: {response.label} ({meaning})"
        causes = [r.describe() for r in map(parse_reason, response.reason_headers) if r.cause is not None]
        if causes:
            summary += "; Reason " + ", ".join(causes)
        if response.status == 487:
            cancels = flow.requests("CANCEL")
            if cancels:
                summary += f"; CANCEL sent at frame {cancels[0].frame}"
        if response.status in (401, 407):
            advice = REMEDY["no credentials"]
        return summary, advice

    return final_code_rule(ctx, matches, "other failure", failure)


RULE = Rule(id="SIP008", name="other-final-failure", scope="call", check=check, doc=__doc__ or "")
