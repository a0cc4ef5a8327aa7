"""The call model: what the Lua tap saw, as frozen dataclasses.

Built by ``pdml.py`` from the tap's PDML (see docs/pdml-schema.md); read by the
rules. Nothing here knows about XML or tshark. Times are seconds relative to
the first packet of the capture.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """One side of a packet: an IP address and a transport port."""

    addr: str  # IPv4 or IPv6 address as tshark prints it
    port: int  # transport port (0 when unknown)

    def __str__(self) -> str:
        if ":" in self.addr:
            return f"[{self.addr}]:{self.port}"
        return f"{self.addr}:{self.port}"

    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address as an ip_address, or None when it is not an IP address."""
        try:
            return ipaddress.ip_address(self.addr)
        except ValueError:
            return None


@dataclass(frozen=True)
class NameAddr:
    """A From or To header: URI, optional display name, optional tag."""

    uri: str  # the URI inside <...> (or the bare addr-spec)
    display: str | None = None  # display name without quotes
    tag: str | None = None  # the tag parameter


@dataclass(frozen=True)
class Header:
    """One header of a SIP message, name as written and value."""

    name: str
    value: str


@dataclass(frozen=True)
class SipMessage:
    """One SIP request or response, as it crossed the wire once."""

    frame: int  # frame number in the capture (1-based)
    index: int  # position of the message inside its frame (1-based; TCP can carry several)
    time: float  # seconds since the first packet of the capture
    src: Endpoint
    dst: Endpoint
    transport: str  # UDP, TCP, TLS, WS, WSS, SCTP or UNKNOWN
    start_line: str  # the request line or status line as sent
    method: str | None = None  # requests only
    request_uri: str | None = None  # requests only
    status: int | None = None  # responses only: the status code
    reason: str | None = None  # responses only: the reason phrase
    cseq: int | None = None  # CSeq sequence number
    cseq_method: str | None = None  # CSeq method (tells what a response answers)
    branch: str | None = None  # branch parameter of the top Via
    from_tag: str | None = None
    to_tag: str | None = None
    retransmission: bool = False  # same message already seen between the same endpoints
    has_sdp: bool = False  # the body is (or contains) an SDP session description
    content_type: str | None = None
    user_agent: str | None = None
    server: str | None = None
    contact: str | None = None
    reason_headers: tuple[str, ...] = ()  # Reason header values (RFC 3326)
    warnings: tuple[str, ...] = ()  # Warning header values
    refer_to: str | None = None
    event: str | None = None
    subscription_state: str | None = None
    retry_after: str | None = None
    sipfrag: str | None = None  # first line of a message/sipfrag body (NOTIFY for REFER)
    auth_realm: str | None = None  # realm of a digest challenge or credentials
    auth_username: str | None = None  # username of digest credentials (Authorization)
    x_headers: tuple[Header, ...] = ()  # X- headers in order
    kind: str = "unknown"  # request, response or unknown (unparsable start line)

    @property
    def is_request(self) -> bool:
        return self.kind == "request"

    @property
    def is_response(self) -> bool:
        return self.kind == "response" and self.status is not None

    @property
    def is_final(self) -> bool:
        return self.is_response and self.status is not None and self.status >= 200

    @property
    def is_provisional(self) -> bool:
        return self.is_response and self.status is not None and 100 <= self.status < 200

    @property
    def label(self) -> str:
        """A short label: the method or 'status reason'."""
        if self.is_request:
            return self.method or "?"
        return f"{self.status} {self.reason or ''}".strip()

    @property
    def agent(self) -> str | None:
        """The User-Agent or Server header, whichever the sender wrote."""
        return self.user_agent or self.server


@dataclass(frozen=True)
class Call:
    """All SIP messages of one Call-ID that belongs to an INVITE dialog."""

    call_id: str
    first_frame: int  # frame of the call's first message in the capture
    from_: NameAddr | None  # From of the first message
    to: NameAddr | None  # To of the first message
    messages: tuple[SipMessage, ...]  # in capture order, retransmissions included
    total_messages: int  # messages seen, including any not kept
    retransmissions: int  # messages flagged as retransmissions
    messages_dropped: int = 0  # messages over the tap's per-call bound (not in messages)


@dataclass(frozen=True)
class TlsSighting:
    """TLS traffic the tap saw but could not read SIP from."""

    port: int  # 5061 when either side used it, else the lower port of the pair
    frames: int
    first_frame: int


@dataclass(frozen=True)
class OtherSip:
    """SIP messages of one method that belong to no call."""

    method: str
    count: int
    first_frame: int


@dataclass(frozen=True)
class TapError:
    frame: int
    message: str


@dataclass(frozen=True)
class CaptureFacts:
    """Capture-level facts from the tap, plus what the runner learnt from tshark."""

    packets: int  # packets read
    duration: float  # seconds from the first to the last packet
    sip_messages: int  # SIP messages of any kind
    calls: int  # calls written by the tap
    start_epoch: float | None = None  # absolute time of the first packet (s since 1970, UTC)
    other_sip: tuple[OtherSip, ...] = ()  # SIP outside calls (REGISTER, OPTIONS ...), by method
    tls_undecoded: tuple[TlsSighting, ...] = ()
    snapped_sip_frames: int = 0  # SIP frames cut short by the capture's snap length
    tap_errors: int = 0  # packets the tap could not analyse
    tap_error_samples: tuple[TapError, ...] = ()
    read_error: str | None = None  # tshark could not read the whole file (cut short, damaged)
    creator: str = ""  # the tap that wrote the PDML
    wireshark: str = ""  # the Wireshark version the tap ran in
    schema: str = ""  # PDML schema version, MAJOR.MINOR


@dataclass(frozen=True)
class Summary:
    """Everything the tap wrote for one capture."""

    facts: CaptureFacts
    calls: tuple[Call, ...] = field(default_factory=tuple)
