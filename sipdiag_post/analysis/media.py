"""The media side of a call: SDP offer/answer exchanges, parties and streams.

Pure functions over the model and the call flow. The *caller* is the party
that sent the initial INVITE, the *callee* the other one; a message's party is
told by its From tag, so it holds across proxies and NAT.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise

from ..model import Endpoint, RtpStream, Sdp, SdpMedia, SipMessage, Summary
from .flow import CallFlow

CALLER, CALLEE = "caller", "callee"
NULL_ADDRESSES = frozenset({"0.0.0.0", "::", "0:0:0:0:0:0:0:0"})
PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10",
))
# encodings that are not audio codecs: negotiated only when listed, never "the codec"
AUXILIARY = frozenset({"telephone-event", "cn"})
# static payload types of video (RFC 3551, table 5)
VIDEO_PAYLOADS = frozenset({25, 26, 28, 31, 32, 33, 34})


def media_kind(stream: RtpStream) -> str:
    """The kind of media a stream carries: the m= line the tap placed it on (audio, video, image ...),
    else video when every payload type is a static video one, else audio."""
    if stream.media_type:
        return stream.media_type.lower()
    if stream.payloads and all(p.pt in VIDEO_PAYLOADS for p in stream.payloads):
        return "video"
    return "audio"


def other(party: str) -> str:
    return CALLEE if party == CALLER else CALLER


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def is_private(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in PRIVATE_NETS)


@dataclass(frozen=True)
class Exchange:
    """One SDP offer and its answer."""

    offer: SipMessage | None  # None when only the answer was captured
    answer: SipMessage | None  # None when the offer was never answered
    initial: bool  # part of the call set-up, not a later re-INVITE/UPDATE
    offerer: str  # caller or callee

    @property
    def offer_sdp(self) -> Sdp | None:
        return self.offer.sdp if self.offer is not None else None

    @property
    def answer_sdp(self) -> Sdp | None:
        return self.answer.sdp if self.answer is not None else None

    @property
    def time(self) -> float:
        """When the exchange completed (or was offered, unanswered)."""
        message = self.answer or self.offer
        return message.time if message is not None else 0.0

    def sdp_of(self, party: str) -> Sdp | None:
        """The SDP this exchange carries from a party."""
        return self.offer_sdp if party == self.offerer else self.answer_sdp


@dataclass(frozen=True)
class MediaView:
    """The media facts of one call that media rules share."""

    flow: CallFlow
    caller_tag: str | None
    exchanges: tuple[Exchange, ...]

    @property
    def streams(self) -> tuple[RtpStream, ...]:
        """Every stream of the call, of any kind."""
        return self.flow.call.streams

    @property
    def audio_streams(self) -> tuple[RtpStream, ...]:
        """The streams negotiated on audio m= lines: the ones audio rules judge."""
        return tuple(s for s in self.streams if media_kind(s) == "audio")

    @property
    def other_streams(self) -> tuple[RtpStream, ...]:
        """Video, T.38 and other non-audio streams: listed as facts, never graded as audio."""
        return tuple(s for s in self.streams if media_kind(s) != "audio")

    def party_of(self, message: SipMessage) -> str:
        """Who sent a message: requests by their From tag, responses the other way."""
        mine = message.from_tag == self.caller_tag
        if message.is_request:
            return CALLER if mine else CALLEE
        return CALLEE if mine else CALLER

    @property
    def initial(self) -> Exchange | None:
        """The set-up exchange that was answered (else the last set-up exchange)."""
        initial = [e for e in self.exchanges if e.initial]
        answered = [e for e in initial if e.answer is not None]
        return (answered or initial or [None])[-1]

    def audio_pair(self) -> tuple[SdpMedia | None, SdpMedia | None]:
        """The initial exchange's audio m= lines: (offer, answer)."""
        exchange = self.initial
        if exchange is None:
            return None, None
        offer, answer = exchange.offer_sdp, exchange.answer_sdp
        return (offer.audio() if offer else None, answer.audio() if answer else None)

    @cached_property
    def _sdps(self) -> dict[str, tuple[tuple[SipMessage, Sdp], ...]]:
        """Each party's SDPs in time order (read once per call: media rules ask often)."""
        sent: dict[str, list[tuple[SipMessage, Sdp]]] = {CALLER: [], CALLEE: []}
        for exchange in self.exchanges:
            for message in (exchange.offer, exchange.answer):
                if message is not None and message.sdp is not None:
                    sent[self.party_of(message)].append((message, message.sdp))
        return {party: tuple(sorted(pairs, key=lambda pair: pair[0].time)) for party, pairs in sent.items()}

    def sdps(self, party: str) -> tuple[tuple[SipMessage, Sdp], ...]:
        """Every SDP the party sent, in time order."""
        return self._sdps.get(party, ())

    @cached_property
    def _endpoints(self) -> dict[str, frozenset[Endpoint]]:
        return {party: frozenset(e for _, sdp in self._sdps[party] for e in audio_endpoints(sdp))
                for party in (CALLER, CALLEE)}

    def endpoints(self, party: str) -> frozenset[Endpoint]:
        """The audio address:ports the party advertised in any SDP."""
        return self._endpoints.get(party, frozenset())

    @cached_property
    def _signalling(self) -> dict[str, frozenset[str]]:
        return {party: frozenset(m.src.addr for m in self.flow.call.messages if self.party_of(m) == party)
                for party in (CALLER, CALLEE)}

    def signalling_addresses(self, party: str) -> frozenset[str]:
        return self._signalling.get(party, frozenset())

    def sender_of(self, stream: RtpStream) -> str | None:
        """Which party sent a stream: by the SDP address it was sent to (robust to the
        sender's NAT), else by the one it came from, else by signalling address."""
        for party in (CALLER, CALLEE):
            if stream.dst in self.endpoints(party):
                return other(party)
        for party in (CALLER, CALLEE):
            if stream.src in self.endpoints(party):
                return party
        caller_ips, callee_ips = self.signalling_addresses(CALLER), self.signalling_addresses(CALLEE)
        if stream.src.addr in caller_ips and stream.src.addr not in callee_ips:
            return CALLER
        if stream.src.addr in callee_ips and stream.src.addr not in caller_ips:
            return CALLEE
        return None

    def may_send(self, party: str, time: float) -> bool:
        """Whether the SDP in force at `time` lets the party send audio."""
        state = [e for e in self.exchanges if e.answer is not None and e.time <= time]
        if not state:
            return True
        exchange = state[-1]
        mine, theirs = exchange.sdp_of(party), exchange.sdp_of(other(party))
        for sdp, sending in ((mine, True), (theirs, False)):
            media = sdp.audio() if sdp else None
            if sdp is None or media is None:
                continue
            if not media.port or sdp.address_of(media) in NULL_ADDRESSES:
                return False
            direction = sdp.direction_of(media)
            if sending and direction in ("recvonly", "inactive"):
                return False
            if not sending and direction in ("sendonly", "inactive"):
                return False
        return True

    def unexcused(self, party: str, begin: float, end: float) -> tuple[float, float]:
        """The longest part of [begin, end] during which the SDP let the party send
        (exchanges that complete inside the period split it)."""
        changes = (e.time for e in self.exchanges if e.answer is not None and begin < e.time < end)
        cuts = sorted({begin, end, *changes})
        best, start = (begin, begin), None
        for a, b in pairwise(cuts):
            if self.may_send(party, a):
                start = a if start is None else start
                if b - start > best[1] - best[0]:
                    best = (start, b)
            else:
                start = None
        return best

    def after_answer(self, streams: Sequence[RtpStream] | None = None) -> tuple[RtpStream, ...]:
        """Audio streams (or the given ones) with packets after the 2xx answer."""
        answer = self.flow.answer
        if answer is None:
            return ()
        return tuple(s for s in (self.audio_streams if streams is None else streams) if s.last_time >= answer.time)


def audio_endpoints(sdp: Sdp) -> set[Endpoint]:
    """The address:ports an SDP's audio m= lines advertise (not refused, not null)."""
    found = set()
    for media in sdp.media:
        address = sdp.address_of(media)
        if media.type == "audio" and media.port and address and address not in NULL_ADDRESSES:
            found.add(Endpoint(address, media.port))
    return found


def share_streams(summary: Summary, flows: Sequence[CallFlow], advertised: Sequence[Iterable[Endpoint]]) -> Summary:
    """Give each call also the streams linked elsewhere (or nowhere) that its SDP points at.

    A B2BUA that re-INVITEs both legs for direct media, or a proxy seen on both
    sides, has one RTP stream serving several calls; the tap links it to one.
    flows: the summary's calls' flows, in the same order; advertised: the audio endpoints each call's SDPs
    name (legs.CallKeys.endpoints), in the same order."""
    everything = [s for c in summary.calls for s in c.streams] + list(summary.unlinked_streams)
    by_endpoint: dict[Endpoint, list[int]] = {}  # endpoint -> positions in `everything`
    for index, stream in enumerate(everything):
        by_endpoint.setdefault(stream.dst, []).append(index)
        if stream.src != stream.dst:
            by_endpoint.setdefault(stream.src, []).append(index)
    calls = []
    for call, flow, endpoints in zip(summary.calls, flows, advertised, strict=True):
        own = {id(s) for s in call.streams}  # by identity: hashing a stream hashes all its fields
        others = [everything[i] for i in sorted({i for e in endpoints for i in by_endpoint.get(e, ())})
                  if id(everything[i]) not in own]
        if not others:  # (the usual case: the SDP points at the call's own streams only)
            calls.append(call)
            continue
        start, end = flow.media_window(summary.facts.duration)
        extra = tuple(s for s in others if s.last_time >= start and s.first_time <= end)
        calls.append(replace(call, streams=call.streams + extra) if extra else call)
    linked = {id(s) for c in calls for s in c.streams}
    return replace(summary, calls=tuple(calls),
                   unlinked_streams=tuple(s for s in summary.unlinked_streams if id(s) not in linked))


def exchanges(flow: CallFlow, party_of) -> tuple[Exchange, ...]:
    """Offer/answer exchanges of INVITE and UPDATE transactions, in time order."""
    attempts = {id(t) for t in flow.attempts}
    out = []
    for tx in flow.transactions:
        if tx.method not in ("INVITE", "UPDATE"):
            continue
        initial = id(tx) in attempts
        responses = [r for r in tx.responses if not r.retransmission and r.status and r.status > 100]
        request = tx.request
        if request is not None and request.sdp is not None:
            answer = next((r for r in responses if r.sdp is not None and r.status < 300), None)
            out.append(Exchange(request, answer, initial, party_of(request)))
        elif request is not None and tx.method == "INVITE":
            # delayed offer: the offer in the 2xx, the answer in the ACK
            offer = next((r for r in responses if r.sdp is not None and 200 <= r.status < 300), None)
            if offer is not None:
                ack = next((m for m in flow.requests("ACK") if m.cseq == tx.cseq and m.sdp is not None), None)
                out.append(Exchange(offer, ack, initial, party_of(offer)))
        elif request is None:
            answer = next((r for r in responses if r.sdp is not None and r.status < 300), None)
            if answer is not None:
                out.append(Exchange(None, answer, initial, other(party_of(answer))))
    return tuple(out)


def media_view(flow: CallFlow) -> MediaView:
    first = flow.first_invite
    if first is not None:
        caller_tag = first.from_tag
    else:
        caller_tag = next((m.from_tag for m in flow.call.messages if m.from_tag), None)
    view = MediaView(flow=flow, caller_tag=caller_tag, exchanges=())
    return MediaView(flow=flow, caller_tag=caller_tag, exchanges=exchanges(flow, view.party_of))
