"""Wireshark display filters that show a finding."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .model import RtpStream
from .text import id_bytes

_MAX_FRAMES_LISTED = 50
_AS_IT_IS = re.compile(rb'[\x20\x21\x23-\x5b\x5d-\x7e]*')  # printable ASCII but quote and backslash


def literal(raw: bytes) -> str:
    """A display-filter string literal for bytes: printable ASCII as it is (quote and backslash escaped),
    every other byte as \\xNN, which tshark reads as that byte."""
    if _AS_IT_IS.fullmatch(raw):
        return '"' + raw.decode("ascii") + '"'
    out = []
    for byte in raw:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def quote(text: str) -> str:
    """A display-filter string literal for any text (escapes quotes, backslashes, controls)."""
    return literal(text.encode("utf-8", "surrogateescape"))


@lru_cache(maxsize=1024)  # every rule of a call asks for its Call-ID's filter
def call(call_id: str) -> str:
    """The frames that hold a message of this call and of no other, for a Call-ID as the tap writes it
    (escaped: sipdiag_post/text.py id_bytes gives its bytes back).

    Every Call-ID of the frame must equal it (===): a message that names a second Call-ID after the
    first (which the tap puts in no call) is left out, unless the frame holds several SIP messages
    (TCP, WebSocket), where any of them may be this call's. tshark holds a Call-ID as text: each
    invalid UTF-8 sequence as U+FFFD (as Python decodes it), cut at a NUL; such a Call-ID is also
    matched by its bytes in the frame, so that two that differ only there stay apart (as is one that
    holds a U+FFFD itself)."""
    raw = id_bytes(call_id)
    shown = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    value = quote(shown)
    exact = f"(sip.Call-ID === {value} || (sip.Call-ID == {value} && count(sip) > 1))"
    if shown.encode("utf-8") != raw or "\ufffd" in shown:  # a real U+FFFD looks the same to tshark
        return f"({exact} && frame contains {literal(raw)})"
    return exact


def frames(numbers: Iterable[int]) -> str:
    listed = sorted(set(numbers))[:_MAX_FRAMES_LISTED]
    return "frame.number in {" + ", ".join(str(n) for n in listed) + "}"  # commas: 3.6 to 4.6


def final(call_id: str, code: int) -> str:
    """The call's INVITEs and its responses with this status code."""
    return f'{call(call_id)} && (sip.Method == "INVITE" || sip.Status-Code == {code})'


def method(call_id: str, *names: str) -> str:
    """The call's requests of these methods and their responses."""
    either = " || ".join(f"sip.CSeq.method == {quote(n)}" for n in names)
    return f"{call(call_id)} && ({either})" if len(names) > 1 else f"{call(call_id)} && {either}"


def stream(s: RtpStream) -> str:
    """One RTP stream's packets (not the copies ICMP errors quote). A stream the
    tap read from plain UDP is matched by ports and the SSRC's bytes, because
    the Wireshark that missed it will not show it as rtp."""
    if s.decoded_by == "tshark":
        return f"rtp.ssrc == {s.ssrc_hex} && udp.srcport == {s.src.port} && !(icmp || icmpv6)"
    ssrc = ":".join(f"{b:02x}" for b in s.ssrc.to_bytes(4, "big"))
    return (f"udp.srcport == {s.src.port} && udp.dstport == {s.dst.port} && udp.payload[8:4] == {ssrc}"
            " && !(icmp || icmpv6)")


def streams(items: Iterable[RtpStream]) -> str:
    parts = [f"({stream(s)})" for s in items]
    return " || ".join(parts) if parts else "rtp"


def sdp(call_id: str) -> str:
    """The call's SIP messages that carry SDP."""
    return f"{call(call_id)} && sdp"
