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
    inbound: Your side declined the call before it connected: check that the
    agent worker is running and being dispatched, that the dispatch rule's
    agent name matches the name the agent registers with, and that the agent
    does not end the session at once (look for early disconnects in its logs).

    outbound: The called party is busy; nothing to fix on the trunk. Retry
    later.

    livekit no agent: No agent joined the call's room before LiveKit's ringing
    timeout (or the room could not be joined): check that the agent worker is
    running and registered, that the dispatch rule names the agent exactly as
    the agent sets agent_name, and that the agent joins rooms promptly (its
    logs for this room).

Exceptions:
    600 Busy Everywhere is reported by SIP008.
"""

from __future__ import annotations

from ..model import SipMessage
from ..verdict import Outcome
from ._common import by_direction, final_code_rule, livekit_party
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    def failure(response: SipMessage) -> tuple[str, str]:
        rang = [r for t in ctx.flow.attempts for r in t.provisionals if r.status == 180]
        if livekit_party(ctx) == "callee" and (response.reason or "").strip().lower() == "rejected":
            how = f" after ringing {response.time - rang[0].time:.1f} s" if rang else ""
            return (f"LiveKit gave up waiting for an agent{how}: {response.label}", REMEDY["livekit no agent"])
        remedy = by_direction(ctx, inbound=REMEDY["inbound"], outbound=REMEDY["outbound"])
        return f"call declined as busy: {response.label}", remedy

    return final_code_rule(ctx, lambda r: r.status == 486, "486 Busy Here", failure)


RULE = Rule(id="SIP005", name="busy-here", scope="call", check=check, doc=__doc__ or "",
            finals=frozenset({486}))
