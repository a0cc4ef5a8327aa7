"""Reading the tap's PDML into the call model. The only module that imports lxml.

The parser is hardened: PDML may come from anywhere (exported from Wireshark,
mailed by a customer), so entities are never resolved, DTDs are refused,
nothing is fetched from the network and oversized documents are rejected.
The schema version is checked before anything else is read.
See docs/pdml-schema.md for the contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from .model import (
    Call,
    CaptureFacts,
    Endpoint,
    Header,
    NameAddr,
    OtherSip,
    SipMessage,
    Summary,
    TapError,
    TlsSighting,
)

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
    for packet in root.iterchildren("packet"):
        for proto in packet.iterchildren("proto"):
            kind = proto.get("name")
            try:
                if kind == "sipdiag.capture":
                    facts = _capture_facts(proto, root)
                elif kind == "sipdiag.call":
                    calls.append(_call(proto))
            except (ValueError, TypeError) as exc:
                raise PdmlError(f"{name}: invalid {kind} record: {exc}") from None
    if facts is None:
        raise PdmlError(f"{name}: no sipdiag.capture record; not written by the sipdiag tap")
    return Summary(facts=facts, calls=tuple(calls))


def add_read_error(path: Path, message: str) -> None:
    """Record in a PDML file that tshark could not read the whole capture."""
    root = _parse_root(path.read_bytes(), str(path))
    for proto in root.iter("proto"):
        if proto.get("name") == "sipdiag.capture":
            field = etree.SubElement(proto, "field")
            field.set("name", "sipdiag.capture.read_error")
            field.set("show", message)
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
    if any(isinstance(node, etree._Entity) for node in root.iter()):
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
    """The direct child <field>s of an element, by name, in document order."""

    def __init__(self, element: etree._Element) -> None:
        self._by_name: dict[str, list[etree._Element]] = {}
        for child in element.iterchildren("field"):
            self._by_name.setdefault(child.get("name", ""), []).append(child)

    def str(self, name: str) -> str | None:
        found = self._by_name.get(name)
        return found[0].get("show") if found else None

    def int(self, name: str, default: int | None = None) -> int | None:
        value = self.str(name)
        return int(value) if value is not None else default

    def float(self, name: str, default: float | None = None) -> float | None:
        value = self.str(name)
        return float(value) if value is not None else default

    def flag(self, name: str) -> bool:
        return self.str(name) == "1"

    def all(self, name: str) -> list[etree._Element]:
        return self._by_name.get(name, [])

    def strs(self, name: str) -> tuple[str, ...]:
        return tuple(e.get("show", "") for e in self.all(name))


def _capture_facts(proto: etree._Element, root: etree._Element) -> CaptureFacts:
    f = _Fields(proto)
    other = []
    for element in f.all("sipdiag.capture.other_sip"):
        sub = _Fields(element)
        other.append(OtherSip(
            method=sub.str("sipdiag.capture.other_sip.method") or "",
            count=sub.int("sipdiag.capture.other_sip.count", 0) or 0,
            first_frame=sub.int("sipdiag.capture.other_sip.first_frame", 0) or 0,
        ))
    tls = []
    for element in f.all("sipdiag.capture.tls_undecoded"):
        sub = _Fields(element)
        tls.append(
            TlsSighting(
                port=sub.int("sipdiag.capture.tls_undecoded.port", 0) or 0,
                frames=sub.int("sipdiag.capture.tls_undecoded.frames", 0) or 0,
                first_frame=sub.int("sipdiag.capture.tls_undecoded.first_frame", 0) or 0,
            )
        )
    errors = []
    for element in f.all("sipdiag.capture.tap_error"):
        sub = _Fields(element)
        errors.append(
            TapError(
                frame=sub.int("sipdiag.capture.tap_error.frame", 0) or 0,
                message=sub.str("sipdiag.capture.tap_error.message") or "",
            )
        )
    return CaptureFacts(
        packets=f.int("sipdiag.capture.packets", 0) or 0,
        duration=f.float("sipdiag.capture.duration", 0.0) or 0.0,
        sip_messages=f.int("sipdiag.capture.sip_messages", 0) or 0,
        calls=f.int("sipdiag.capture.calls", 0) or 0,
        start_epoch=f.float("sipdiag.capture.start_epoch"),
        other_sip=tuple(other),
        tls_undecoded=tuple(tls),
        snapped_sip_frames=f.int("sipdiag.capture.snapped_sip_frames", 0) or 0,
        tap_errors=f.int("sipdiag.capture.tap_errors", 0) or 0,
        tap_error_samples=tuple(errors),
        read_error=f.str("sipdiag.capture.read_error"),
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
    f = _Fields(proto)
    call_id = f.str("sipdiag.call.id")
    if call_id is None:
        raise ValueError("sipdiag.call.id missing")
    messages = tuple(_message(e) for e in f.all("sipdiag.msg"))
    return Call(
        call_id=call_id,
        first_frame=f.int("sipdiag.call.first_frame", 0) or 0,
        from_=_name_addr(f, "sipdiag.call.from"),
        to=_name_addr(f, "sipdiag.call.to"),
        messages=messages,
        total_messages=f.int("sipdiag.call.messages", len(messages)) or 0,
        retransmissions=f.int("sipdiag.call.retransmissions", 0) or 0,
        messages_dropped=f.int("sipdiag.call.messages_dropped", 0) or 0,
    )


def _x_headers(elements: list[etree._Element]) -> Iterator[Header]:
    for element in elements:
        sub = _Fields(element)
        yield Header(
            name=sub.str("sipdiag.msg.xheader.name") or "",
            value=sub.str("sipdiag.msg.xheader.value") or "",
        )


def _message(element: etree._Element) -> SipMessage:
    f = _Fields(element)
    p = "sipdiag.msg."
    return SipMessage(
        frame=f.int(p + "frame", 0) or 0,
        index=f.int(p + "index", 1) or 1,
        time=f.float(p + "time", 0.0) or 0.0,
        src=Endpoint(f.str(p + "src") or "", f.int(p + "src_port", 0) or 0),
        dst=Endpoint(f.str(p + "dst") or "", f.int(p + "dst_port", 0) or 0),
        transport=f.str(p + "transport") or "UNKNOWN",
        start_line=element.get("show", ""),
        kind=f.str(p + "kind") or "unknown",
        method=f.str(p + "method"),
        request_uri=f.str(p + "request_uri"),
        status=f.int(p + "status"),
        reason=f.str(p + "reason"),
        cseq=f.int(p + "cseq"),
        cseq_method=f.str(p + "cseq_method"),
        branch=f.str(p + "branch"),
        from_tag=f.str(p + "from_tag"),
        to_tag=f.str(p + "to_tag"),
        retransmission=f.flag(p + "retransmission"),
        has_sdp=f.flag(p + "has_sdp"),
        content_type=f.str(p + "content_type"),
        user_agent=f.str(p + "user_agent"),
        server=f.str(p + "server"),
        contact=f.str(p + "contact"),
        reason_headers=f.strs(p + "reason_header"),
        warnings=f.strs(p + "warning"),
        refer_to=f.str(p + "refer_to"),
        event=f.str(p + "event"),
        subscription_state=f.str(p + "subscription_state"),
        retry_after=f.str(p + "retry_after"),
        sipfrag=f.str(p + "sipfrag"),
        auth_realm=f.str(p + "auth_realm"),
        auth_username=f.str(p + "auth_username"),
        x_headers=tuple(_x_headers(f.all(p + "xheader"))),
    )
