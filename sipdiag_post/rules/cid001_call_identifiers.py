"""The identifiers that tie this call to other systems' records.

What it checks:
    Collects the SIP Call-ID, From and To, a LiveKit call id (``SCL_...``)
    wherever it appears, provider call ids carried in X- headers (Twilio
    ``X-Twilio-CallSid``, Telnyx ``X-call_session_id`` / ``X-call_leg_id``,
    Amazon Connect ``X-Amzn-ConnectContactId``) and the User-Agent/Server of
    each side.

Why it matters:
    Support requests and log searches need the right id for each system: the
    SIP Call-ID for SIP traces, the LiveKit id for the LiveKit dashboard, the
    provider's id for the provider's CDRs and support.

Evidence:
    Each identifier with the header it came from; and, when the tap's bounds
    kept part of the call out, how much (messages past the call's bound of
    2,000, which are repeats no verdict needs; X- headers past 64 a message;
    SDP m= lines past 16 an SDP).

Remedy:
    None: information only. Quote these ids when asking the provider or
    LiveKit support about the call.

Exceptions:
    Always ``info``.
"""

from __future__ import annotations

import re

from .. import filters
from ..verdict import Evidence, Outcome, Status, info
from .base import CallContext, Rule

# map from lower-case X- header name to what the id is
PROVIDER_HEADERS = {
    "x-twilio-callsid": "Twilio CallSid",
    "x-twilio-accountsid": "Twilio AccountSid",
    "x-call_session_id": "Telnyx call session id",
    "x-call_leg_id": "Telnyx call leg id",
    "x-telnyx-call-control-id": "Telnyx call control id",
    "x-amzn-connectcontactid": "Amazon Connect contact id",
}
_LIVEKIT_ID = re.compile(r"\bSCL_[A-Za-z0-9]+")
_MAX_OTHER_X = 10


def check(ctx: CallContext) -> Outcome:
    call = ctx.call
    evidence = [Evidence("SIP Call-ID", call.call_id)]
    if call.from_ is not None:
        evidence.append(Evidence("From", call.from_.uri))
    if call.to is not None:
        evidence.append(Evidence("To", call.to.uri))
    seen: set[tuple[str, str]] = set()
    livekit: list[str] = _LIVEKIT_ID.findall(call.call_id)
    providers: list[Evidence] = []
    others: list[Evidence] = []
    for message in call.messages:
        for header in message.x_headers:
            key = (header.name.lower(), header.value)
            if key in seen:
                continue
            seen.add(key)
            livekit += _LIVEKIT_ID.findall(header.value)
            label = PROVIDER_HEADERS.get(key[0])
            if label:
                providers.append(Evidence(f"{label} ({header.name})", header.value))
            elif len(others) < _MAX_OTHER_X:
                others.append(Evidence(header.name, header.value))
    side = ctx.direction.livekit
    if side is not None and side.call_id:
        livekit.insert(0, side.call_id)
    livekit = list(dict.fromkeys(livekit))
    evidence += [Evidence("LiveKit call id", lk) for lk in livekit]
    evidence += providers + others
    invite = ctx.flow.first_invite
    if invite is not None and invite.agent:
        evidence.append(Evidence("caller agent", invite.agent))
    answerer = next((r.agent for t in ctx.flow.attempts for r in t.responses if r.agent), None)
    if answerer:
        evidence.append(Evidence("callee agent", answerer))
    if call.messages_dropped:
        evidence.append(Evidence("messages not kept", f"{call.messages_dropped} of {call.total_messages} (repeats "
                                 "past the tap's bound; final responses, ACK, BYE, CANCEL, new requests and SDP "
                                 "kept)"))
    x_dropped = sum(m.x_headers_dropped for m in call.messages)
    if x_dropped:
        evidence.append(Evidence("X- headers not kept", f"{x_dropped} (past the tap's bound of 64 a message)"))
    media_dropped = sum(m.sdp.media_dropped for m in call.messages if m.sdp is not None)
    if media_dropped:
        evidence.append(Evidence("SDP m= lines not kept", f"{media_dropped} (past the tap's bound of 16 an SDP)"))
    ids = [f"Call-ID {call.call_id}"] + [f"{lk}" for lk in livekit] + [
        f"{e.label.split(' (')[0]} {e.value}" for e in providers
    ]
    return info("; ".join(ids), evidence=evidence, frames=[call.first_frame],
                display_filter=filters.call(call.call_id))


RULE = Rule(id="CID001", name="call-identifiers", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.INFO}))
