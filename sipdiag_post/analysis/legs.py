"""Calls of one capture that are legs of one conversation.

A B2BUA (an SBC, a PBX, LiveKit's SIP service bridging to a provider) turns one
conversation into two calls with their own Call-IDs; a transfer adds a third.
They are tied together by the media they share (one RTP stream, or an
address:port both SDPs advertise), by correlation headers a B2BUA copies
from one leg to the other (X-CID, X-Call-ID, a provider's call id), and by
the headers of a transfer (Replaces, Refer-To). Pure functions over the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from ..model import Call, Endpoint
from .media import audio_endpoints

# X- headers that carry the same value on every leg of one conversation
CORRELATION_HEADERS = frozenset({
    "x-cid", "x-call-id", "x-callid", "x-original-call-id", "x-twilio-callsid", "x-call_session_id",
    "x-amzn-connectcontactid", "x-lk-callid", "x-correlation-id", "x-session-id",
})
# an address:port (or stream) named by more calls than this at once is a shared media port (a test tool,
# an SBC's pool), not the legs of one conversation
MAX_LEGS = 4
_REPLACES_IN_URI = re.compile(r"[?&]replaces=([^&>;]+)", re.IGNORECASE)
_URI_USER = re.compile(r"(?:sips?|tel):([^@;>?\s]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Leg:
    """Another call of the capture tied to this one, and how."""

    call_id: str
    how: str  # "shared RTP 10.0.0.1:4000", "X-CID abc", "Replaces", "Refer-To target"


def _user(uri: str | None) -> str | None:
    match = _URI_USER.search(uri or "")
    return match.group(1).lower() if match else None


def _overlapping(spans: list[tuple[float, float, str]]) -> list[list[str]]:
    """Call-IDs grouped by overlapping time spans (spans sorted by start)."""
    groups: list[list[str]] = []
    end = None
    for start, stop, call_id in spans:
        if end is None or start > end:
            groups.append([call_id])
            end = stop
        else:
            groups[-1].append(call_id)
            end = max(end, stop)
    return groups


def _endpoints(call: Call) -> set[Endpoint]:
    return {e for m in call.messages if m.sdp is not None for e in audio_endpoints(m.sdp)}


def _correlations(call: Call) -> set[tuple[str, str]]:
    return {(h.name.lower(), h.value.strip()) for m in call.messages for h in m.x_headers
            if h.name.lower() in CORRELATION_HEADERS and h.value.strip()}


def _replaced(call: Call) -> set[str]:
    """Call-IDs this call's Replaces headers, or its REFERs' Refer-To ?Replaces=, name."""
    found = set()
    for m in call.messages:
        if m.replaces:
            found.add(m.replaces.split(";", 1)[0].strip())
        for value in _REPLACES_IN_URI.findall(m.refer_to or ""):
            found.add(unquote(value).split(";", 1)[0].strip())
    return found


@dataclass(frozen=True)
class CallKeys:
    """What may tie a call to others, read once from its messages (a caller that analyses the same calls
    again, as streaming does, keeps them)."""

    endpoints: tuple[Endpoint, ...]  # the audio address:ports its SDPs advertise, in text order
    correlations: tuple[tuple[str, str], ...]  # (header name, value) of correlation headers, sorted
    replaced: frozenset[str]  # Call-IDs its Replaces headers or Refer-To ?Replaces= name
    window: tuple[float, float] | None  # its first and last message times; None without messages
    invited: tuple[str, float] | None  # the user its first initial INVITE's Request-URI names, and when
    refers: tuple[tuple[str | None, float], ...]  # each REFER's Refer-To user, and when


def call_keys(call: Call) -> CallKeys:
    first = next((m for m in call.messages if m.is_request and m.method == "INVITE" and m.to_tag is None), None)
    user = _user(first.request_uri) if first is not None else None
    return CallKeys(
        endpoints=tuple(sorted(_endpoints(call), key=str)),
        correlations=tuple(sorted(_correlations(call))),
        replaced=frozenset(_replaced(call)),
        window=(min(m.time for m in call.messages), max(m.time for m in call.messages)) if call.messages else None,
        invited=(user, first.time) if first is not None and user else None,
        refers=tuple((_user(m.refer_to), m.time) for m in call.messages
                     if m.is_request and m.method == "REFER" and m.refer_to),
    )


def related_legs(calls: Sequence[Call], keys: Sequence[CallKeys]) -> dict[str, tuple[Leg, ...]]:
    """For each Call-ID, the other calls of the capture tied to it (each once, the first reason found).
    keys: each call's CallKeys (call_keys), in the same order."""
    found: dict[str, dict[str, str]] = {c.call_id: {} for c in calls}

    def tie(a: str, b: str, how: str) -> None:
        if a != b:
            found[a].setdefault(b, how)
            found[b].setdefault(a, how)

    by_stream: dict[int, list[str]] = {}
    for call in calls:
        for stream in call.streams:
            by_stream.setdefault(id(stream), []).append(call.call_id)
    streams = {id(s): s for c in calls for s in c.streams}
    for key, ids in by_stream.items():
        if 1 < len(ids) <= MAX_LEGS:
            for other in ids[1:]:
                tie(ids[0], other, f"shared RTP {streams[key].src} -> {streams[key].dst}")
    window = {c.call_id: k.window for c, k in zip(calls, keys, strict=True) if k.window is not None}
    by_endpoint: dict[Endpoint, list[str]] = {}
    for call, k in zip(calls, keys, strict=True):
        for endpoint in k.endpoints:
            by_endpoint.setdefault(endpoint, []).append(call.call_id)
    for endpoint, ids in sorted(by_endpoint.items(), key=lambda kv: str(kv[0])):
        if len(ids) < 2:
            continue  # nothing to tie
        for group in _overlapping(sorted(window[i] + (i,) for i in ids if i in window)):
            if 1 < len(group) <= MAX_LEGS:
                for other in group[1:]:
                    tie(group[0], other, f"both SDPs name {endpoint}")
    by_value: dict[tuple[str, str], list[str]] = {}
    for call, k in zip(calls, keys, strict=True):
        for value_key in k.correlations:
            by_value.setdefault(value_key, []).append(call.call_id)
    for (name, value), ids in by_value.items():
        for other in ids[1:]:
            tie(ids[0], other, f"{name} {value}")
    known = {c.call_id for c in calls}
    for call, k in zip(calls, keys, strict=True):
        for target in sorted(k.replaced & known):
            tie(call.call_id, target, "Replaces")
    invited: dict[str, list[tuple[str, float]]] = {}
    for call, k in zip(calls, keys, strict=True):
        if k.invited is not None:
            invited.setdefault(k.invited[0], []).append((call.call_id, k.invited[1]))
    for call, k in zip(calls, keys, strict=True):
        for user, time in k.refers:
            for other, when in invited.get(user, []) if user else []:
                if when >= time:
                    tie(call.call_id, other, "Refer-To target")
    return {call_id: tuple(Leg(other, how) for other, how in legs.items()) for call_id, legs in found.items()}
