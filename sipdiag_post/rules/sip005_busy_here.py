"""The INVITE was answered 486 Busy Here.

What it checks:
    Whether the call's final response is 486.

Why it matters:
    On a call to a person, busy is a normal outcome. On a call to an agent it
    is not: the side that should answer declined it before it connected,
    which usually means nothing was ready to take the call.

Evidence:
    The 486 with Reason/Warning headers and the sender's Server header, the
    INVITE, the call's direction.

Remedy:
    Inbound (your side answered busy): check that the agent worker is running
    and gets dispatched, that the dispatch rule names the agent exactly as the
    agent registers itself, and that the agent does not end the session
    straight away (look for early disconnects in the worker's logs).
    Outbound (the provider answered busy): the person called is busy; retry
    later.

Exceptions:
    600 Busy Everywhere is reported by SIP008.
"""

from __future__ import annotations

from ..model import SipMessage
from ._common import by_direction, final_code_rule
from .base import CallContext, Outcome, Rule


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        remedy = by_direction(
            ctx,
            inbound=(
                "Your side declined the call before it connected: check that the agent worker is "
                "running and being dispatched, that the dispatch rule's agent name matches the name "
                "the agent registers with, and that the agent does not end the session at once "
                "(look for early disconnects in its logs)."
            ),
            outbound="The called party is busy; nothing to fix on the trunk. Retry later.",
        )
        return f"call declined as busy: {response.label}", remedy

    return final_code_rule(ctx, lambda r: r.status == 486, "486 Busy Here", failure)


RULE = Rule(id="SIP005", name="busy-here", scope="call", check=check, doc=__doc__ or "")
