"""The call model: what the Lua tap saw, as frozen dataclasses.

Built by ``pdml.py`` from the tap's PDML (see docs/pdml-schema.md); read by the
rules. Nothing here knows about XML or tshark. Times are seconds relative to
the first packet of the capture.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Endpoint:
    """One side of a packet: an IP address and a transport port."""

    addr: str  # IPv4 or IPv6 address as tshark prints it; never empty
    port: int  # transport port; 0 when unknown

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

    uri: str  # the URI inside <...> (or the bare addr-spec); "" when the header had none
    display: str | None = None  # display name without quotes; None when absent
    tag: str | None = None  # the tag parameter; None when absent (an initial request's To)


@dataclass(frozen=True)
class Header:
    """One header of a SIP message, name as written and value."""

    name: str  # as written (case kept)
    value: str  # the value, cut at 1024 bytes by the tap


@dataclass(frozen=True)
class SdpMedia:
    """One m= line of an SDP with the attributes that follow it."""

    line: str  # the m= line after "m="
    type: str  # audio, video, image ...; "" when unreadable
    port: int | None  # transport port; 0: the stream is refused or disabled; None when unreadable
    proto: str  # RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF ...; "" when unreadable
    formats: tuple[str, ...]  # payload types (or format names), in preference order; () when none
    connection: str | None = None  # media-level c= address; None: the session-level one applies
    direction: str | None = None  # media-level sendrecv/sendonly/recvonly/inactive; None: session level
    rtpmap: tuple[str, ...] = ()  # a=rtpmap values ("8 PCMA/8000"); () when none
    fmtp: tuple[str, ...] = ()  # a=fmtp values ("101 0-16"); () when none
    ptime: str | None = None  # a=ptime in ms, as written; None when absent
    crypto: bool = False  # a=crypto (SDES SRTP keys) present
    fingerprint: bool = False  # a=fingerprint (DTLS-SRTP) present on the m= line
    rtcp_mux: bool = False  # a=rtcp-mux present

    @cached_property
    def _rtpmaps(self) -> dict[str, Rtpmap]:
        """Each format's first a=rtpmap, read once per m= line."""
        found: dict[str, Rtpmap] = {}
        for mapped in map(parse_rtpmap, self.rtpmap):
            found.setdefault(mapped.pt, mapped)
        return found

    def rtpmap_of(self, fmt: str) -> Rtpmap | None:
        """The a=rtpmap of a format (payload type), or None when the line has none for it."""
        return self._rtpmaps.get(fmt)

    def encoding(self, fmt: str) -> str | None:
        """Encoding name of a format from its rtpmap ("PCMA"), or the static name."""
        mapped = self.rtpmap_of(fmt)
        if mapped is not None:
            return mapped.encoding or None
        return STATIC_PAYLOADS.get(fmt)


@dataclass(frozen=True)
class Rtpmap:
    """One a=rtpmap value: "96 opus/48000/2"."""

    pt: str  # the payload type as written ("96")
    text: str  # what follows it ("opus/48000/2")
    encoding: str  # "opus" ("" when absent)
    rate: str  # the clock rate as written ("48000"; "" when absent)


def parse_rtpmap(entry: str) -> Rtpmap:
    """The one parser of rtpmap values."""
    pt, _, text = entry.partition(" ")
    parts = text.split("/")
    return Rtpmap(pt=pt, text=text, encoding=parts[0], rate=parts[1] if len(parts) > 1 else "")


STATIC_PAYLOADS = {"0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722", "13": "CN", "18": "G729"}


@dataclass(frozen=True)
class Sdp:
    """An SDP session description carried by a SIP message."""

    origin: str | None = None  # the o= line; None when absent
    session_name: str | None = None  # the s= line ("LiveKit" from LiveKit's media stack); None when absent
    connection: str | None = None  # session-level c= address; None when absent
    direction: str | None = None  # session-level direction attribute; None: sendrecv
    fingerprint: bool = False  # session-level a=fingerprint present
    media: tuple[SdpMedia, ...] = ()  # m= lines in order (the tap keeps 16); () when none
    media_dropped: int = 0  # m= lines past the tap's bound of 16, not in media (count)

    def audio(self) -> SdpMedia | None:
        """The first audio m= line."""
        return next((m for m in self.media if m.type == "audio"), None)

    def address_of(self, media: SdpMedia) -> str | None:
        """The connection address that applies to a media line."""
        return media.connection or self.connection

    def direction_of(self, media: SdpMedia) -> str:
        return media.direction or self.direction or "sendrecv"


@dataclass(frozen=True)
class SipMessage:
    """One SIP request or response, as it crossed the wire once."""

    frame: int  # frame number in the capture (1-based)
    index: int  # position of the message inside its frame (1-based; TCP can carry several)
    time: float  # s since the first packet of the capture
    src: Endpoint  # who sent it (the IP packet's source)
    dst: Endpoint  # where it went
    transport: str  # UDP, TCP, TLS, WS, WSS, SCTP or UNKNOWN
    start_line: str  # the request line or status line as sent
    method: str | None = None  # requests only; None for responses
    request_uri: str | None = None  # requests only; None for responses
    status: int | None = None  # responses only: the status code; None for requests
    reason: str | None = None  # responses only: the reason phrase ("" when empty); None for requests
    cseq: int | None = None  # CSeq sequence number; None when absent or unreadable
    cseq_method: str | None = None  # CSeq method (tells what a response answers); None when absent
    branch: str | None = None  # branch parameter of the top Via; None when absent
    from_tag: str | None = None  # From tag; None when absent
    to_tag: str | None = None  # To tag; None when absent (an initial request, a 100 Trying)
    retransmission: bool = False  # the same message already seen between the same endpoints
    has_sdp: bool = False  # the body is (or contains) an SDP session description
    content_type: str | None = None  # Content-Type; None when absent
    user_agent: str | None = None  # User-Agent; None when absent
    server: str | None = None  # Server; None when absent
    contact: str | None = None  # Contact; None when absent
    reason_headers: tuple[str, ...] = ()  # Reason header values (RFC 3326); () when none
    warnings: tuple[str, ...] = ()  # Warning header values; () when none
    refer_to: str | None = None  # Refer-To; None when absent
    event: str | None = None  # Event; None when absent
    subscription_state: str | None = None  # Subscription-State; None when absent
    retry_after: str | None = None  # Retry-After as written (s); None when absent
    sipfrag: str | None = None  # first line of a message/sipfrag body (NOTIFY for REFER); None without one
    auth_realm: str | None = None  # realm of a digest challenge or credentials; None without digest headers
    auth_username: str | None = None  # username of digest credentials (Authorization); None without them
    x_headers: tuple[Header, ...] = ()  # X- headers in order (the tap keeps 64); () when none
    via_sent_by: str | None = None  # the top Via's sent-by (host[:port]); None without a Via
    via_received: str | None = None  # the top Via's received= (the source the next hop saw); None when absent
    via_rport: int | None = None  # the top Via's rport= value (port the next hop saw); None when absent or empty
    replaces: str | None = None  # Replaces header (an attended transfer's target dialog); None when absent
    body: str | None = None  # a text body (DTMF relay, plain text, a failure's explanation); None otherwise
    x_headers_dropped: int = 0  # X- headers past the tap's bound of 64, not in x_headers (count)
    kind: str = "unknown"  # request, response or unknown (unparsable start line)
    sdp: Sdp | None = None  # the SDP body, parsed; None without one

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
class RtcpStats:
    """What RTCP said about one RTP stream (by its SSRC)."""

    sender_reports: int = 0  # SRs the stream's sender sent (count)
    receiver_reports_sent: int = 0  # RRs the stream's sender sent, about other streams (count)
    reports: int = 0  # report blocks (from the other side) about this stream (count); 0: none
    fraction_lost_max: int = 0  # highest "fraction lost" reported, in 1/256; 0 without reports
    cumulative_lost: int = 0  # the last "cumulative number of packets lost" reported (packets, signed)
    jitter_max: int = 0  # highest interarrival jitter reported, in RTP timestamp units
    rtt_count: int = 0  # round trips measured from LSR/DLSR against SRs in the capture (count)
    rtt_mean_ms: float | None = None  # ms; None when no round trip was measured
    rtt_min_ms: float | None = None  # ms; None when no round trip was measured
    rtt_max_ms: float | None = None  # ms; None when no round trip was measured
    rtt_max_frame: int | None = None  # the receiver report that gave the largest round trip; None without one
    xr_rtt_ms: int | None = None  # RTCP-XR VoIP metrics: round trip delay (ms); None without XR
    xr_loss_rate: int | None = None  # RTCP-XR loss rate, in 1/256; None without XR
    xr_mos_lq: int | None = None  # RTCP-XR MOS-LQ x 10; None without XR
    xr_r_factor: int | None = None  # RTCP-XR R factor (0-100); None without XR
    first_cumulative_lost: int | None = None  # packets: cumulative lost in the first report; None without one
    first_ext_seq: int | None = None  # extended highest sequence number in the first report; None without one
    last_ext_seq: int | None = None  # ... and in the last report; None without reports
    fraction_lost_max_frame: int | None = None  # the report with the highest fraction lost; None without reports

    @property
    def reported_loss_pct(self) -> float | None:
        """Loss the receiver reported over the whole reported period: cumulative lost between the
        first and last report over the packets expected between them; None without two reports."""
        if self.first_ext_seq is None or self.last_ext_seq is None or self.first_cumulative_lost is None:
            return None
        expected = self.last_ext_seq - self.first_ext_seq
        if expected <= 0:
            return None
        return 100.0 * max(self.cumulative_lost - self.first_cumulative_lost, 0) / expected


@dataclass(frozen=True)
class PayloadCount:
    pt: int  # RTP payload type (0-127)
    packets: int  # packets of this type (count)
    clock_rate: int  # Hz used for jitter; 0: not measured (telephone-event, unknown dynamic type)
    first_frame: int = 0  # the stream's first packet of this type; 0 in summaries before 1.5


@dataclass(frozen=True)
class Gap:
    """One of a stream's longest silences between two consecutive packets."""

    length_s: float  # s between the two packets
    start_time: float  # s since the capture's first packet: the packet before the silence
    end_frame: int  # the frame that ended it


@dataclass(frozen=True)
class TelephoneEvent:
    """One RFC 4733 telephone-event (a DTMF digit): its packets share one RTP timestamp."""

    code: int  # the event code (0-9 digits, 10 *, 11 #, 12-15 A-D, 16 flash)
    key: str  # what it stands for: "5", "*", "#", "A", "flash", "ANS" (RFC 4734 fax tones), "event 70"
    pt: int  # the payload type it was sent on
    start_time: float  # s since the capture's first packet: its first packet
    duration_ms: int  # ms: the duration its last packet states (its end packet's where it has one)
    frame: int  # its first packet
    ended: bool  # an end packet (E bit) was seen
    end_frame: int | None = None  # the first end packet; None when none was seen


@dataclass(frozen=True)
class RtpStream:
    """One RTP stream: (source address:port, destination address:port, SSRC)."""

    src: Endpoint  # where the packets came from
    dst: Endpoint  # where they went
    ssrc: int  # RTP synchronisation source (32 bits)
    first_frame: int  # frame of its first packet
    last_frame: int  # frame of its last packet
    first_time: float  # s since the capture's first packet
    last_time: float  # s since the capture's first packet
    packets: int  # packets received (count)
    expected: int  # packets: last - first sequence number + 1 (with wraps), as tshark counts
    lost: int  # packets: expected - received (negative with duplicates), as tshark counts
    duplicates: int = 0  # packets seen twice (count)
    out_of_order: int = 0  # packets that arrived after a later one (count)
    seq_errors: int = 0  # tshark's "sequence errors" (count)
    markers: int = 0  # packets with the marker bit (count)
    jitter_mean_ms: float = 0.0  # ms: RFC 3550 interarrival jitter, mean over the stream (as tshark); 0 unmeasured
    jitter_max_ms: float = 0.0  # ms: its largest value; 0 when not measured
    delta_max_ms: float = 0.0  # ms: largest time between consecutive packets (tshark's Max Delta)
    gap_max_s: float = 0.0  # s: longest silence between two packets (every packet counted); 0 for one packet
    gap_start_time: float = 0.0  # s since the capture's first packet: when that silence began
    gap_end_frame: int = 0  # the frame that ended it; 0 when there was no gap
    payloads: tuple[PayloadCount, ...] = ()  # per payload type, in order of first appearance
    link: str | None = None  # how it was tied to its call: setup-frame or sdp-address; None when unlinked
    setup_frame: int | None = None  # the SIP frame whose SDP set the stream up; None when tshark names none
    src_in_sdp: bool | None = None  # its source address:port is advertised in its call's SDP; None unlinked
    rtcp: RtcpStats | None = None  # what RTCP said about it; None without RTCP
    decoded_by: str = "tshark"  # "sipdiag": plain UDP to an SDP address that tshark did not decode as RTP
    pps_start: int = 0  # s since the capture's first packet: the second that pps[0] counts
    pps: tuple[int, ...] = ()  # packets in each second from pps_start on; () in summaries before 1.4
    media_type: str | None = None  # the m= line it was negotiated on: audio, video, image ...; None: unplaced
    media_index: int | None = None  # that line's position in its SDP (1-based); None: unplaced
    media_port: int | None = None  # that line's port; None: unplaced
    media_frame: int | None = None  # the SIP frame whose SDP holds that line; None: unplaced
    # (length, runs): how many times that many packets in a row were missing (capped at 256); () no loss
    loss_runs: tuple[tuple[int, int], ...] = ()
    # (buffer ms, packets): packets that arrived later than that behind the fastest one (of the last
    # 2-4 s); () when none was 20 ms late, or in summaries before 1.6
    late: tuple[tuple[int, int], ...] = ()
    gaps: tuple[Gap, ...] = ()  # the longest silences of 100 ms or more (up to 3), longest first; () before 1.6
    events: tuple[TelephoneEvent, ...] = ()  # RFC 4733 events on a payload type the SDP maps, in order
    events_dropped: int = 0  # events past the tap's bound of 256 per stream (count)

    @property
    def ssrc_hex(self) -> str:
        return f"0x{self.ssrc:08X}"

    @property
    def loss_pct(self) -> float:
        return 100.0 * max(self.lost, 0) / self.expected if self.expected > 0 else 0.0

    def label(self) -> str:
        return f"{self.src} -> {self.dst} SSRC {self.ssrc_hex}"

    def late_for(self, buffer_ms: int) -> int:
        """Packets that arrived too late for a jitter buffer of buffer_ms (the nearest size the
        tap counted at or below it)."""
        counted = [packets for size, packets in self.late if size <= buffer_ms]
        return counted[-1] if counted else 0


@dataclass(frozen=True)
class Call:
    """All SIP messages of one Call-ID that belongs to an INVITE dialog."""

    call_id: str  # the Call-ID as the tap writes it: as sent, but a backslash as \\ and each byte XML cannot hold
    # (a control character, invalid UTF-8) as \xNN, so that distinct Call-IDs stay distinct (text.id_bytes undoes it)
    first_frame: int  # frame of the call's first message in the capture
    from_: NameAddr | None  # From of the first message; None when it had none
    to: NameAddr | None  # To of the first message; None when it had none
    messages: tuple[SipMessage, ...]  # in capture order, retransmissions included
    total_messages: int  # messages seen (count), including any not kept
    retransmissions: int  # messages flagged as retransmissions (count)
    messages_dropped: int = 0  # messages over the tap's per-call bounds, not in messages (count); the tap keeps
    # every final response, ACK, BYE, CANCEL, new request and SDP, and the first and last of repeated 1xx
    streams: tuple[RtpStream, ...] = ()  # RTP streams linked to the call (and, after analysis, shared with it)


@dataclass(frozen=True)
class TlsSighting:
    """TLS traffic the tap saw but could not read SIP from."""

    port: int  # 5061 when either side used it, else the lower port of the pair
    frames: int  # TLS frames on that port (count)
    first_frame: int  # the first of them


@dataclass(frozen=True)
class SipCandidate:
    """UDP that starts like SIP on a port tshark gave to another dissector (seen while no SIP was decoded)."""

    port: int  # the server's port: a request's destination, a response's source
    frames: int  # such frames (count)
    first_frame: int  # the first of them


@dataclass(frozen=True)
class OtherSip:
    """SIP messages of one method that belong to no call."""

    method: str  # REGISTER, OPTIONS ... or "(no Call-ID)", "(other methods)"
    count: int  # messages (count)
    first_frame: int  # the first of them


@dataclass(frozen=True)
class TapError:
    frame: int  # the packet the tap failed on; 0 when the error escaped its per-packet guards
    message: str  # the Lua error, one line


@dataclass(frozen=True)
class CaptureFacts:
    """Capture-level facts from the tap, plus what the runner learnt from tshark."""

    packets: int  # packets read (count)
    duration: float  # s from the first to the last packet
    sip_messages: int  # SIP messages of any kind (count)
    calls: int  # calls written by the tap (count)
    late_sip_messages: int = 0  # SIP messages of calls the tap had already written (their Call-ID; count)
    late_rtp_packets: int = 0  # RTP packets of streams of calls the tap had already written (count)
    calls_dropped: int = 0  # Call-IDs of INVITE dialogs past the tap's bound on calls, not written (count)
    calls_dropped_messages: int = 0  # their SIP messages (count)
    calls_dropped_at_least: bool = False  # calls_dropped stopped counting at its own bound: it is a lower bound
    messages_dropped: int = 0  # messages of written calls not kept by the per-call bounds (count, all calls)
    xheaders_dropped: int = 0  # X- headers not kept by the per-message bound (count, all messages)
    tls_ports_dropped: int = 0  # TLS frames on ports past the tap's bound of 32 (count)
    start_epoch: float | None = None  # s since 1970 (UTC): the first packet's time; None without packets
    other_sip: tuple[OtherSip, ...] = ()  # SIP outside calls (REGISTER, OPTIONS ...), by method; () when none
    tls_undecoded: tuple[TlsSighting, ...] = ()  # TLS the tap saw but could not read SIP from; () when none
    snapped_sip_frames: int = 0  # SIP frames cut short by the capture's snap length (count)
    tap_errors: int = 0  # packets the tap could not analyse (count)
    tap_error_samples: tuple[TapError, ...] = ()  # the first 10 of them
    read_error: str | None = None  # tshark could not read the whole file (cut short, damaged); None: read whole
    link_type: str | None = None  # the capture's link type(s), written by the runner only when no SIP was found
    rtp_streams: int = 0  # RTP streams in the capture, linked or not (count)
    rtp_streams_dropped: int = 0  # streams past the tap's bound (count)
    rtp_packets_dropped: int = 0  # their packets (count)
    rtcp_packets: int = 0  # RTCP packets (compound parts) read (count)
    time_backwards_s: float = 0.0  # s: the largest step back in time between consecutive packets; 0 when none
    time_backwards_frame: int = 0  # the packet that stepped back; 0 when none
    time_jump_s: float = 0.0  # s: the largest step forward between consecutive packets
    time_jump_frame: int = 0  # the packet after that step; 0 for a capture of one packet
    duplicate_frames: int = 0  # frames byte-identical to one seen within 50 ms before (count)
    duplicate_first_frame: int = 0  # the first of them; 0 when none
    sip_candidates: tuple[SipCandidate, ...] = ()  # undecoded SIP-looking UDP by port; () when none
    creator: str = ""  # the tap that wrote the PDML ("sipdiag/0.1.0")
    wireshark: str = ""  # the Wireshark version the tap ran in; "" when unknown
    schema: str = ""  # PDML schema version, MAJOR.MINOR

    @property
    def bounds_reached(self) -> bool:
        """Whether the tap's bounds kept anything out of the summary: calls, messages, streams, X- headers."""
        return bool(self.calls_dropped_messages or self.messages_dropped or self.xheaders_dropped
                    or self.rtp_streams_dropped or self.tls_ports_dropped)

    @property
    def media_captured(self) -> bool:
        """Whether the capture holds any RTP or RTCP at all (a signalling-only capture holds none)."""
        return self.rtp_streams > 0 or self.rtcp_packets > 0


@dataclass(frozen=True)
class Summary:
    """Everything the tap wrote for one capture."""

    facts: CaptureFacts  # the capture record
    calls: tuple[Call, ...] = field(default_factory=tuple)  # in order of their first frame
    unlinked_streams: tuple[RtpStream, ...] = ()  # RTP streams of no call in the capture
