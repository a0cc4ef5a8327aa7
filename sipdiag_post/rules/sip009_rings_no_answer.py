"""The call rang (180/183) but was never answered.

What it checks:
    Whether an INVITE got 180 Ringing or 183 Session Progress and then no
    200 *because nobody answered*: it ended with CANCEL/487, 408, 480 or no
    final response at all, or the capture ended while it was still ringing.

Why it matters:
    Ringing proves the signalling path works end to end; what failed is the
    answering. On a call to an agent that usually means no agent was
    dispatched to take it.

Evidence:
    The first 180/183, how long the call rang, how it ended (the CANCEL and
    who sent it, the final response, or the end of the capture).

Remedy:
    inbound: Your side rang but nothing answered: give the agent an explicit
    name when it registers, use exactly that name in the dispatch rule, and
    check the agent worker is running.

    outbound: Nobody picked up in {seconds} s. If the caller gave up that
    early, lengthen its ringing timeout; otherwise there is nothing to fix.

Exceptions:
    A call refused without ringing is not this rule's (``n/a``); a call that
    rang and was answered passes. A call that rang and was then rejected
    (403, 404, 486, 488, 503, 603 ...) was not left unanswered: ``n/a``, the
    rule of that response speaks. A capture that ends while the call still
    rings is a ``warn``: the answer may simply not be in it.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import by_direction, direction_evidence, message_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


# final responses that mean nobody took the call (RFC 3261: 408 timeout, 480 unavailable, 487 cancelled)
NO_ANSWER = frozenset({408, 480, 487})


def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    if not flow.attempts:
        return not_applicable("no INVITE transaction in the capture")
    ringing = sorted(
        (r for t in flow.attempts for r in t.provisionals if r.status in (180, 181, 182, 183)),
        key=lambda r: r.time,
    )
    if not ringing:
        if flow.answered:
            return passed("answered without ringing")
        return not_applicable("the call never rang; its failure rule explains it")
    first = ringing[0]
    if flow.answered and flow.answer is not None:
        return passed(
            f"rang for {flow.answer.time - first.time:.1f} s, then answered (frame {flow.answer.frame})",
            frames=[first.frame, flow.answer.frame],
        )
    cancels = flow.requests("CANCEL")
    final = flow.decisive.final if flow.decisive else None
    if final is not None and final.status not in NO_ANSWER and not cancels:
        owner = ctx.final_rules.get(final.status or 0, "SIP008")
        return not_applicable(f"the call rang, then was rejected with {final.label}: not left unanswered "
                              f"({owner} reports it)")
    evidence = [message_evidence("ringing", first)]
    frames = [first.frame]
    if cancels:
        end, how = cancels[0].time, f"CANCEL from {cancels[0].src} at frame {cancels[0].frame}"
        evidence.append(message_evidence("CANCEL", cancels[0]))
        frames.append(cancels[0].frame)
        if final is not None:
            frames.append(final.frame)
    elif final is not None:
        end, how = final.time, f"{final.label} at frame {final.frame}"
        evidence.append(message_evidence("final response", final))
        frames.append(final.frame)
    else:
        end, how = ctx.capture_end, "the capture ended while it was still ringing"
    rang = max(0.0, end - first.time)
    evidence += [Evidence("rang for", f"{rang:.1f} s"), direction_evidence(ctx)]
    remedy = by_direction(
        ctx,
        inbound=REMEDY["inbound"],
        outbound=REMEDY["outbound"].format(seconds=f"{rang:.0f}"),
    )
    make = warned if final is None and not cancels else failed
    return make(
        f"rang for {rang:.1f} s and was never answered ({how})",
        remedy=remedy,
        evidence=evidence,
        frames=frames,
        display_filter=filters.call(ctx.call.call_id),
    )


RULE = Rule(id="SIP009", name="rings-no-answer", scope="call", check=check, doc=__doc__ or "")
