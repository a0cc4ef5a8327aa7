"""LiveKit's side of a call, recognised by what its SIP service really sends.

LiveKit's SIP service adds no User-Agent or Server header to its INVITEs and
responses; it is told by its fingerprints (the LiveKit note, read from its
source): its call id `SCL_...` as the To-tag of every response it sends when
it is called (inbound) and as the From-tag of the INVITE it sends when it
calls out (outbound), `s=LiveKit` in its SDP, `realm="LiveKit"` in its digest
challenges, `100 Processing`, and `User-Agent: LiveKit` on a BYE or CANCEL it
sends as the caller. Pure functions over the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import SipMessage
from .flow import CallFlow

CALLER, CALLEE = "caller", "callee"
LIVEKIT_ID_PREFIX = "SCL_"


@dataclass(frozen=True)
class LiveKitSide:
    """Which party of a call is LiveKit's SIP service, and the fingerprint that says so."""

    party: str  # caller (LiveKit placed the call: outbound) or callee (it was called: inbound)
    evidence: str  # "LiveKit's To-tag SCL_xxx on the 180 at frame 3"
    call_id: str | None  # LiveKit's call id (SCL_...), when a tag carries it


def _is_livekit_id(tag: str | None) -> bool:
    return bool(tag) and tag.startswith(LIVEKIT_ID_PREFIX)  # type: ignore[union-attr]


def _answered_by_callee(message: SipMessage, caller_tag: str | None) -> bool:
    """A response to the caller's request (it carries the caller's From-tag)."""
    return message.is_response and (caller_tag is None or message.from_tag == caller_tag)


def livekit_side(flow: CallFlow) -> LiveKitSide | None:
    """LiveKit's side of the call from its fingerprints, or None when nothing says LiveKit."""
    invite = flow.first_invite
    messages = flow.call.messages
    caller_tag = invite.from_tag if invite is not None else next((m.from_tag for m in messages if m.from_tag), None)
    if _is_livekit_id(caller_tag):
        where = f" of the INVITE at frame {invite.frame}" if invite is not None else ""
        return LiveKitSide(CALLER, f"LiveKit's From-tag {caller_tag}{where}", caller_tag)
    for m in messages:
        if _answered_by_callee(m, caller_tag) and _is_livekit_id(m.to_tag):
            return LiveKitSide(CALLEE, f"LiveKit's To-tag {m.to_tag} on the {m.label} at frame {m.frame}", m.to_tag)
    for m in messages:
        session = m.sdp.session_name if m.sdp is not None else None
        if session is not None and session.strip().lower() == "livekit":
            party = CALLER if (m.is_request) == (m.from_tag == caller_tag) else CALLEE
            return LiveKitSide(party, f"s=LiveKit in the SDP of the {m.label} at frame {m.frame}", None)
    for m in messages:
        if m.is_response and m.status in (401, 407) and (m.auth_realm or "").lower() == "livekit":
            return LiveKitSide(CALLEE, f'realm="LiveKit" in the {m.label} at frame {m.frame}', None)
        if m.is_response and m.status == 100 and (m.reason or "").lower() == "processing":
            return LiveKitSide(CALLEE, f"LiveKit's 100 Processing at frame {m.frame}", None)
    for m in messages:
        agent = m.agent
        if agent is not None and "livekit" in agent.lower():
            sender_is_caller = m.is_request == (m.from_tag == caller_tag)
            header = "User-Agent" if m.user_agent else "Server"
            return LiveKitSide(CALLER if sender_is_caller else CALLEE,
                               f"{header} {agent!r} on the {m.label} at frame {m.frame}", None)
    return None
