"""Per call: this call's traffic is in the capture but its initial INVITE is not (capture started late).

What it checks:
    For a Call-ID that has responses to an INVITE or in-dialog requests (BYE,
    ACK, re-INVITE, REFER ...), whether an initial INVITE (one without a To
    tag) is in the capture.

Why it matters:
    The INVITE and its responses decide the call's fate and carry the SDP
    offer. Without it, most checks can only guess: the capture started late
    or was taken on another leg of the call.

Evidence:
    The first message seen for the Call-ID, the methods present, and the
    display filter for the Call-ID.

Remedy:
    capture: Start the capture before the call is placed and stop it after the
    call ends, on the interface the call crosses (on a proxy or SBC, capture
    both legs).

Exceptions:
    A re-INVITE (with a To tag) does not count as the initial INVITE. Never
    a ``fail``: a capture that started late is a capture-window artifact, not
    a failed call; the call's other rules judge only what was captured. A
    Call-ID with only in-dialog requests and their responses (a BYE and its
    200, say) is a fragment of a call and is reported here as such.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, Status, passed, warned
from ._common import message_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    invite = flow.first_invite
    if flow.invite_captured and invite is not None:
        return passed(
            f"initial INVITE at frame {invite.frame}",
            frames=[invite.frame],
            display_filter=filters.method(ctx.call.call_id, "INVITE"),
        )
    messages = ctx.call.messages
    first = messages[0]
    methods = sorted({m.method or m.cseq_method or "?" for m in messages})
    if flow.attempts:
        summary = f"no initial INVITE for this Call-ID; the capture starts at {first.label} (frame {first.frame})"
    else:
        summary = (f"a fragment of a call: only {', '.join(methods)} in the capture, no INVITE transaction "
                   f"(first at frame {first.frame})")
    return warned(
        summary,
        remedy=REMEDY["capture"],
        evidence=[
            message_evidence("first message", first),
            Evidence("methods seen", ", ".join(methods)),
        ],
        frames=[first.frame],
        display_filter=filters.call(ctx.call.call_id),
    )


RULE = Rule(id="SIP001", name="invite-not-captured", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN}))
