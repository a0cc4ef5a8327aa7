"""Wireshark display filters that show a finding."""

from __future__ import annotations

from collections.abc import Iterable

from .model import RtpStream

_MAX_FRAMES_LISTED = 50


def quote(text: str) -> str:
    """A display-filter string literal for any text (escapes quotes, backslashes, controls)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
    return '"' + "".join(out) + '"'


def call(call_id: str) -> str:
    return f"sip.Call-ID == {quote(call_id)}"


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
