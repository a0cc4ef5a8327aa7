"""Building calls and summaries for rule tests, without tshark.

    call = CallBuilder().invite().response(100).response(180).response(200).ack().build()

Messages get consecutive frame numbers; `at(t)` sets the time of the next
one (else 0.1 s after the previous). Requests get fresh Via branches;
responses reuse the branch of the latest request with their CSeq method.
"""

from __future__ import annotations

from dataclasses import replace

from sipdiag_post.engine import contexts, evaluate
from sipdiag_post.model import (
    Call,
    CaptureFacts,
    Endpoint,
    Header,
    NameAddr,
    PayloadCount,
    RtcpStats,
    RtpStream,
    Sdp,
    SdpMedia,
    SipMessage,
    Summary,
)
from sipdiag_post.report import CallReport
from sipdiag_post.rules.base import Rule, Settings
from sipdiag_post.verdict import Outcome

CALLER = Endpoint("198.51.100.10", 5060)
CALLEE = Endpoint("203.0.113.20", 5060)
CALL_ID = "test-call@sipdiag.test"
CALLER_MEDIA = Endpoint("198.51.100.10", 16000)
CALLEE_MEDIA = Endpoint("203.0.113.20", 18000)
_NAMES = {"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000", "18": "G729/8000", "101": "telephone-event/8000"}


def sdp(endpoint: Endpoint = CALLER_MEDIA, formats: str = "8 0 101", *, direction: str | None = None,
        address: str | None = None, port: int | None = None, proto: str = "RTP/AVP") -> Sdp:
    """An SDP with one audio line."""
    fmts = tuple(formats.split())
    media = SdpMedia(line=f"audio {endpoint.port if port is None else port} {proto} {formats}", type="audio",
                     port=endpoint.port if port is None else port, proto=proto, formats=fmts,
                     rtpmap=tuple(f"{f} {_NAMES[f]}" for f in fmts if f in _NAMES), direction=direction)
    return Sdp(connection=address if address is not None else endpoint.addr, media=(media,))


def stream(src: Endpoint = CALLER_MEDIA, dst: Endpoint = CALLEE_MEDIA, *, ssrc: int = 0x11111111,
           start: float = 1.0, end: float = 7.0, pt: int = 8, **fields: object) -> RtpStream:
    """An RTP stream: 50 packets a second between start and end, no loss, unless told otherwise."""
    packets = int((end - start) * 50)
    values: dict[str, object] = {
        "src": src, "dst": dst, "ssrc": ssrc, "first_frame": 100, "last_frame": 100 + packets,
        "first_time": start, "last_time": end, "packets": packets, "expected": packets, "lost": 0,
        "jitter_mean_ms": 0.5, "jitter_max_ms": 1.0, "gap_max_s": 0.02, "gap_start_time": start,
        "payloads": (PayloadCount(pt=pt, packets=packets, clock_rate=8000),),
    }
    values.update(fields)
    return RtpStream(**values)  # type: ignore[arg-type]


def rtcp(**fields: object) -> RtcpStats:
    return RtcpStats(**fields)  # type: ignore[arg-type]


class CallBuilder:
    def __init__(self, call_id: str = CALL_ID, caller: Endpoint = CALLER, callee: Endpoint = CALLEE,
                 transport: str = "UDP") -> None:
        self.call_id = call_id
        self.caller, self.callee = caller, callee
        self.transport = transport
        self.messages: list[SipMessage] = []
        self._next_time: float | None = None
        self._branches: dict[str, str] = {}
        self._cseq = 0
        self._cseqs: dict[str, int] = {}
        self._count = 0
        self._streams: list[RtpStream] = []

    def streams(self, *streams: RtpStream) -> CallBuilder:
        self._streams.extend(streams)
        return self

    def at(self, time: float) -> CallBuilder:
        self._next_time = time
        return self

    def _time(self) -> float:
        if self._next_time is not None:
            time, self._next_time = self._next_time, None
            return time
        return self.messages[-1].time + 0.1 if self.messages else 0.0

    def _add(self, message: SipMessage) -> CallBuilder:
        self.messages.append(message)
        return self

    def request(self, method: str, *, from_callee: bool = False, to_tag: str | None = "callee-tag",
                cseq: int | None = None, **fields: object) -> CallBuilder:
        if cseq is None:
            if method in ("ACK", "CANCEL"):
                cseq = self._cseqs.get("INVITE", 1)
            else:
                self._cseq += 1
                cseq = self._cseq
        self._cseqs[method] = cseq
        self._count += 1
        if method == "CANCEL" or (method == "ACK" and fields.pop("non_2xx", False)):
            branch = self._branches.get("INVITE", "z9hG4bK-1")
        else:
            branch = f"z9hG4bK-{self._count}"
        self._branches[method] = branch
        if fields.get("sdp") is not None:
            fields["has_sdp"] = True
        src, dst = (self.callee, self.caller) if from_callee else (self.caller, self.callee)
        return self._add(SipMessage(
            frame=len(self.messages) + 1, index=1, time=self._time(), src=src, dst=dst,
            transport=self.transport, start_line=f"{method} sip:+15550100002@sipdiag.test SIP/2.0",
            kind="request", method=method, request_uri="sip:+15550100002@sipdiag.test", cseq=cseq,
            cseq_method=method, branch=branch, from_tag="caller-tag", to_tag=to_tag, **fields,  # type: ignore[arg-type]
        ))

    def invite(self, *, sdp: bool | Sdp = True, initial: bool = True, **fields: object) -> CallBuilder:
        """An INVITE; sdp is an Sdp body, or just whether it has one."""
        if isinstance(sdp, Sdp):
            fields["sdp"] = sdp
        return self.request("INVITE", to_tag=None if initial else "callee-tag", has_sdp=bool(sdp), **fields)

    def response(self, status: int, reason: str | None = None, *, method: str = "INVITE",
                 to_callee: bool = False, **fields: object) -> CallBuilder:
        reason = reason if reason is not None else _REASONS.get(status, "Response")
        if fields.get("sdp") is not None:
            fields["has_sdp"] = True
        src, dst = (self.caller, self.callee) if to_callee else (self.callee, self.caller)
        return self._add(SipMessage(
            frame=len(self.messages) + 1, index=1, time=self._time(), src=src, dst=dst,
            transport=self.transport, start_line=f"SIP/2.0 {status} {reason}".strip(), kind="response",
            status=status, reason=reason, cseq=self._cseqs.get(method, 1), cseq_method=method,
            branch=self._branches.get(method), from_tag="caller-tag",
            to_tag=None if status == 100 else "callee-tag", **fields,  # type: ignore[arg-type]
        ))

    def ack(self, *, non_2xx: bool = False, **fields: object) -> CallBuilder:
        return self.request("ACK", non_2xx=non_2xx, **fields)

    def retransmit(self, at: float | None = None) -> CallBuilder:
        last = self.messages[-1]
        time = at if at is not None else last.time + 0.5
        return self._add(replace(last, frame=len(self.messages) + 1, time=time, retransmission=True))

    def build(self) -> Call:
        first = self.messages[0]
        return Call(
            call_id=self.call_id,
            first_frame=first.frame,
            from_=NameAddr(uri="sip:+15550100001@sipdiag.test", tag="caller-tag"),
            to=NameAddr(uri="sip:+15550100002@sipdiag.test"),
            messages=tuple(self.messages),
            total_messages=len(self.messages),
            retransmissions=sum(m.retransmission for m in self.messages),
            streams=tuple(self._streams),
        )


_REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 407: "Proxy Authentication Required",
            408: "Request Timeout", 480: "Temporarily Unavailable", 486: "Busy Here", 487: "Request Terminated",
            488: "Not Acceptable Here", 503: "Service Unavailable", 603: "Decline"}


def answered() -> CallBuilder:
    """INVITE -> 100 -> 180 -> 200 -> ACK."""
    return CallBuilder().invite().response(100).response(180).response(200).ack()


def talking(offer: Sdp | None = None, answer: Sdp | None = None) -> CallBuilder:
    """An answered call with SDP: INVITE (offer) at 0 s, 200 (answer) at 0.5 s, ACK, BYE at 10 s."""
    return (CallBuilder().at(0.0).invite(sdp=offer or sdp(CALLER_MEDIA))
            .at(0.5).response(200, sdp=answer or sdp(CALLEE_MEDIA, "8 101")).at(0.6).ack())


def hang_up(builder: CallBuilder, at: float = 10.0) -> CallBuilder:
    return builder.at(at).request("BYE").response(200, method="BYE")


def rejected(status: int, reason: str | None = None, **fields: object) -> CallBuilder:
    """INVITE -> 100 -> status -> ACK."""
    return CallBuilder().invite().response(100).response(status, reason, **fields).ack(non_2xx=True)


def facts(**overrides: object) -> CaptureFacts:
    """A capture's facts; by default it holds some media (rtp_streams=1), as most captures do."""
    values: dict[str, object] = {"packets": 100, "duration": 60.0, "sip_messages": 10, "calls": 1, "rtp_streams": 1}
    values.update(overrides)
    return CaptureFacts(**values)  # type: ignore[arg-type]


def x_header(name: str, value: str) -> Header:
    return Header(name, value)


def run(rule: Rule, call: Call, *, capture_end: float | None = None, settings: Settings | None = None,
        media_captured: bool = True) -> Outcome:
    """One call rule's outcome on a call, in a capture of that call alone: contexts built by the engine.
    media_captured=False: the capture holds no RTP or RTCP at all (a signalling-only capture)."""
    end = capture_end if capture_end is not None else max(m.time for m in call.messages) + 60.0
    capture = facts(duration=end, rtp_streams=1 if media_captured else 0)
    _, (ctx,) = contexts(Summary(facts=capture, calls=(call,)), settings or Settings())
    return rule.check(ctx)


def report(call: Call, *, capture_end: float | None = None, settings: Settings | None = None) -> CallReport:
    """Every rule on a call, as the engine runs them (explanations and the verdict included)."""
    end = capture_end if capture_end is not None else max(m.time for m in call.messages) + 60.0
    summary = Summary(facts=facts(duration=end), calls=(call,))
    return evaluate("test", summary, settings or Settings()).calls[0]


def run_capture(rule: Rule, summary: Summary) -> Outcome:
    """One capture rule's outcome, on the context the engine builds."""
    capture_ctx, _ = contexts(summary, Settings())
    return rule.check(capture_ctx)
