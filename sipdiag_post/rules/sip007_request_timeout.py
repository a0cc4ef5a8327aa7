"""The INVITE timed out: a 408, or no final response at all.

What it checks:
    Whether the call ended with 408 Request Timeout, or its last INVITE got
    no response at all: retransmitted (over UDP) and then silence, for at
    least the INVITE timeout (Timer B, 32 s) or until the capture ended.

Why it matters:
    Silence means the INVITE did not reach anything that could answer:
    wrong trunk address or port, a firewall, a transport mismatch. A 408
    from the far side means it reached a provider that could not reach the
    destination in time: an invalid or unreachable number, or a routing
    problem at the provider.

Evidence:
    The 408 (or the INVITE and each retransmission), how long the capture
    ran after the INVITE, the destination address, port and transport.

Remedy:
    silence: Nothing answered the INVITE. Check the trunk's destination
    address, port and transport (UDP/TCP/TLS must match what the peer listens
    on), that firewalls and security groups let SIP through in both
    directions, and that the peer accepts calls from your address (many
    providers silently drop INVITEs from unknown sources).

    inbound 408: Your side gave up waiting for the call to be taken: check
    that the agent or service behind the trunk is up and answers promptly.

    outbound 408: The far side could not reach the destination in time: check
    the dialled number is valid and reachable, find the call in the provider's
    CDRs, and ask the provider to check routing if the same destination keeps
    timing out.

    trying only: Capture for longer; if the call really hangs here, the far
    side accepted the INVITE but never completed it: check its logs for this
    Call-ID.

    capture ended: Capture for longer (at least 32 s after the INVITE) to tell
    a slow peer from an unreachable one.

    stalled: The far side accepted the INVITE (its 100) but never completed
    it: look up this Call-ID in its logs. A SIP service that drops calls it
    will not take after answering 100 (flood protection, a source address or
    number no trunk matches) looks exactly like this; check its trunk and rate
    settings.

    livekit dropped: LiveKit answered 100 Processing (it does so before
    checking anything) and then dropped the call before dispatching it: its
    flood protection (too many calls from one source at once) or a source that
    no inbound trunk allows. Check the inbound trunk's allowed addresses and
    numbers against this call, look for it in the project's SIP call logs, and
    spread call bursts out.

    livekit silent: Nothing answered the INVITE sent to LiveKit's SIP service.
    With hide_inbound_port: true LiveKit sends not even 100 Processing for a
    call it drops (flood protection, a source no trunk allows); otherwise
    check the address, port (5060) and transport the provider uses, and that
    firewalls let SIP through both ways.

    our side silent: If your side is LiveKit's SIP service: with
    hide_inbound_port: true it answers nothing at all to a call it drops (its
    flood protection, a source no inbound trunk allows); check the trunk's
    allowed addresses and the project's SIP call logs.

Exceptions:
    A capture that ends before the INVITE could time out, with no
    retransmission seen, is a ``warn``. An INVITE that got 180/183 and then
    nothing is SIP009's. Only 100 Trying and then nothing is a ``warn`` while
    the capture is shorter than the INVITE timeout, a ``fail`` after it.
"""

from __future__ import annotations

from .. import filters
from ..analysis.direction import DirectionKind
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import by_direction, direction_evidence, livekit_party, message_evidence, response_details
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)

INVITE_TIMEOUT = Threshold("invite_timeout_s", 32.0, "s",
                           "an INVITE unanswered this long has timed out (Timer B, 64*T1)")


def _silence_remedy(ctx: CallContext) -> str:
    """Nothing answered: LiveKit's reading when it (or our side, named by --local) was called."""
    if livekit_party(ctx) == "callee":
        return REMEDY["livekit silent"]
    if ctx.direction.kind is DirectionKind.INBOUND:
        return REMEDY["silence"] + " " + REMEDY["our side silent"]
    return REMEDY["silence"]


def check(ctx: CallContext) -> Outcome:
    flow = ctx.flow
    if not flow.attempts:
        return not_applicable("no INVITE transaction in the capture")
    if flow.answered and flow.answer is not None:
        return passed(f"answered with {flow.answer.label}")
    tx = flow.decisive
    if tx is None:
        return not_applicable("no INVITE transaction in the capture")
    final = tx.final
    call_id = ctx.call.call_id
    if final is not None and final.status == 408:
        remedy = by_direction(
            ctx,
            inbound=REMEDY["inbound 408"],
            outbound=REMEDY["outbound 408"],
        )
        return failed(
            f"request timeout: {final.label}",
            remedy=remedy,
            evidence=[message_evidence("final response", final), *response_details(final),
                      direction_evidence(ctx)],
            frames=[final.frame, *([tx.request.frame] if tx.request else [])],
            display_filter=filters.final(call_id, 408),
        )
    if final is not None:
        return passed(f"final response {final.label} (not a timeout)")
    request = tx.request
    if request is None:
        return not_applicable("the INVITE is not in the capture")
    provisionals = tx.provisionals
    waited = ctx.capture_end - request.time
    if any(r.status and r.status >= 180 for r in provisionals):
        return passed("the INVITE got a ringing/progress response; see SIP009 for the outcome")
    evidence = [
        message_evidence("INVITE", request),
        Evidence("retransmissions", str(tx.request_retransmissions)),
        Evidence("capture continued after INVITE", f"{waited:.1f} s"),
        Evidence("sent to", f"{request.dst} over {request.transport}"),
    ]
    frames = [m.frame for m in tx.requests] + [r.frame for r in provisionals]
    display_filter = filters.method(call_id, "INVITE")
    timeout = INVITE_TIMEOUT.of(ctx.settings)
    if provisionals:
        stalled = REMEDY["livekit dropped"] if livekit_party(ctx) == "callee" else REMEDY["stalled"]
        make, remedy = (failed, stalled) if waited >= timeout else (warned, REMEDY["trying only"])
        return make(
            f"only {provisionals[0].label}, then no final response for {waited:.1f} s"
            + ("" if waited >= timeout else " before the capture ended"),
            remedy=remedy,
            evidence=[*evidence, message_evidence("provisional", provisionals[0])],
            frames=frames,
            display_filter=display_filter,
        )
    if tx.request_retransmissions == 0 and waited < timeout:
        return warned(
            f"no response to the INVITE before the capture ended ({waited:.1f} s later)",
            remedy=REMEDY["capture ended"] + " " + REMEDY["silence"],
            evidence=evidence,
            frames=frames,
            display_filter=display_filter,
        )
    return failed(
        f"no response to the INVITE: {tx.request_retransmissions} retransmission(s), "
        f"then silence for {waited:.1f} s",
        remedy=_silence_remedy(ctx),
        evidence=[*evidence, direction_evidence(ctx)],
        frames=frames,
        display_filter=display_filter,
    )


RULE = Rule(id="SIP007", name="request-timeout", scope="call", check=check, doc=__doc__ or "",
            thresholds=(INVITE_TIMEOUT,), finals=frozenset({408}))
