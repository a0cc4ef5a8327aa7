"""Digest challenges repeat without ever succeeding.

What it checks:
    Whether the call's INVITEs were challenged (401 Unauthorized or 407 Proxy
    Authentication Required) two or more times and never answered: the caller
    sends credentials, the peer keeps rejecting them.

Why it matters:
    One challenge followed by success is how authenticated trunks work.
    Challenges that repeat mean the credentials are wrong (or for the wrong
    realm), and no call on that trunk will connect.

Evidence:
    Each challenge with its realm, the username the caller sent, the final
    outcome.

Remedy:
    credentials: Check the trunk's auth username and password against the ones
    the provider issued for this trunk (not the account's web login), and that
    they are meant for the realm in the challenge; some providers also require
    the From user or source address to match the credentials.

Exceptions:
    ``n/a`` without challenges; ``pass`` when a challenge was followed by
    success, or by a failure of another kind (authentication worked). A single
    challenge never answered is SIP008's.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import message_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    challenges = flow.challenges
    if not challenges:
        return not_applicable("no authentication challenge")
    if flow.answered:
        return passed(f"challenged {len(challenges)} time(s), then answered (normal digest authentication)",
                      frames=[c.frame for c in challenges])
    if len(challenges) < 2:
        final = flow.decisive.final if flow.decisive else None
        if final is not None and final.status in (401, 407):
            return passed("challenged once and never retried (SIP008 reports the failure)")
        outcome = final.label if final is not None else "no final response"
        return passed(f"credentials accepted after the challenge; the call then ended with {outcome}")
    evidence = [message_evidence(f"challenge {i + 1}", c) for i, c in enumerate(challenges)]
    realms = sorted({c.auth_realm for c in challenges if c.auth_realm})
    users = sorted({t.request.auth_username for t in flow.attempts
                    if t.request is not None and t.request.auth_username})
    if realms:
        evidence.append(Evidence("realm", ", ".join(realms)))
    if users:
        evidence.append(Evidence("username sent", ", ".join(users)))
    return failed(
        f"challenged {len(challenges)} times and never accepted: credentials rejected",
        remedy=REMEDY["credentials"],
        evidence=evidence,
        frames=[c.frame for c in challenges],
        display_filter=f"{filters.call(ctx.call.call_id)} && (sip.Status-Code == 401 || sip.Status-Code == 407)",
    )


RULE = Rule(id="SIP014", name="auth-loop", scope="call", check=check, doc=__doc__ or "")
