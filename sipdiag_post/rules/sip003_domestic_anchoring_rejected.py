"""The call was refused as 403 "Domestic Anchored Terms Not Met".

What it checks:
    Whether the final response is 403 and its reason phrase, Reason header
    or Warning header says "Domestic Anchored Terms Not Met".

Why it matters:
    Some countries require calls between their numbers to stay inside the
    country. A call routed through another region's infrastructure is
    refused by the provider, however right the credentials are.

Evidence:
    The 403 with the phrase and where it was found (reason phrase, Reason or
    Warning header), the INVITE, the call's direction.

Remedy:
    inbound: Have the provider send the call to a region-specific SIP endpoint
    in the caller's country (region pinning) so it never leaves that region.

    outbound: Set the outbound trunk's destination country so the call is
    placed from infrastructure in the destination's region (region pinning).

Exceptions:
    Other 403s are SIP002.
"""

from __future__ import annotations

import re

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule, response_text
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)

_PHRASE = re.compile(r"domestic\s+anchored", re.IGNORECASE)


def is_domestic_anchoring(response: SipMessage) -> bool:
    return response.status == 403 and bool(_PHRASE.search(response_text(response)))


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        remedy = by_direction(ctx, inbound=REMEDY["inbound"], outbound=REMEDY["outbound"])
        return f"refused by regional anchoring rules: {response.label}", remedy

    return final_code_rule(ctx, is_domestic_anchoring, '403 "Domestic Anchored Terms Not Met"', failure)


RULE = Rule(id="SIP003", name="domestic-anchoring-rejected", scope="call", check=check, doc=__doc__ or "",
            finals=frozenset({403}))
