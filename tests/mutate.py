"""Hostile variants of real captures, for tests/fuzz.py (make fuzz) and tests/test_hostile.py.

Every mutation takes the bytes of a classic pcap file (Ethernet, as the
fixtures are) and a seeded random.Random and returns the bytes of a new file.
Byte-level mutations go through tshark's own editcap (`-E`, `-s`) or cut the
file; the structure-aware ones rewrite SIP/SDP text or RTP headers inside the
packets and fix the IP/UDP/TCP lengths and checksums, so the hostile content
reaches the SIP and RTP dissectors instead of being dropped as malformed IP.
These are the only hand-made bytes in the project: the fuzz tests are about
hostile bytes.
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PCAP_HEADER = 24
RECORD_HEADER = 16
MAX_IP_PAYLOAD = 65_000  # keeps IPv4 total length and UDP length in range

SIP_START = re.compile(rb"^(?:[A-Z]{2,12} [^\r\n ]+ SIP/2\.0|SIP/2\.0 \d{3})")

# text an attacker controls that ends up in XML, terminals, CSV, JUnit and HTML
HOSTILE_TEXT = (
    b'</field></proto></packet><packet><proto name="sipdiag.call">',
    b'"><script>alert(1)</script>',
    b"&lt;&amp;&#0;&#x1b;&bogus;",
    b"]]><![CDATA[",
    b'<!DOCTYPE x [<!ENTITY a "b">]>&a;',
    b"\x00nul\x00",
    b"\x1b[2J\x1b[31mred\x1b]0;title\x07",
    b"\x07\x08\x0b\x0c\x7f",
    b"=cmd|' /C calc'!A0",
    b"+1-2",
    b"-2+3",
    b"@SUM(A1)",
    "\u202eevil\u202c".encode(),
    b"a\rb",
    b"tab\there",
    b"\xff\xfe\xc3\x28\xed\xa0\x80\xc0\xaf",
    b"%n%s%x{}{0}$(id)`id`",
    b"'; DROP TABLE calls; --",
)

BOGUS_SDP_LINES = (
    b"m=audio 99999999 RTP/AVP 300",
    b"m=audio -1 RTP/AVP 0",
    b"m=audio 65536 RTP/AVP 0 8 101",
    b"m=audio 0 RTP/AVP " + b" ".join(str(i).encode() for i in range(300)),
    b"m=",
    b"m=video abc RTP/AVP x",
    b"c=IN IP4 999.1.1.1",
    b"c=IN IP4 ",
    b"c=IN IP4 0.0.0.0/255/2",
    b"c=IN IP6 ::::::::",
    b"c=IN IP4 10.0.0.1\x00",
    b"c=",
    b"a=rtpmap:abc",
    b"a=rtpmap:0 PCMU/notanumber",
    b"a=rtpmap:96 " + b"X" * 5000,
    b"a=fmtp:101 " + b"0-" * 3000,
    b"a=ptime:-20",
    b"a=sendonly\x00a=recvonly",
    b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + b"=" * 100,
    b"b=AS:-5",
    b"o=- - - - - -",
    b"v=9",
    b"s=" + b"\xff" * 50,
    b"t=99999999999999999999 0",
)

CONTENT_LENGTHS = (b"0", b"-1", b"4294967296", b"99999999999999999999", b"abc", b"", b" 12 34", b"0x10")


@dataclass(frozen=True)
class Packet:
    header: bytes  # the 16-byte record header
    data: bytes


def read_pcap(data: bytes) -> tuple[bytes, list[Packet]]:
    """The global header and the records of a little-endian classic pcap (a cut record is dropped)."""
    head, packets, offset = data[:PCAP_HEADER], [], PCAP_HEADER
    while offset + RECORD_HEADER <= len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        end = offset + RECORD_HEADER + incl
        if end > len(data):
            break
        packets.append(Packet(data[offset:offset + RECORD_HEADER], data[offset + RECORD_HEADER:end]))
        offset = end
    return head, packets


def write_pcap(head: bytes, packets: list[Packet]) -> bytes:
    out = [head]
    for p in packets:
        ts_sec, ts_usec = struct.unpack_from("<II", p.header)
        out.append(struct.pack("<IIII", ts_sec, ts_usec, len(p.data), len(p.data)))
        out.append(p.data)
    return b"".join(out)


# --- layers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Transport:
    """Where a packet's transport payload sits and how to rebuild the packet around a new one."""

    ip: int  # offset of the IP header
    version: int
    proto: int  # 17 UDP, 6 TCP
    l4: int  # offset of the UDP/TCP header
    payload: int  # offset of the payload


def transport(frame: bytes) -> Transport | None:
    if len(frame) < 14:
        return None
    ethertype, ip = struct.unpack_from("!H", frame, 12)[0], 14
    if ethertype == 0x8100 and len(frame) >= 18:
        ethertype, ip = struct.unpack_from("!H", frame, 16)[0], 18
    if ethertype == 0x0800 and len(frame) >= ip + 20:
        version, proto, l4 = 4, frame[ip + 9], ip + (frame[ip] & 0x0F) * 4
    elif ethertype == 0x86DD and len(frame) >= ip + 40:
        version, proto, l4 = 6, frame[ip + 6], ip + 40
    else:
        return None
    if proto == 17 and len(frame) >= l4 + 8:
        return Transport(ip, version, proto, l4, l4 + 8)
    if proto == 6 and len(frame) >= l4 + 20:
        return Transport(ip, version, proto, l4, l4 + (frame[l4 + 12] >> 4) * 4)
    return None


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def with_payload(frame: bytes, t: Transport, payload: bytes) -> bytes:
    """The frame with a new transport payload; lengths and checksums made right again."""
    payload = payload[: MAX_IP_PAYLOAD - (t.payload - t.l4)]
    l4 = bytearray(frame[t.l4:t.payload] + payload)
    ip = bytearray(frame[t.ip:t.l4])
    if t.proto == 17:
        struct.pack_into("!H", l4, 4, len(l4))
    check_at = 6 if t.proto == 17 else 16
    struct.pack_into("!H", l4, check_at, 0)
    if t.version == 4:
        struct.pack_into("!H", ip, 2, len(ip) + len(l4))
        struct.pack_into("!H", ip, 10, 0)
        struct.pack_into("!H", ip, 10, _checksum(bytes(ip)))
        pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, t.proto, len(l4))
    else:
        struct.pack_into("!H", ip, 4, len(l4))
        pseudo = bytes(ip[8:40]) + struct.pack("!IxxxB", len(l4), t.proto)
    struct.pack_into("!H", l4, check_at, _checksum(pseudo + bytes(l4)) or 0xFFFF)
    return frame[:t.ip] + bytes(ip) + bytes(l4)


def sip_packets(packets: list[Packet]) -> Iterator[tuple[int, Transport]]:
    for i, p in enumerate(packets):
        t = transport(p.data)
        if t is not None and SIP_START.match(p.data[t.payload:t.payload + 40]):
            yield i, t


def rtp_packets(packets: list[Packet]) -> Iterator[tuple[int, Transport]]:
    for i, p in enumerate(packets):
        t = transport(p.data)
        if (t is not None and t.proto == 17 and len(p.data) >= t.payload + 12
                and p.data[t.payload] >> 6 == 2 and not SIP_START.match(p.data[t.payload:t.payload + 40])):
            yield i, t


def _rewrite_sip(packets: list[Packet], rng: random.Random, edit: Callable[[bytes, random.Random], bytes],
                 share: float = 0.3) -> list[Packet]:
    """Apply edit to some SIP messages (at least one)."""
    targets = list(sip_packets(packets))
    if not targets:
        return packets
    chosen = [x for x in targets if rng.random() < share] or [rng.choice(targets)]
    out = list(packets)
    for i, t in chosen:
        frame = out[i].data
        out[i] = Packet(out[i].header, with_payload(frame, t, edit(frame[t.payload:], rng)))
    return out


# --- SIP and SDP text ------------------------------------------------------------------


def _split(message: bytes) -> tuple[bytes, bytes]:
    head, sep, body = message.partition(b"\r\n\r\n")
    return head, body if sep else b""


def huge_header(message: bytes, rng: random.Random) -> bytes:
    head, body = _split(message)
    if rng.random() < 0.5:
        extra = b"X-Huge: " + bytes([rng.choice(b"Aa<&\"\xff")]) * rng.choice((1000, 8000, 30000, 60000))
    else:
        extra = b"\r\n".join(b"X-H%d: v" % i for i in range(rng.choice((500, 3000, 6000))))
    line, _, rest = head.partition(b"\r\n")
    return line + b"\r\n" + extra + b"\r\n" + rest + b"\r\n\r\n" + body


def missing_crlf(message: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        return message.replace(b"\r\n", b"\n")
    if choice == 1:
        return message.replace(b"\r\n\r\n", b"\r\n", 1)
    if choice == 2:
        return message.replace(b"\r\n", b"\r")
    positions = [m.start() for m in re.finditer(rb"\r\n", message)]
    if not positions:
        return message + b"\r\n"
    at = rng.choice(positions)
    return message[:at] + (b"" if choice == 3 else b"\r\n \r\n\t") + message[at + 2:]


def wrong_content_length(message: bytes, rng: random.Random) -> bytes:
    value = rng.choice((*CONTENT_LENGTHS, str(len(message) * rng.randrange(2, 50)).encode()))
    replaced, n = re.subn(rb"(?im)^(Content-Length|l)[ \t]*:[^\r\n]*", b"Content-Length: " + value, message, count=1)
    return replaced if n else message.replace(b"\r\n", b"\r\nContent-Length: " + value + b"\r\n", 1)


def bogus_sdp(message: bytes, rng: random.Random) -> bytes:
    head, body = _split(message)
    lines = body.split(b"\r\n") if body else [b"v=0"]
    for _ in range(rng.randrange(1, 6)):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(BOGUS_SDP_LINES))
    if rng.random() < 0.2:
        lines = [line for line in lines if not line.startswith(b"v=")]
    if rng.random() < 0.2:
        media = [line for line in lines if line.startswith(b"m=")]
        lines += media * 200
    if b"content-type" not in head.lower():
        head += b"\r\nContent-Type: application/sdp"
    return head + b"\r\n\r\n" + b"\r\n".join(lines)


_HEADER_VALUE = re.compile(rb"(?im)^(Call-ID|i|From|f|To|t|User-Agent|Server|Contact|m|X-[A-Za-z-]+)[ \t]*:[ \t]*")


def hostile_value(message: bytes, rng: random.Random, text: bytes | None = None) -> bytes:
    """A header value, the reason phrase or the request URI's user gets hostile text."""
    text = text if text is not None else rng.choice(HOSTILE_TEXT)
    if message.startswith(b"SIP/2.0") and rng.random() < 0.4:
        line, _, rest = message.partition(b"\r\n")
        return line[:12] + b" " + text + b"\r\n" + rest
    headers = list(_HEADER_VALUE.finditer(message))
    if not headers:
        return message
    m = rng.choice(headers)
    end = message.find(b"\r\n", m.end())
    end = len(message) if end < 0 else end
    keep = rng.random() < 0.5  # hostile text inside the value or replacing it
    inner = message[m.end():end]
    value = inner[: len(inner) // 2] + text + inner[len(inner) // 2:] if keep else text
    return message[:m.end()] + value + message[end:]


def non_utf8(message: bytes, rng: random.Random) -> bytes:
    noise = bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 40)))
    return hostile_value(message, rng, noise)


def hostile_call_id(packets: list[Packet], rng: random.Random) -> list[Packet]:
    """One call's Call-ID replaced by hostile text in every message, so the call stays one call."""
    ids = []
    for i, t in sip_packets(packets):
        m = re.search(rb"(?im)^(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", packets[i].data[t.payload:])
        if m:
            ids.append(m.group(1).strip())
    if not ids:
        return packets
    old, new = rng.choice(ids), rng.choice(HOSTILE_TEXT).replace(b"\r", b"").replace(b"\n", b"")
    out = list(packets)
    for i, t in sip_packets(packets):
        payload = out[i].data[t.payload:]
        if old in payload:
            out[i] = Packet(out[i].header, with_payload(out[i].data, t, payload.replace(old, new)))
    return out


def _call_ids(packets: list[Packet]) -> list[bytes]:
    ids = []
    for i, t in sip_packets(packets):
        m = re.search(rb"(?im)^(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", packets[i].data[t.payload:])
        if m:
            ids.append(m.group(1).strip())
    return ids


def _replace_call_id(packets: list[Packet], old: bytes, new: bytes) -> list[Packet]:
    out = list(packets)
    for i, t in sip_packets(packets):
        payload = out[i].data[t.payload:]
        if old in payload:
            out[i] = Packet(out[i].header, with_payload(out[i].data, t, payload.replace(old, new)))
    return out


# bytes that must keep two Call-IDs apart and reach a display filter exactly
CALL_ID_BYTES = (b"\x01", b"\x02", b"\x1b[31m", b"\x7f", b"\x00", b"\t", b"\\", b"\\x41", b'"', b"\xff", b"\xfe",
                 b"\xc3\x28", b"\xef\xbf\xbd", "\u202e".encode(), "\u200b".encode(), "\u2028".encode(),
                 "\u0085".encode())


def control_call_id(packets: list[Packet], rng: random.Random) -> list[Packet]:
    """One call's Call-ID, in every message, with control, invalid UTF-8, bidi or backslash bytes inside;
    sometimes a second call gets the same Call-ID with other such bytes (two calls apart only by them)."""
    ids = list(dict.fromkeys(_call_ids(packets)))
    if not ids:
        return packets
    out = packets
    for old in rng.sample(ids, min(len(ids), rng.choice((1, 2)))):
        at = rng.randrange(len(old) + 1)
        out = _replace_call_id(out, old, old[:at] + rng.choice(CALL_ID_BYTES) + old[at:])
    return out


def duplicate_call_id(packets: list[Packet], rng: random.Random) -> list[Packet]:
    """Some SIP messages with a second Call-ID header, before or after their own: another call's (a victim's),
    their own again, or hostile text."""
    ids = _call_ids(packets) or [b"victim@x"]

    def edit(message: bytes, rng: random.Random) -> bytes:
        other = rng.choice((rng.choice(ids), rng.choice(HOSTILE_TEXT).replace(b"\r", b"").replace(b"\n", b"")))
        line = rng.choice((b"Call-ID: ", b"i: ", b"call-id:")) + other + b"\r\n"
        m = re.search(rb"(?im)^(?:Call-ID|i)[ \t]*:[^\r\n]*\r\n", message)
        if m is None:
            return message
        at = m.end() if rng.random() < 0.7 else m.start()
        return message[:at] + line + message[at:]
    return _rewrite_sip(packets, rng, edit, share=0.5)


# --- RTP -------------------------------------------------------------------------------


def rtp_chaos(packets: list[Packet], rng: random.Random) -> list[Packet]:
    """Absurd sequence jumps, timestamps, SSRCs, header lengths and payload types."""
    targets = list(rtp_packets(packets))
    if not targets:
        return packets
    share = rng.choice((0.01, 0.1, 0.5))
    out = list(packets)
    for i, t in targets:
        if rng.random() >= share:
            continue
        frame = bytearray(out[i].data)
        at = t.payload
        kind = rng.randrange(7)
        if kind == 0:
            struct.pack_into("!H", frame, at + 2, rng.randrange(1 << 16))
        elif kind == 1:
            struct.pack_into("!I", frame, at + 4, rng.randrange(1 << 32))
        elif kind == 2:
            struct.pack_into("!I", frame, at + 8, rng.randrange(1 << 32))
        elif kind == 3:
            frame[at] = (frame[at] & 0xF0) | 0x0F  # 15 CSRCs: a header longer than the packet
        elif kind == 4:
            frame[at] |= 0x10  # an extension header of absurd length
            if len(frame) >= at + 16:
                struct.pack_into("!HH", frame, at + 12, 0xBEDE, 0xFFFF)
        elif kind == 5:
            frame[at] |= 0x20  # padding, the last byte claiming 255 bytes of it
            frame[-1] = 255
        else:
            frame[at + 1] = (frame[at + 1] & 0x80) | rng.choice((72, 73, 76, 127, 35, 101, 0))
        out[i] = Packet(out[i].header, bytes(frame))
    return out


# --- whole captures --------------------------------------------------------------------


def _editcap(data: bytes, args: list[str]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="sipdiag-mutate-") as tmp:
        src, dst = Path(tmp) / "in.pcap", Path(tmp) / "out.pcap"
        src.write_bytes(data)
        subprocess.run(["editcap", *args, str(src), str(dst)], check=True, capture_output=True)
        return dst.read_bytes()


def corrupt(rate: float) -> Callable[[bytes, random.Random], bytes]:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        return _editcap(data, ["-E", str(rate), "--seed", str(rng.randrange(1 << 31))])
    return mutate


def snap(data: bytes, rng: random.Random) -> bytes:
    return _editcap(data, ["-s", str(rng.choice((42, 60, 80, 120, 200, 400)))])


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def packet_level(mutate: Callable[[list[Packet], random.Random], list[Packet]]
                 ) -> Callable[[bytes, random.Random], bytes]:
    def apply(data: bytes, rng: random.Random) -> bytes:
        head, packets = read_pcap(data)
        return write_pcap(head, mutate(packets, rng))
    return apply


def sip_text(edit: Callable[[bytes, random.Random], bytes]) -> Callable[[bytes, random.Random], bytes]:
    return packet_level(lambda packets, rng: _rewrite_sip(packets, rng, edit))


def reorder(packets: list[Packet], rng: random.Random) -> list[Packet]:
    """Some packets swapped, repeated or dropped: time runs backwards, retransmissions appear."""
    out = list(packets)
    for _ in range(rng.randrange(1, 20)):
        if len(out) < 2:
            break
        i, j = rng.randrange(len(out)), rng.randrange(len(out))
        action = rng.randrange(3)
        if action == 0:
            out[i], out[j] = out[j], out[i]
        elif action == 1:
            out.insert(j, out[i])
        else:
            del out[i]
    return out


def unchanged(data: bytes, rng: random.Random) -> bytes:
    """The capture as it is: the hostile part of the case is elsewhere (its file name, the PDML)."""
    return data


# file names for the kind hostile-name (tests/fuzz.py names the capture so): terminal escapes, rich
# markup, line breaks that would forge a report line, bidi and invisible characters, C1 controls, names
# like options, bytes that are not UTF-8 (surrogate-escaped, as os.fsdecode gives them)
HOSTILE_NAMES = (
    "osc52-\x1b]52;c;ZXZpbA==\x07.pcap",
    "[link=mailto:x@evil.example]click[bold] me.pcap",
    "line\nFAIL  SIP005  forged\n.pcap",
    "cr\rcapture ok.pcap",
    "bidi-\u202egnp.exe\u202c.pcap",
    "zero\u200bwidth\u2060\ufeff.pcap",
    "sep\u2028para\u2029.pcap",
    "c1-\x85\x9b31m\x9d.pcap",
    "-H.pcap",
    "--help.pcap",
    os.fsdecode(b"not-utf8-\xff\xfe.pcap"),
    "\\x41 looks escaped.pcap",
    "=cmd|' -C calc'!A0.pcap",
    "@team [click](https:example) ![i](x).pcap",
)


def nonfinite_numbers(document: bytes, rng: random.Random) -> bytes:
    """The tap's PDML with one to three of its float values (times, jitter, durations) made non-finite or
    out of range, as a hostile or broken PDML could have them."""
    floats = [m for m in re.finditer(rb'<field name="sipdiag\.[a-z_.]+" show="(-?\d+\.\d+)"', document)]
    if not floats:
        return document
    out = bytearray(document)
    for m in sorted(rng.sample(floats, min(len(floats), rng.randrange(1, 4))), key=lambda m: -m.start(1)):
        out[m.start(1):m.end(1)] = rng.choice((b"inf", b"-inf", b"nan", b"NaN", b"Infinity", b"1e999", b"-1e400",
                                               b"1e308", b"1e11"))
    return bytes(out)


# mutations of the tap's PDML, applied by tests/fuzz.py after the tap ran (the capture is unchanged)
PDML_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {"nonfinite-pdml": nonfinite_numbers}

MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "corrupt-0.001": corrupt(0.001),
    "corrupt-0.01": corrupt(0.01),
    "corrupt-0.05": corrupt(0.05),
    "corrupt-0.3": corrupt(0.3),
    "snaplen": snap,
    "truncate": truncate,
    "huge-header": sip_text(huge_header),
    "missing-crlf": sip_text(missing_crlf),
    "content-length": sip_text(wrong_content_length),
    "bogus-sdp": sip_text(bogus_sdp),
    "non-utf8": sip_text(non_utf8),
    "hostile-text": sip_text(hostile_value),
    "hostile-call-id": packet_level(hostile_call_id),
    "control-call-id": packet_level(control_call_id),
    "duplicate-call-id": packet_level(duplicate_call_id),
    "hostile-name": unchanged,
    "nonfinite-pdml": unchanged,
    "rtp-chaos": packet_level(rtp_chaos),
    "reorder": packet_level(reorder),
}


def mutate(data: bytes, kind: str, seed: int) -> bytes:
    """The capture mutated by one kind of mutation, reproducibly from the seed."""
    return MUTATIONS[kind](data, random.Random(seed))
