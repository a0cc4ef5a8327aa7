"""A call transfer (REFER) failed.

What it checks:
    For every REFER in the call: its final response, then the NOTIFYs that
    report the transfer's progress (a message/sipfrag body such as
    "SIP/2.0 200 OK"). It fails when the REFER is refused or times out
    (408), when a NOTIFY reports a failed transfer, or when no final NOTIFY
    arrives within the wait (5 s by default) after the REFER was accepted.

Why it matters:
    A transfer that fails leaves the caller on the original call, or drops
    them. A 408 to the REFER is the provider giving up waiting for the
    transfer target; a failure in the NOTIFY is the target's own answer.

Evidence:
    The REFER (Refer-To), its response, each NOTIFY's sipfrag status line,
    and the time between them.

Remedy:
    transfer: Check the transfer target: a well-formed sip: or tel: URI for a
    reachable number. Check the trunk may transfer calls to that destination
    and that the provider supports REFER on your account (some providers,
    Telnyx among them, must enable it); try the same transfer with the
    provider's own tools to tell a provider limit from a target problem.

    capture ended: Capture for longer.

    notify missing: The transfer seems to have worked, but the transferee
    never reported it: check that it sends NOTIFY with a message/sipfrag body
    for the REFER (RFC 3515), or that the REFER asked for none (Refer-Sub:
    false); the transferor may otherwise hang on to the call.

Exceptions:
    Judged on the whole transfer: a REFER challenged (401/407) and resent is
    judged by the resent one. When no final NOTIFY follows but the
    transferee's new INVITE to the Refer-To target is seen answered in the
    same capture, the transfer worked: ``warn``.
    ``n/a`` without a REFER. ``warn`` when the capture ends before the wait
    is over.
"""

from __future__ import annotations

import re

from .. import filters
from ..analysis.flow import Transaction
from ..model import SipMessage
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import message_evidence
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)
NOTIFY_WAIT = Threshold("notify_wait_s", 5.0, "s", "time a REFER's final NOTIFY may take after the 202")

_SIPFRAG = re.compile(r"^SIP/2\.0\s+(\d{3})")
_URI_USER = re.compile(r"(?:sips?|tel):([^@;>?\s]+)", re.IGNORECASE)


def sipfrag_status(notify: SipMessage) -> int | None:
    match = _SIPFRAG.match(notify.sipfrag or "")
    return int(match.group(1)) if match else None


def _notifies_after(ctx: CallContext, time: float) -> list[SipMessage]:
    return [
        m
        for m in ctx.flow.requests("NOTIFY")
        if m.time >= time and not m.retransmission and (m.sipfrag or "refer" in (m.event or "").lower())
    ]


def _judge(ctx: CallContext, refer: Transaction) -> Outcome:
    request = refer.request
    final = refer.final
    target = request.refer_to if request and request.refer_to else "?"
    evidence = [Evidence("Refer-To", target)]
    if request is not None:
        evidence.insert(0, message_evidence("REFER", request))
    frames = list(refer.frames())
    display_filter = filters.method(ctx.call.call_id, "REFER", "NOTIFY")
    wait = NOTIFY_WAIT.of(ctx.settings)
    if final is None:
        start = request.time if request else refer.start
        if ctx.capture_end - start < wait:
            return warned("the REFER got no final response before the capture ended",
                          remedy=REMEDY["capture ended"], evidence=evidence, frames=frames,
                          display_filter=display_filter)
        return failed(f"the REFER to {target} got no final response", remedy=REMEDY["transfer"],
                      evidence=evidence, frames=frames, display_filter=display_filter)
    evidence.append(message_evidence("REFER response", final))
    if (final.status or 0) >= 300:
        return failed(f"transfer to {target} refused: {final.label}", remedy=REMEDY["transfer"],
                      evidence=evidence, frames=frames, display_filter=display_filter)
    notifies = _notifies_after(ctx, final.time if request is None else request.time)
    statuses = [(n, sipfrag_status(n)) for n in notifies]
    for notify, _ in statuses:
        evidence.append(message_evidence(f"NOTIFY ({notify.sipfrag or 'no sipfrag'})", notify))
        frames.append(notify.frame)
    finals = [(n, s) for n, s in statuses if s is not None and s >= 200]
    if finals:
        notify, status = finals[0]
        if status >= 300:
            return failed(f"transfer to {target} failed: the target answered {notify.sipfrag}",
                          remedy=REMEDY["transfer"], evidence=evidence, frames=frames, display_filter=display_filter)
        return passed(f"transfer to {target} succeeded ({notify.sipfrag}, frame {notify.frame})",
                      evidence=evidence, frames=frames, display_filter=display_filter)
    waited = ctx.capture_end - final.time
    target_call = _answered_target(ctx, request, final.time)
    if target_call is not None:
        other, answer = target_call
        evidence.append(Evidence("the transferee's call to the target", f"Call-ID {other}, answered at frame "
                                 f"{answer.frame} ({answer.label})"))
        return warned(f"transfer to {target}: no final NOTIFY, but the transferee's call to the target was "
                      f"answered (frame {answer.frame})", remedy=REMEDY["notify missing"], evidence=evidence,
                      frames=[*frames, answer.frame],
                      display_filter=f"({display_filter}) || ({filters.final(other, answer.status or 200)})")
    if waited < wait:
        return warned(f"no final NOTIFY yet when the capture ended {waited:.1f} s after the REFER was accepted",
                      remedy=REMEDY["capture ended"], evidence=evidence, frames=frames,
                      display_filter=display_filter)
    return failed(f"transfer to {target}: no final NOTIFY within {wait:.0f} s of {final.label}",
                  remedy=REMEDY["transfer"], evidence=evidence, frames=frames, display_filter=display_filter)


_RANK = {"fail": 0, "warn": 1, "pass": 2}


def _user(uri: str | None) -> str | None:
    """The user part of a SIP/tel URI ("+15550100" of "<sip:+15550100@host;user=phone>"), lower-cased."""
    match = _URI_USER.search(uri or "")
    return match.group(1).lower() if match else None


def _answered_target(ctx: CallContext, refer: SipMessage | None, after: float) -> tuple[str, SipMessage] | None:
    """Another call of the capture placed to the REFER's target after it, and its answer."""
    wanted = _user(refer.refer_to) if refer is not None else None
    if wanted is None:
        return None
    for flow in ctx.capture.flows:
        invite = flow.first_invite
        if (flow.call.call_id != ctx.call.call_id and invite is not None and invite.time >= after
                and flow.answer is not None and _user(invite.request_uri) == wanted):
            return flow.call.call_id, flow.answer
    return None


def _retried(refers: list[Transaction]) -> list[Transaction]:
    """The REFERs to judge: a REFER challenged (401/407) and then resent is judged by the resent one."""
    return [t for i, t in enumerate(refers)
            if not (t.final is not None and t.final.status in (401, 407) and i + 1 < len(refers))]


def check(ctx: CallContext) -> Outcome:
    refers = _retried([t for t in ctx.flow.of_method("REFER") if t.requests or t.responses])
    if not refers:
        return not_applicable("no REFER in this call")
    outcomes = [_judge(ctx, t) for t in refers]
    return min(outcomes, key=lambda o: _RANK.get(o.status.value, 3))


RULE = Rule(id="SIP011", name="transfer-failed", scope="call", check=check, doc=__doc__ or "",
            thresholds=(NOTIFY_WAIT,))
