"""Reading the tap's PDML into the call model. The only module that imports lxml.

The parser is hardened: PDML may come from anywhere (exported from Wireshark,
mailed by a customer), so entities are never resolved, DTDs are refused,
nothing is fetched from the network and oversized documents are rejected.
The schema version is checked before anything else is read.
See docs/pdml-schema.md for the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
from .text import xml_text

SUPPORTED_MAJOR = 1
MAX_PDML_BYTES = 1 << 30  # 1 GiB: far above any real summary, below memory trouble

_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


class PdmlError(Exception):
    """The PDML cannot be used; the message is one line for the user."""


def read_summary(path: Path) -> Summary:
    """Read a PDML file written by the sipdiag tap."""
    try:
        size = path.stat().st_size
        if size > MAX_PDML_BYTES:
            raise PdmlError(f"{path}: {size} bytes is larger than the {MAX_PDML_BYTES} bytes allowed")
        data = path.read_bytes()
    except OSError as exc:
        raise PdmlError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_summary(data, str(path))


def parse_summary(data: bytes, name: str = "<pdml>") -> Summary:
    """Parse PDML bytes written by the sipdiag tap."""
    root = _parse_root(data, name)
    facts: CaptureFacts | None = None
    calls: list[Call] = []
    unlinked: list[RtpStream] = []
    for packet in root.iterchildren("packet"):
        for proto in packet.iterchildren("proto"):
            kind = proto.get("name")
            try:
                if kind == "sipdiag.capture":
                    facts = _capture_facts(proto, root)
                elif kind == "sipdiag.call":
                    calls.append(_call(proto))
                elif kind == "sipdiag.unlinked":
                    unlinked.extend(_stream(g) for g in _Fields(proto, "sipdiag.").groups("stream"))
            except (ValueError, TypeError) as exc:
                raise PdmlError(f"{name}: invalid {kind} record: {exc}") from None
    if facts is None:
        raise PdmlError(f"{name}: no sipdiag.capture record; not written by the sipdiag tap")
    return Summary(facts=facts, calls=tuple(calls), unlinked_streams=tuple(unlinked))


def add_capture_field(path: Path, name: str, value: str) -> None:
    """Add a runner-written field (read_error, link_type) to a PDML file's capture record."""
    _edit_capture(path, lambda proto: _sub_field(proto, f"sipdiag.capture.{name}", value))


def add_tap_errors(path: Path, messages: list[str]) -> None:
    """Count Lua errors tshark reported outside the tap's guards as tap errors at frame 0."""
    def edit(proto: etree._Element) -> None:
        for field in proto.iterchildren("field"):
            if field.get("name") == "sipdiag.capture.tap_errors":
                count = field.get("show", "0")
                field.set("show", str((int(count) if count.isdigit() else 0) + len(messages)))
        for message in messages[:10]:
            group = _sub_field(proto, "sipdiag.capture.tap_error", message)
            _sub_field(group, "sipdiag.capture.tap_error.frame", "0")
            _sub_field(group, "sipdiag.capture.tap_error.message", message)
    _edit_capture(path, edit)


def _sub_field(parent: etree._Element, name: str, show: str) -> etree._Element:
    field = etree.SubElement(parent, "field")
    field.set("name", name)
    field.set("show", xml_text(show))
    return field


def _edit_capture(path: Path, edit: Callable[[etree._Element], None]) -> None:
    root = _parse_root(path.read_bytes(), str(path))
    for proto in root.iter("proto"):
        if proto.get("name") == "sipdiag.capture":
            edit(proto)
            break
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8") + b"\n")


def _parse_root(data: bytes, name: str) -> etree._Element:
    if len(data) > MAX_PDML_BYTES:
        raise PdmlError(f"{name}: larger than the {MAX_PDML_BYTES} bytes allowed")
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise PdmlError(f"{name}: not well-formed XML: {_one_line(str(exc))}") from None
    if root is None:
        raise PdmlError(f"{name}: empty document")
    doctype = root.getroottree().docinfo
    if doctype.internalDTD is not None or doctype.externalDTD is not None or doctype.doctype:
        raise PdmlError(f"{name}: DTDs and entity declarations are not allowed in sipdiag PDML")
    if next(root.iter(etree.Entity), None) is not None:
        raise PdmlError(f"{name}: entity references are not allowed in sipdiag PDML")
    if root.tag != "pdml":
        raise PdmlError(f"{name}: root element is <{_one_line(str(root.tag))}>, expected <pdml>")
    _check_schema(root.get("sipdiag_schema"), name)
    return root


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
    """The direct child <field>s of an element, by name (after a common prefix), in document order."""

    def __init__(self, element: etree._Element, prefix: str = "") -> None:
        self._element = element
        self._prefix = prefix
        self._by_name: dict[str, list[etree._Element]] = {}
        for child in element.iterchildren("field"):
            self._by_name.setdefault(child.get("name", ""), []).append(child)

    def all(self, name: str) -> list[etree._Element]:
        return self._by_name.get(self._prefix + name, [])

    def str(self, name: str) -> str | None:
        found = self.all(name)
        return found[0].get("show") if found else None

    def text(self, name: str) -> str:
        return self.str(name) or ""

    def int(self, name: str) -> int | None:
        value = self.str(name)
        return int(value) if value is not None else None

    def count(self, name: str) -> int:
        """An int that is 0 when absent."""
        return self.int(name) or 0

    def float(self, name: str) -> float | None:
        value = self.str(name)
        return float(value) if value is not None else None

    def flag(self, name: str) -> bool:
        return self.str(name) == "1"

    def strs(self, name: str) -> tuple[str, ...]:
        return tuple(e.get("show", "") for e in self.all(name))

    def groups(self, name: str) -> list[_Fields]:
        """Repeated field groups, each read with its own name as prefix."""
        return [_Fields(e, f"{self._prefix}{name}.") for e in self.all(name)]

    def element_show(self) -> str:
        """The group element's own show attribute."""
        return self._element.get("show", "")


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
        creator=root.get("creator", ""),
        wireshark=root.get("wireshark", ""),
        schema=root.get("sipdiag_schema", ""),
    )


def _name_addr(f: _Fields, prefix: str) -> NameAddr | None:
    uri = f.str(prefix + ".uri")
    if uri is None:
        return None
    return NameAddr(uri=uri, display=f.str(prefix + ".display"), tag=f.str(prefix + ".tag"))


def _call(proto: etree._Element) -> Call:
    f = _Fields(proto, "sipdiag.call.")
    call_id = f.str("id")
    if call_id is None:
        raise ValueError("sipdiag.call.id missing")
    messages = tuple(_message(e) for e in _Fields(proto).all("sipdiag.msg"))
    return Call(
        call_id=call_id,
        first_frame=f.count("first_frame"),
        from_=_name_addr(f, "from"),
        to=_name_addr(f, "to"),
        messages=messages,
        total_messages=f.int("messages") or len(messages),
        retransmissions=f.count("retransmissions"),
        messages_dropped=f.count("messages_dropped"),
        streams=tuple(_stream(g) for g in _Fields(proto, "sipdiag.").groups("stream")),
    )


def _message(element: etree._Element) -> SipMessage:
    f = _Fields(element, "sipdiag.msg.")
    return SipMessage(
        frame=f.count("frame"),
        index=f.int("index") or 1,
        time=f.float("time") or 0.0,
        src=Endpoint(f.text("src"), f.count("src_port")),
        dst=Endpoint(f.text("dst"), f.count("dst_port")),
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
        sdp=next((_sdp(g) for g in _Fields(element, "sipdiag.").groups("sdp")), None),
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
    ssrc = g.text("ssrc")
    return RtpStream(
        src=Endpoint(g.text("src"), g.count("src_port")),
        dst=Endpoint(g.text("dst"), g.count("dst_port")),
        ssrc=int(ssrc, 16) if ssrc.lower().startswith("0x") else int(ssrc or 0),
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
        pps=_counts(g.text("pps")),
        media_type=g.str("media_type"),
        media_index=g.int("media_index"),
        media_port=g.int("media_port"),
        media_frame=g.int("media_frame"),
        loss_runs=_pairs(g.text("loss_runs")),
        late=_pairs(g.text("late")),
        gaps=tuple(Gap(length_s=x.float("length_s") or 0.0, start_time=x.float("start_time") or 0.0,
                       end_frame=x.count("end_frame")) for x in g.groups("gap")),
        events=tuple(_event(e) for e in g.groups("event")),
        events_dropped=g.count("events_dropped"),
    )


def _event(g: _Fields) -> TelephoneEvent:
    return TelephoneEvent(code=g.count("code"), key=g.text("key"), pt=g.count("pt"),
                          start_time=g.float("start_time") or 0.0, duration_ms=g.count("duration_ms"),
                          frame=g.count("frame"), ended=g.flag("ended"), end_frame=g.int("end_frame"))


def _pairs(text: str) -> tuple[tuple[int, int], ...]:
    """A comma-separated list of number:count ("1:12,2:3"); ValueError on anything else."""
    if not text:
        return ()
    pairs = []
    for item in text.split(","):
        key, sep, count = item.partition(":")
        if not sep:
            raise ValueError(f"not number:count: {item!r}")
        pairs.append((int(key), int(count)))
    return tuple(pairs)


def _counts(text: str) -> tuple[int, ...]:
    """A comma-separated list of counts ("50,50,0,12"); ValueError on anything else."""
    return tuple(int(n) for n in text.split(",")) if text else ()
