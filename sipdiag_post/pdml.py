"""Reading the tap's PDML into the call model. The only module that imports lxml.

The parser is hardened: PDML may come from anywhere (exported from Wireshark,
mailed by a customer), so entities are never resolved, DTDs are refused,
nothing is fetched from the network and oversized documents are rejected.
The schema version is checked before anything else is read.

It reads incrementally: one <packet> (the capture record, a call) at a time,
each cleared once read, so memory follows one call, not the document
(iter_summary yields the calls as they come; read_summary keeps them all).
Values are checked as they are read: numbers must be finite and in range
(a time of `inf` or `1e308` describes no capture), text is cut at
MAX_TEXT_CHARS (the tap writes at most 1024 bytes and a marker).
See docs/pdml-schema.md for the contract.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from .model import (
    Call,
    CaptureFacts,
    Endpoint,
    Gap,
    Header,
    NameAddr,
    OtherSip,
    PayloadCount,
    RtcpStats,
    RtpStream,
    Sdp,
    SdpMedia,
    SipCandidate,
    SipMessage,
    Summary,
    TapError,
    TelephoneEvent,
    TlsSighting,
)
from .text import bounded, xml_text

SUPPORTED_MAJOR = 1
MAX_PDML_BYTES = 1 << 30  # 1 GiB: far above any real summary, below memory trouble
MAX_TEXT_CHARS = 4096  # a text value longer than this is cut (the tap's are at most 1024 bytes and a marker)
MAX_INT = 1 << 53  # a count, frame or port beyond this (in size) describes no capture
MAX_FLOAT = 1e10  # s or ms: about 317 years in seconds

_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_CHUNK = 1 << 20


class PdmlError(Exception):
    """The PDML cannot be used; the message is one line for the user."""


class SummaryReader:
    """A PDML summary read one packet at a time. Iterate it for the calls (once; each read and forgotten in
    turn, in document order); the capture's facts are known at once when its record comes first (schema
    1.7 and before), else once the calls are all read (1.8: the tap writes each call when it is over, the
    capture record last); the RTP streams of no call once the calls are all read."""

    def __init__(self, source: BinaryIO, name: str) -> None:
        self._name = name
        self._source = source
        self.start_epoch: float | None = None  # the first packet's time (s since 1970), from the root
        # 1.9: with the call just read, the capture time before which every call has been written (None:
        # not said, e.g. a call written at the end)
        self.complete_before: float | None = None
        # only the root's and the packets' events reach Python (lxml filters the rest in C: a field is no event)
        self._events = etree.iterparse(source, events=("start", "end"), tag=("pdml", "packet"), **_PARSER_OPTIONS)
        self._pending: tuple[str, etree._Element] | None = None
        self._root = self._open()
        self._unlinked: list[RtpStream] = []
        self._done = False
        self._facts: CaptureFacts | None = None
        self._stream = self._records()
        self._held: tuple[str | None, etree._Element] | None = None
        for kind, proto in self._stream:
            if kind == "sipdiag.capture":
                self._facts = self._capture(proto)
            else:
                self._held = (kind, proto)
            break

    def _next(self) -> tuple[str, etree._Element] | None:
        if self._pending is not None:
            event, self._pending = self._pending, None
            return event
        try:
            return next(self._events)
        except StopIteration:
            return None
        except etree.XMLSyntaxError as exc:
            raise PdmlError(f"{self._name}: not well-formed XML: {_one_line(str(exc))}") from None

    def _open(self) -> etree._Element:
        first = self._next()
        if first is not None and first[0] == "start" and first[1].tag == "pdml":
            root = first[1]
            # one event more before judging the root: a document cut inside its first tag is reported as such
            self._pending = self._next()
        else:  # the root is not <pdml> (its events were filtered out): the parser knows it
            self._pending = first
            root = self._events.root
            if root is None:
                raise PdmlError(f"{self._name}: empty document")
        info = root.getroottree().docinfo
        if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
            raise PdmlError(f"{self._name}: DTDs and entity declarations are not allowed in sipdiag PDML")
        if root.tag != "pdml":
            raise PdmlError(f"{self._name}: root element is <{_one_line(str(root.tag))[:40]}>, expected <pdml>")
        _check_schema(root.get("sipdiag_schema"), self._name)
        self.start_epoch = _root_epoch(root.get("start_epoch"))
        return root

    def _packets(self) -> Iterator[etree._Element]:
        """Each <packet> under the root once it is complete; cleared away once the caller is done with it."""
        depth = 0
        while (event := self._next()) is not None:
            kind, element = event
            if kind == "start":
                depth += 1
                continue
            depth -= 1
            if depth != 0:
                continue
            if next(element.iter(etree.Entity), None) is not None:
                raise PdmlError(f"{self._name}: entity references are not allowed in sipdiag PDML")
            if element.tag == "packet":
                yield element
            element.clear()
            # the packet and any other element before it (not a packet: never an event) leave the tree
            while (before := element.getprevious()) is not None:
                self._root.remove(before)
            if element.getparent() is self._root:
                self._root.remove(element)

    def _records(self) -> Iterator[tuple[str | None, etree._Element]]:
        for packet in self._packets():
            for proto in packet.iterchildren("proto"):
                yield proto.get("name"), proto

    def _capture(self, proto: etree._Element) -> CaptureFacts:
        if self._facts is not None:
            raise PdmlError(f"{self._name}: more than one sipdiag.capture record")
        return self._read("sipdiag.capture", lambda: _capture_facts(proto, self._root))  # type: ignore[return-value]

    def _read(self, kind: str, read: Callable[[], object]) -> object:
        try:
            return read()
        except (ValueError, TypeError, OverflowError) as exc:
            raise PdmlError(f"{self._name}: invalid {kind} record: {_one_line(str(exc))[:200]}") from None

    def __iter__(self) -> Iterator[Call]:
        if self._done:
            return
        held, self._held = self._held, None
        for kind, proto in itertools.chain((held,) if held else (), self._stream):
            if kind == "sipdiag.call":
                fields = _Fields(proto)
                call = self._read(kind, lambda f=fields: _call(f))
                self.complete_before = self._read(kind, lambda f=fields: f.prefixed("sipdiag.call.").float(
                    "complete_before"))  # type: ignore[assignment]
                yield call  # type: ignore[misc]
            elif kind == "sipdiag.unlinked":
                self._unlinked.extend(self._read(kind, lambda p=proto: [  # type: ignore[arg-type]
                    _stream(g) for g in _Fields(p, "sipdiag.").groups("stream")]))
            elif kind == "sipdiag.capture":
                self._facts = self._capture(proto)
        self._done = True
        self._source.close()
        if self._facts is None:
            raise PdmlError(f"{self._name}: no sipdiag.capture record; not written by the sipdiag tap")

    @property
    def facts(self) -> CaptureFacts:
        """The capture record; in a document that writes it last, known once the calls are all read."""
        if self._facts is None:
            raise RuntimeError("facts of a capture-last document before its calls were read")
        return self._facts

    @property
    def facts_known(self) -> bool:
        return self._facts is not None

    @property
    def unlinked_streams(self) -> tuple[RtpStream, ...]:
        """The streams of no call; complete only once the calls are all read."""
        if not self._done:
            raise RuntimeError("unlinked_streams before the calls were all read")
        return tuple(self._unlinked)

    def close(self) -> None:
        self._source.close()


def _root_epoch(text: str | None) -> float | None:
    """The root's start_epoch (1.8: the first packet's time, for a reader that cannot wait for the
    capture record); None when absent or not a finite number."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _open_file(path: Path) -> BinaryIO:
    try:
        size = path.stat().st_size
        if size > MAX_PDML_BYTES:
            raise PdmlError(f"{path}: {size} bytes is larger than the {MAX_PDML_BYTES} bytes allowed")
        return open(path, "rb")
    except OSError as exc:
        raise PdmlError(f"{path}: cannot read: {exc.strerror or exc}") from None


def iter_summary(path: Path) -> SummaryReader:
    """A PDML file written by the sipdiag tap, read incrementally: iterate for the calls (each read and
    forgotten in turn), then `.facts` and `.unlinked_streams` (`.facts` at once for documents that write
    the capture record first)."""
    source = _open_file(path)
    try:
        return SummaryReader(source, str(path))
    except BaseException:
        source.close()
        raise


class GrowingFile(io.RawIOBase):
    """A file another process is writing, read as it grows: a read waits (polling) for more bytes
    while `writing()` says the writer runs, and ends at the file's end once it has stopped. The file
    may not exist yet. At most `limit` bytes are read (the size bound of a whole read)."""

    def __init__(self, path: Path, writing: Callable[[], bool], limit: int = MAX_PDML_BYTES,
                 poll: float = 0.02) -> None:
        super().__init__()
        self._path, self._writing, self._limit, self._poll = path, writing, limit, poll
        self._file: BinaryIO | None = None
        self._read = 0

    def readable(self) -> bool:
        return True

    def _open(self) -> BinaryIO | None:
        if self._file is None:
            try:
                self._file = open(self._path, "rb")  # noqa: SIM115 - closed with this reader
            except FileNotFoundError:
                return None
        return self._file

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            running = self._writing()  # asked before reading: bytes written before it stopped are read
            source = self._open()
            count = source.readinto(buffer) if source is not None else 0
            if count:
                self._read += count
                if self._read > self._limit:
                    raise PdmlError(f"{self._path}: larger than the {self._limit} bytes allowed")
                return count
            if not running:
                return 0
            time.sleep(self._poll)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def follow_summary(path: Path, writing: Callable[[], bool]) -> SummaryReader:
    """A PDML file the tap is still writing, read incrementally as it grows (see iter_summary)."""
    source = GrowingFile(path, writing)
    try:
        return SummaryReader(source, str(path))  # type: ignore[arg-type]
    except BaseException:
        source.close()
        raise


_CAPTURE_START = b'<proto name="sipdiag.capture"'
_CAPTURE_END = b"</proto>"
_PACKET_START = b"<packet>"
_PACKET_END = b"</packet>"
_MAX_RECORD = 16 << 20  # the capture record is a few kilobytes; a document whose record is not is refused
_MAX_ROOT = 4096  # the <pdml ...> start tag


def _capture_span(path: Path) -> tuple[int, int, int, bytes]:
    """Where a PDML file's capture record is, without reading the file whole: (start of its <packet>,
    start of its <proto>, start of the line of its </proto>, the document's opening up to its root's
    start tag). The record is the first packet (schema 1.7 and before) or the last one (1.8)."""
    size = path.stat().st_size
    with open(path, "rb") as source:
        head = source.read(min(size, _MAX_RECORD))
        root_end = head.find(b">", head.find(b"<pdml"))
        opening = head[:root_end + 1] if 0 <= root_end < _MAX_ROOT else b""
        first_packet = head.find(_PACKET_START)
        first_record = head.find(b"<proto ", first_packet)
        if first_packet >= 0 and head.startswith(_CAPTURE_START, first_record):
            base, chunk = 0, head
            proto = first_record
        else:
            base = max(0, size - _MAX_RECORD)
            source.seek(base)
            chunk = source.read()
            proto = chunk.rfind(_CAPTURE_START)
    if not opening or proto < 0:
        raise PdmlError(f"{path}: no sipdiag.capture record; not written by the sipdiag tap")
    packet = chunk.rfind(_PACKET_START, 0, proto)
    end = chunk.find(_CAPTURE_END, proto)
    if packet < 0 or end < 0:
        raise PdmlError(f"{path}: no end to its capture record")
    lines_end = chunk.rfind(b"\n", 0, end) + 1
    return base + packet, base + proto, base + lines_end, opening


def read_facts(path: Path) -> CaptureFacts:
    """Only the capture record of a PDML file (its first or its last packet): nothing else is read."""
    _open_file(path).close()  # the size bound and readability, said as for a whole read
    packet, _, _, opening = _capture_span(path)
    with open(path, "rb") as source:
        source.seek(packet)
        record = source.read(_MAX_RECORD)
    end = record.find(_PACKET_END)
    if end < 0:
        raise PdmlError(f"{path}: no end to its capture record")
    reader = SummaryReader(io.BytesIO(opening + b"\n" + record[:end + len(_PACKET_END)] + b"\n</pdml>\n"),
                           str(path))
    for _ in reader:
        pass
    return reader.facts


def _whole(reader: SummaryReader) -> Summary:
    # first-frame order, whatever order the tap wrote the calls in (1.8: as they ended)
    calls = tuple(sorted(reader, key=lambda call: call.first_frame))
    return Summary(facts=reader.facts, calls=calls, unlinked_streams=reader.unlinked_streams)


def read_summary(path: Path) -> Summary:
    """Read a PDML file written by the sipdiag tap (all its calls, in first-frame order)."""
    return _whole(iter_summary(path))


def parse_summary(data: bytes, name: str = "<pdml>") -> Summary:
    """Parse PDML bytes written by the sipdiag tap."""
    if len(data) > MAX_PDML_BYTES:
        raise PdmlError(f"{name}: larger than the {MAX_PDML_BYTES} bytes allowed")
    return _whole(SummaryReader(io.BytesIO(data), name))


def add_capture_field(path: Path, name: str, value: str) -> None:
    """Add a runner-written field (read_error, link_type) to a PDML file's capture record."""
    field = etree.Element("field", name=f"sipdiag.capture.{name}", show=xml_text(value))
    _edit_capture(path, lambda lines: lines + b"    " + etree.tostring(field) + b"\n")


_TAP_ERRORS = re.compile(rb'(<field name="sipdiag\.capture\.tap_errors" show=")(\d*)("/>)')


def add_tap_errors(path: Path, messages: list[str]) -> None:
    """Count Lua errors tshark reported outside the tap's guards as tap errors at frame 0."""
    def edit(record: bytes) -> bytes:
        record = _TAP_ERRORS.sub(lambda m: m[1] + str(int(m[2] or b"0") + len(messages)).encode() + m[3], record)
        for message in messages[:10]:
            group = etree.Element("field", name="sipdiag.capture.tap_error", show=xml_text(message))
            etree.SubElement(group, "field", name="sipdiag.capture.tap_error.frame", show="0")
            etree.SubElement(group, "field", name="sipdiag.capture.tap_error.message", show=xml_text(message))
            record += b"    " + etree.tostring(group) + b"\n"
        return record
    _edit_capture(path, edit)


def _copy(source: BinaryIO, out: BinaryIO, count: int) -> None:
    while count > 0 and (chunk := source.read(min(_CHUNK, count))):
        out.write(chunk)
        count -= len(chunk)


def _edit_capture(path: Path, edit: Callable[[bytes], bytes]) -> None:
    """Rewrite a PDML file with edit applied to its capture record (from its <proto> to the line of its
    </proto>; edit appends lines), copying the rest as it is: the file is never read whole. The file is
    replaced only once the new one is written."""
    read_facts(path)  # a sipdiag summary with a readable capture record
    _, proto, lines_end, _ = _capture_span(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with open(path, "rb") as source, os.fdopen(fd, "wb") as out:
            _copy(source, out, proto)
            out.write(edit(source.read(lines_end - proto)))
            while chunk := source.read(_CHUNK):
                out.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_schema(version: str | None, name: str) -> None:
    if version is None:
        raise PdmlError(
            f"{name}: no sipdiag_schema attribute; this is not a summary written by the sipdiag tap "
            "(plain `tshark -T pdml` output cannot be checked)"
        )
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise PdmlError(f"{name}: malformed sipdiag_schema {version!r}, expected MAJOR.MINOR")
    if int(major) != SUPPORTED_MAJOR:
        raise PdmlError(
            f"{name}: PDML schema {version} is not supported "
            f"(this sipdiag reads {SUPPORTED_MAJOR}.x); use the matching sipdiag version"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Fields:
    """The direct child <field>s of an element, by name (after a common prefix), in document order.

    Text is cut at MAX_TEXT_CHARS; numbers are checked: integers within MAX_INT in size, floats finite and
    within MAX_FLOAT (ValueError naming the field otherwise)."""

    def __init__(self, element: etree._Element, prefix: str = "",
                 by_name: dict[str, list[etree._Element]] | None = None) -> None:
        self._element = element
        self._prefix = prefix
        if by_name is None:
            by_name = {}
            for child in element.iterchildren("field"):
                by_name.setdefault(child.get("name", ""), []).append(child)
        self._by_name = by_name

    def prefixed(self, prefix: str) -> _Fields:
        """The same fields read with another prefix (the children are not listed again)."""
        return _Fields(self._element, prefix, self._by_name)

    def all(self, name: str) -> list[etree._Element]:
        return self._by_name.get(self._prefix + name, [])

    def raw(self, name: str) -> str | None:
        """The value as written, not cut (for values that are lists of numbers)."""
        found = self._by_name.get(self._prefix + name)
        return found[0].get("show") if found else None

    def str(self, name: str) -> str | None:
        value = self.raw(name)
        return bounded(value, MAX_TEXT_CHARS) if value is not None else None

    def text(self, name: str) -> str:
        return self.str(name) or ""

    def int(self, name: str) -> int | None:
        value = self.raw(name)
        return _int(value, self._prefix + name) if value is not None else None

    def count(self, name: str) -> int:
        """An int that is 0 when absent."""
        return self.int(name) or 0

    def port(self, name: str) -> int:
        """A transport port (0 when absent)."""
        port = self.count(name)
        if not 0 <= port <= 65535:
            raise ValueError(f"{self._prefix}{name} {port} is not a port")
        return port

    def float(self, name: str) -> float | None:
        value = self.raw(name)
        if value is None:
            return None
        number = float(value[:64])
        if not math.isfinite(number) or abs(number) > MAX_FLOAT:
            raise ValueError(f"{self._prefix}{name} {value[:24]!r} is not a finite number within {MAX_FLOAT:g}")
        return number

    def flag(self, name: str) -> bool:
        return self.raw(name) == "1"

    def strs(self, name: str) -> tuple[str, ...]:
        return tuple(bounded(e.get("show", ""), MAX_TEXT_CHARS) for e in self.all(name))

    def groups(self, name: str) -> list[_Fields]:
        """Repeated field groups, each read with its own name as prefix."""
        return [_Fields(e, f"{self._prefix}{name}.") for e in self.all(name)]

    def element_show(self) -> str:
        """The group element's own show attribute."""
        return bounded(self._element.get("show", ""), MAX_TEXT_CHARS)


def _int(value: str, name: str) -> int:
    number = int(value[:24])  # longer is out of range anyway; int() of megabytes of digits is slow
    if len(value) > 24 or abs(number) > MAX_INT:
        raise ValueError(f"{name} {value[:24]!r} is out of range")
    return number


def _capture_facts(proto: etree._Element, root: etree._Element) -> CaptureFacts:
    f = _Fields(proto, "sipdiag.capture.")
    return CaptureFacts(
        packets=f.count("packets"),
        duration=f.float("duration") or 0.0,
        sip_messages=f.count("sip_messages"),
        calls=f.count("calls"),
        start_epoch=f.float("start_epoch"),
        other_sip=tuple(OtherSip(method=g.text("method"), count=g.count("count"), first_frame=g.count("first_frame"))
                        for g in f.groups("other_sip")),
        tls_undecoded=tuple(TlsSighting(port=g.count("port"), frames=g.count("frames"),
                                        first_frame=g.count("first_frame"))
                            for g in f.groups("tls_undecoded")),
        late_sip_messages=f.count("late_sip_messages"),
        late_rtp_packets=f.count("late_rtp_packets"),
        calls_dropped=f.count("calls_dropped"),
        calls_dropped_messages=f.count("calls_dropped_messages"),
        calls_dropped_at_least=f.flag("calls_dropped_at_least"),
        messages_dropped=f.count("messages_dropped"),
        xheaders_dropped=f.count("xheaders_dropped"),
        tls_ports_dropped=f.count("tls_ports_dropped"),
        snapped_sip_frames=f.count("snapped_sip_frames"),
        tap_errors=f.count("tap_errors"),
        tap_error_samples=tuple(TapError(frame=g.count("frame"), message=g.text("message"))
                                for g in f.groups("tap_error")),
        read_error=f.str("read_error"),
        link_type=f.str("link_type"),
        rtp_streams=f.count("rtp_streams"),
        rtp_streams_dropped=f.count("rtp_streams_dropped"),
        rtp_packets_dropped=f.count("rtp_packets_dropped"),
        rtcp_packets=f.count("rtcp_packets"),
        time_backwards_s=f.float("time_backwards_s") or 0.0,
        time_backwards_frame=f.count("time_backwards_frame"),
        time_jump_s=f.float("time_jump_s") or 0.0,
        time_jump_frame=f.count("time_jump_frame"),
        duplicate_frames=f.count("duplicate_frames"),
        duplicate_first_frame=f.count("duplicate_first_frame"),
        sip_candidates=tuple(SipCandidate(port=g.count("port"), frames=g.count("frames"),
                                          first_frame=g.count("first_frame")) for g in f.groups("sip_candidate")),
        creator=bounded(root.get("creator", ""), MAX_TEXT_CHARS),
        wireshark=bounded(root.get("wireshark", ""), MAX_TEXT_CHARS),
        schema=bounded(root.get("sipdiag_schema", ""), MAX_TEXT_CHARS),
    )


def _name_addr(f: _Fields, prefix: str) -> NameAddr | None:
    uri = f.str(prefix + ".uri")
    if uri is None:
        return None
    return NameAddr(uri=uri, display=f.str(prefix + ".display"), tag=f.str(prefix + ".tag"))


def _call(fields: _Fields) -> Call:
    f = fields.prefixed("sipdiag.call.")
    call_id = f.str("id")
    if call_id is None:
        raise ValueError("sipdiag.call.id missing")
    messages = tuple(_message(e) for e in fields.all("sipdiag.msg"))
    return Call(
        call_id=call_id,
        first_frame=f.count("first_frame"),
        from_=_name_addr(f, "from"),
        to=_name_addr(f, "to"),
        messages=messages,
        total_messages=f.int("messages") or len(messages),
        retransmissions=f.count("retransmissions"),
        messages_dropped=f.count("messages_dropped"),
        streams=tuple(_stream(g) for g in fields.prefixed("sipdiag.").groups("stream")),
    )


def _message(element: etree._Element) -> SipMessage:
    f = _Fields(element, "sipdiag.msg.")
    return SipMessage(
        frame=f.count("frame"),
        index=f.int("index") or 1,
        time=f.float("time") or 0.0,
        src=Endpoint(f.text("src"), f.port("src_port")),
        dst=Endpoint(f.text("dst"), f.port("dst_port")),
        transport=f.str("transport") or "UNKNOWN",
        start_line=element.get("show", ""),
        kind=f.str("kind") or "unknown",
        method=f.str("method"),
        request_uri=f.str("request_uri"),
        status=f.int("status"),
        reason=f.str("reason"),
        cseq=f.int("cseq"),
        cseq_method=f.str("cseq_method"),
        branch=f.str("branch"),
        from_tag=f.str("from_tag"),
        to_tag=f.str("to_tag"),
        retransmission=f.flag("retransmission"),
        has_sdp=f.flag("has_sdp"),
        content_type=f.str("content_type"),
        user_agent=f.str("user_agent"),
        server=f.str("server"),
        contact=f.str("contact"),
        reason_headers=f.strs("reason_header"),
        warnings=f.strs("warning"),
        refer_to=f.str("refer_to"),
        event=f.str("event"),
        subscription_state=f.str("subscription_state"),
        retry_after=f.str("retry_after"),
        sipfrag=f.str("sipfrag"),
        auth_realm=f.str("auth_realm"),
        auth_username=f.str("auth_username"),
        x_headers=tuple(Header(name=g.text("name"), value=g.text("value")) for g in f.groups("xheader")),
        via_sent_by=f.str("via_sent_by"),
        via_received=f.str("via_received"),
        via_rport=f.int("via_rport"),
        replaces=f.str("replaces"),
        body=f.str("body"),
        x_headers_dropped=f.count("xheaders_dropped"),
        sdp=next((_sdp(g) for g in f.prefixed("sipdiag.").groups("sdp")), None),
    )


def _sdp_media(g: _Fields) -> SdpMedia:
    return SdpMedia(
        line=g.element_show(),
        type=g.text("type"),
        port=g.int("port"),
        proto=g.text("proto"),
        formats=tuple(g.text("formats").split()),
        connection=g.str("connection"),
        direction=g.str("direction"),
        rtpmap=g.strs("rtpmap"),
        fmtp=g.strs("fmtp"),
        ptime=g.str("ptime"),
        crypto=g.flag("crypto"),
        fingerprint=g.flag("fingerprint"),
        rtcp_mux=g.flag("rtcp_mux"),
    )


def _sdp(g: _Fields) -> Sdp:
    return Sdp(
        origin=g.str("origin"),
        session_name=g.str("session_name"),
        connection=g.str("connection"),
        direction=g.str("direction"),
        fingerprint=g.flag("fingerprint"),
        media=tuple(_sdp_media(m) for m in g.groups("media")),
        media_dropped=g.count("media_dropped"),
    )


def _rtcp(g: _Fields) -> RtcpStats:
    return RtcpStats(
        sender_reports=g.count("sender_reports"),
        receiver_reports_sent=g.count("receiver_reports_sent"),
        reports=g.count("reports"),
        fraction_lost_max=g.count("fraction_lost_max"),
        cumulative_lost=g.int("cumulative_lost") or 0,
        jitter_max=g.count("jitter_max"),
        rtt_count=g.count("rtt_count"),
        rtt_mean_ms=g.float("rtt_mean_ms"),
        rtt_min_ms=g.float("rtt_min_ms"),
        rtt_max_ms=g.float("rtt_max_ms"),
        rtt_max_frame=g.int("rtt_max_frame"),
        xr_rtt_ms=g.int("xr_rtt_ms"),
        xr_loss_rate=g.int("xr_loss_rate"),
        xr_mos_lq=g.int("xr_mos_lq"),
        xr_r_factor=g.int("xr_r_factor"),
        first_cumulative_lost=g.int("first_cumulative_lost"),
        first_ext_seq=g.int("first_ext_seq"),
        last_ext_seq=g.int("last_ext_seq"),
        fraction_lost_max_frame=g.int("fraction_lost_max_frame"),
    )


def _stream(g: _Fields) -> RtpStream:
    return RtpStream(
        src=Endpoint(g.text("src"), g.port("src_port")),
        dst=Endpoint(g.text("dst"), g.port("dst_port")),
        ssrc=_ssrc(g.text("ssrc")),
        first_frame=g.count("first_frame"),
        last_frame=g.count("last_frame"),
        first_time=g.float("first_time") or 0.0,
        last_time=g.float("last_time") or 0.0,
        packets=g.count("packets"),
        expected=g.count("expected"),
        lost=g.int("lost") or 0,
        duplicates=g.count("duplicates"),
        out_of_order=g.count("out_of_order"),
        seq_errors=g.count("seq_errors"),
        markers=g.count("markers"),
        jitter_mean_ms=g.float("jitter_mean_ms") or 0.0,
        jitter_max_ms=g.float("jitter_max_ms") or 0.0,
        delta_max_ms=g.float("delta_max_ms") or 0.0,
        gap_max_s=g.float("gap_max_s") or 0.0,
        gap_start_time=g.float("gap_start_time") or 0.0,
        gap_end_frame=g.count("gap_end_frame"),
        payloads=tuple(PayloadCount(pt=p.count("pt"), packets=p.count("packets"), clock_rate=p.count("clock_rate"),
                                    first_frame=p.count("first_frame")) for p in g.groups("payload")),
        link=g.str("link"),
        setup_frame=g.int("setup_frame"),
        src_in_sdp=g.flag("src_in_sdp") if g.str("src_in_sdp") is not None else None,
        rtcp=next((_rtcp(r) for r in g.groups("rtcp")), None),
        decoded_by=g.str("decoded_by") or "tshark",
        pps_start=g.count("pps_start"),
        pps=_counts(g.raw("pps") or "", "sipdiag.stream.pps"),
        media_type=g.str("media_type"),
        media_index=g.int("media_index"),
        media_port=g.int("media_port"),
        media_frame=g.int("media_frame"),
        loss_runs=_pairs(g.raw("loss_runs") or "", "sipdiag.stream.loss_runs"),
        late=_pairs(g.raw("late") or "", "sipdiag.stream.late"),
        gaps=tuple(Gap(length_s=x.float("length_s") or 0.0, start_time=x.float("start_time") or 0.0,
                       end_frame=x.count("end_frame")) for x in g.groups("gap")),
        events=tuple(_event(e) for e in g.groups("event")),
        events_dropped=g.count("events_dropped"),
    )


def _event(g: _Fields) -> TelephoneEvent:
    return TelephoneEvent(code=g.count("code"), key=g.text("key"), pt=g.count("pt"),
                          start_time=g.float("start_time") or 0.0, duration_ms=g.count("duration_ms"),
                          frame=g.count("frame"), ended=g.flag("ended"), end_frame=g.int("end_frame"))


def _pairs(text: str, name: str) -> tuple[tuple[int, int], ...]:
    """A comma-separated list of number:count ("1:12,2:3"); ValueError on anything else."""
    if not text:
        return ()
    pairs = []
    for item in text.split(","):
        key, sep, count = item.partition(":")
        if not sep:
            raise ValueError(f"{name}: not number:count: {item[:24]!r}")
        pairs.append((_int(key, name), _int(count, name)))
    return tuple(pairs)


def _ssrc(text: str) -> int:
    ssrc = int(text[:10], 16) if text.lower().startswith("0x") else int(text[:10] or 0)
    if len(text) > 10 or not 0 <= ssrc < 1 << 32:
        raise ValueError(f"sipdiag.stream.ssrc {text[:24]!r} is not 32 bits")
    return ssrc


def _counts(text: str, name: str) -> tuple[int, ...]:
    """A comma-separated list of counts ("50,50,0,12"); ValueError on anything else."""
    return tuple(_int(n, name) for n in text.split(",")) if text else ()
