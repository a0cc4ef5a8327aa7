"""A call as a ladder, like Wireshark's Flow Sequence: the steps (build) and the text drawing.

Endpoints are columns; each SIP message is an arrow between its source's and
destination's columns with its time since the capture's first packet; offers
and answers carry an SDP summary; each RTP stream is an arrow at its first
packet, between the columns of the parties that sent and received it, with
its packet count; each DTMF digit sent as an RFC 4733 event is an arrow of its
own, and an INFO that carries one is labelled with it. The text drawing letters the columns (a legend names them)
and draws RTP as a double arrow (===>); render/html.py draws the same steps
as SVG. Both read the call's analysis; neither builds one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from ..analysis import CallAnalysis
from ..analysis.dtmf import RFC4733, SIP_INFO
from ..analysis.media import CALLEE, CALLER
from ..model import Endpoint, RtpStream, Sdp
from ..text import display_text

_SPACING = 28  # characters between two columns


@dataclass(frozen=True)
class Step:
    """One arrow of the ladder."""

    time: float  # s since the capture's first packet
    src: int  # column index
    dst: int
    label: str  # method, "status reason", or "RTP"
    note: str  # SDP summary, or the stream's numbers
    frame: int
    rtp: bool = False
    retransmission: bool = False
    status: int | None = None  # a response's status code
    sdp: str = ""  # "offer" or "answer" when the message carries one of the call's SDP exchanges


@dataclass(frozen=True)
class Ladder:
    columns: tuple[Endpoint, ...]
    roles: dict[Endpoint, str]  # caller / callee, for the initial INVITE's ends
    steps: tuple[Step, ...]  # in time order


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


def _columns(messages) -> list[Endpoint]:
    columns: list[Endpoint] = []
    for message in messages:
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


def build(analysis: CallAnalysis) -> Ladder:
    """The call's ladder from its analysis."""
    view, flow, call = analysis.media, analysis.flow, analysis.call
    columns = _columns(call.messages)
    index = {endpoint: i for i, endpoint in enumerate(columns)}
    invite = flow.first_invite
    party_column = {}
    roles: dict[Endpoint, str] = {}
    if invite is not None:
        party_column = {CALLER: index[invite.src], CALLEE: index[invite.dst]}
        roles = {invite.src: "caller", invite.dst: "callee"}
    roles_of_sdp = {}
    for exchange in view.exchanges:
        for message, role in ((exchange.offer, "offer"), (exchange.answer, "answer")):
            if message is not None:
                roles_of_sdp[(message.frame, message.index)] = role
    steps = []
    info_digits = {d.frame: d for d in analysis.dtmf.digits if d.method == SIP_INFO}
    for message in call.messages:
        note = _sdp_note(message.sdp) if message.sdp is not None else ""
        digit = info_digits.get(message.frame) if message.method == "INFO" else None
        if digit is not None:
            note = f"DTMF {digit.key}" + (f", {digit.duration_ms} ms" if digit.duration_ms is not None else "")
        steps.append(Step(message.time, index[message.src], index[message.dst], message.label, note, message.frame,
                          retransmission=message.retransmission, status=message.status,
                          sdp=roles_of_sdp.get((message.frame, message.index), "")))
    for stream in call.streams:
        sender = view.sender_of(stream)
        if sender in party_column and party_column:
            src, dst = party_column[sender], party_column[CALLEE if sender == CALLER else CALLER]
        else:
            src = dst = 0
        steps.append(Step(stream.first_time, src, dst, "RTP", _stream_note(stream), stream.first_frame, rtp=True))
    for digit in analysis.dtmf.digits:
        if digit.method != RFC4733:
            continue
        if digit.sender in party_column:
            src, dst = party_column[digit.sender], party_column[CALLEE if digit.sender == CALLER else CALLER]
        else:
            src = dst = 0
        duration = f", {digit.duration_ms} ms" if digit.duration_ms is not None else ""
        steps.append(Step(digit.time, src, dst, f"DTMF {digit.key}",
                          f"RFC 4733 telephone-event on payload type {digit.pt}{duration}", digit.frame, rtp=True))
    steps.sort(key=lambda e: e.time)
    return Ladder(columns=tuple(columns), roles=roles, steps=tuple(steps))


def ladder_text(analysis: CallAnalysis, legs: tuple[str, ...] = ()) -> str:
    """The call as a text ladder; legs: the Call-IDs of the other legs of its conversation."""
    call = analysis.call
    drawing = build(analysis)
    letters = string.ascii_uppercase
    width = (len(drawing.columns) - 1) * _SPACING + 1 if drawing.columns else 1
    lines = [f"Call {display_text(call.call_id)}"]
    if legs:
        lines.append(f"  other legs of this conversation: {', '.join(display_text(leg) for leg in legs)}")
    for i, endpoint in enumerate(drawing.columns):
        role = f" ({drawing.roles[endpoint]})" if endpoint in drawing.roles else ""
        lines.append(f"  {letters[i % 26]} = {display_text(str(endpoint))}{role}")
    header = [" "] * width
    for i in range(len(drawing.columns)):
        header[i * _SPACING] = letters[i % 26]
    lines.append(f"{'time (s)':>11}  " + "".join(header))
    for step in drawing.steps:
        label = display_text(step.label + (" (again)" if step.retransmission else ""))
        row = _arrow(step.src * _SPACING, step.dst * _SPACING, label, width, step.rtp)
        cut = label not in row
        note = "  ".join(x for x in (label if cut else "", display_text(step.note)) if x)
        note = f"  {note}" if note else ""
        lines.append(f"{step.time:11.6f}  {row}{note}".rstrip())
    return "\n".join(lines) + "\n"
