"""The DTMF digits of a call: RFC 4733 telephone-events and SIP INFO, in time order.

RFC 4733 events come from the tap (one per event, its end-packet triple
counted once) on payload types the call's SDP maps to telephone-event; SIP
INFO digits are read from `application/dtmf-relay` (``Signal=5`` /
``Duration=160``) and `application/dtmf` (``5``) bodies. An event is
*negotiated* when an SDP answer of the call lists its payload type as
telephone-event on an audio line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import RtpStream, SipMessage
from .media import MediaView

RFC4733, SIP_INFO = "RFC 4733", "SIP INFO"
# Signal= values some senders write as RFC 4733 event codes
_SIGNAL_CODES = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D", "16": "flash"}
_KEYS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class Digit:
    """One DTMF digit as it crossed the wire."""

    key: str  # "0"-"9", "*", "#", "A"-"D", "flash", or "event N"
    time: float  # s since the capture's first packet: its first packet or the INFO request
    method: str  # RFC4733 or SIP_INFO
    frame: int  # its first packet, or the INFO request's frame
    sender: str | None  # caller or callee; None when not told
    duration_ms: int | None = None  # as the event or the INFO body states it; None when not stated
    pt: int | None = None  # RFC 4733: the payload type it came on
    stream: RtpStream | None = None  # RFC 4733: the stream that carried it
    ended: bool = True  # RFC 4733: an end packet was seen


@dataclass(frozen=True)
class Unnegotiated:
    """Telephone-events sent on a payload type no SDP answer of the call agreed to."""

    stream: RtpStream
    pt: int
    digits: tuple[Digit, ...]
    answered: tuple[int, ...]  # the telephone-event payload types the answers did list; () when none


@dataclass(frozen=True)
class DtmfView:
    digits: tuple[Digit, ...]  # every digit of the call, in time order
    unnegotiated: tuple[Unnegotiated, ...]  # events on payload types the answer lacks
    dropped: int  # events past the tap's per-stream bound

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in (RFC4733, SIP_INFO) if any(d.method == m for d in self.digits))


def answered_event_types(view: MediaView) -> tuple[int, ...] | None:
    """The payload types the call's SDP answers list as telephone-event on audio lines; None without
    any answer (nothing was agreed, so nothing can be said about what was not)."""
    answers = [e.answer_sdp for e in view.exchanges if e.answer_sdp is not None]
    if not answers:
        return None
    found = {int(f) for sdp in answers for m in sdp.media if m.type == "audio"
             for f in m.formats if f.isdigit() and (m.encoding(f) or "").lower() == "telephone-event"}
    return tuple(sorted(found))


def info_digit(message: SipMessage) -> tuple[str, int | None] | None:
    """The key and duration (ms) an INFO request carries, or None when it carries no DTMF."""
    ctype = (message.content_type or "").split(";")[0].strip().lower()
    body = (message.body or "").strip()
    if ctype == "application/dtmf-relay":
        fields = {}
        for line in body.splitlines():
            name, sep, value = line.partition("=")
            if sep:
                fields[name.strip().lower()] = value.strip()
        signal = fields.get("signal", "")
        key = _SIGNAL_CODES.get(signal, signal.upper())
        duration = fields.get("duration", "")
        if key in _KEYS or key == "flash":
            return key, int(duration) if duration.isdigit() else None
        return None
    if ctype == "application/dtmf":
        key = body[:1].upper()
        return (key, None) if key in _KEYS else None
    return None


def dtmf_view(view: MediaView) -> DtmfView:
    """The call's DTMF: RFC 4733 events of its streams and DTMF INFO requests, and the events sent on
    payload types the answers did not agree to."""
    digits: list[Digit] = []
    for stream in view.streams:
        sender = view.sender_of(stream)
        for e in stream.events:
            digits.append(Digit(key=e.key, time=e.start_time, method=RFC4733, frame=e.frame, sender=sender,
                                duration_ms=e.duration_ms, pt=e.pt, stream=stream, ended=e.ended))
    for message in view.flow.call.messages:
        if message.is_request and message.method == "INFO" and not message.retransmission:
            found = info_digit(message)
            if found is not None:
                digits.append(Digit(key=found[0], time=message.time, method=SIP_INFO, frame=message.frame,
                                    sender=view.party_of(message), duration_ms=found[1]))
    digits.sort(key=lambda d: (d.time, d.frame))
    answered = answered_event_types(view)
    unnegotiated = []
    if answered is not None:
        for stream in view.streams:
            for pt in sorted({e.pt for e in stream.events} - set(answered)):
                sent = tuple(d for d in digits if d.stream is stream and d.pt == pt)
                unnegotiated.append(Unnegotiated(stream=stream, pt=pt, digits=sent, answered=answered))
    return DtmfView(digits=tuple(digits), unnegotiated=tuple(unnegotiated),
                    dropped=sum(s.events_dropped for s in view.streams))
