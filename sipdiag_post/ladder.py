"""A call as a text ladder, like Wireshark's Flow Sequence.

Endpoints are lettered columns (a legend names them); each SIP message is an
arrow between its source's and destination's columns with its time since the
capture's first packet; offers and answers carry an SDP summary; each RTP
stream is a double arrow (===>) at its first packet, between the columns of
the parties that sent and received it, with its packet count.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from . import flow as flows
from .media import CALLEE, CALLER, media_view
from .model import Call, Endpoint, RtpStream, Sdp
from .render.common import safe_text

_SPACING = 28  # characters between two columns


@dataclass(frozen=True)
class _Event:
    time: float
    src: int  # column
    dst: int
    label: str
    note: str
    rtp: bool = False


def _sdp_note(sdp: Sdp) -> str:
    media = sdp.audio() or (sdp.media[0] if sdp.media else None)
    if media is None:
        return "SDP without media"
    names = ",".join(media.encoding(f) or f for f in media.formats)
    address = sdp.address_of(media) or "?"
    return f"SDP {names} @{address}:{media.port} {sdp.direction_of(media)}"


def _stream_note(stream: RtpStream) -> str:
    pts = ",".join(f"PT {p.pt}" for p in stream.payloads)
    return (f"{stream.src} -> {stream.dst} SSRC {stream.ssrc_hex}, {stream.packets} packets, "
            f"{stream.last_time - stream.first_time:.1f} s, lost {max(stream.lost, 0)}, {pts}")


def _columns(call: Call) -> list[Endpoint]:
    columns: list[Endpoint] = []
    for message in call.messages:
        for endpoint in (message.src, message.dst):
            if endpoint not in columns:
                columns.append(endpoint)
    return columns


def _arrow(src: int, dst: int, label: str, width: int, rtp: bool) -> str:
    canvas = [" "] * width
    for column in range(0, width, _SPACING):
        canvas[column] = "|"
    if src == dst:
        text = f"<{label}>"
        start = min(src + 2, max(0, width - len(text)))
        canvas[start:start + len(text)] = list(text)[: width - start]
        return "".join(canvas)
    low, high = sorted((src, dst))
    body = "=" if rtp else "-"
    for i in range(low + 1, high):
        canvas[i] = body
    if dst > src:
        canvas[high - 1] = ">"
    else:
        canvas[low + 1] = "<"
    room = high - low - 5
    text = f" {label} "[:room] if room > 2 else ""
    start = low + 1 + (high - low - 1 - len(text)) // 2
    canvas[start:start + len(text)] = list(text)
    return "".join(canvas)


def ladder(call: Call) -> str:
    flow = flows.analyse(call)
    view = media_view(flow)
    columns = _columns(call)
    letters = string.ascii_uppercase
    index = {endpoint: i * _SPACING for i, endpoint in enumerate(columns)}
    invite = flow.first_invite
    party_column = {}
    if invite is not None:
        party_column = {CALLER: index[invite.src], CALLEE: index[invite.dst]}
    events = []
    for message in call.messages:
        label = message.label + (" (again)" if message.retransmission else "")
        note = _sdp_note(message.sdp) if message.sdp is not None else ""
        events.append(_Event(message.time, index[message.src], index[message.dst], label, note))
    for stream in call.streams:
        sender = view.sender_of(stream)
        if sender in party_column and party_column:
            src, dst = party_column[sender], party_column[CALLEE if sender == CALLER else CALLER]
        else:
            src = dst = 0
        events.append(_Event(stream.first_time, src, dst, "RTP", _stream_note(stream), rtp=True))
    events.sort(key=lambda e: e.time)
    width = (len(columns) - 1) * _SPACING + 1 if columns else 1
    roles = {}
    if invite is not None:
        roles = {invite.src: "caller", invite.dst: "callee"}
    lines = [f"Call {safe_text(call.call_id)}"]
    for i, endpoint in enumerate(columns):
        role = f" ({roles[endpoint]})" if endpoint in roles else ""
        lines.append(f"  {letters[i % 26]} = {endpoint}{role}")
    header = [" "] * width
    for i in range(len(columns)):
        header[i * _SPACING] = letters[i % 26]
    lines.append(f"{'time (s)':>11}  " + "".join(header))
    for event in events:
        label = safe_text(event.label)
        row = _arrow(event.src, event.dst, label, width, event.rtp)
        cut = label not in row
        note = "  ".join(x for x in (label if cut else "", safe_text(event.note)) if x)
        note = f"  {note}" if note else ""
        lines.append(f"{event.time:11.6f}  {row}{note}".rstrip())
    return "\n".join(lines) + "\n"
