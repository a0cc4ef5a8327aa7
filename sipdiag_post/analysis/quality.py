"""Audio quality per stream: the E-model (emodel.py) fed with what the capture shows.

Per audio stream: its codec (the encoding its speech packets carry, named by
the call's SDP), packetisation (the SDP's a=ptime, else the stream's median
packet rate, else 20 ms), the packets
not played (lost, from the capture or from the receiver's RTCP when that
reports more, plus those too late for the jitter buffer) with their loss runs,
and the network one-way delay (half the RTCP round trip where one was
measured). Two jitter buffers are modelled: an adaptive one at the depth it
would settle on (of the depths the tap counted late packets for, the one with
the best R: the figure that is graded) and a fixed 60 ms one (shown beside
it). The receiver is taken to conceal G.711 loss (PLC).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from ..emodel import FixedBuffer, NotRated, Rating, SettledBuffer, rate_stream
from ..model import RtpStream
from .media import MediaView, media_kind

FIXED_BUFFER = FixedBuffer(60.0)
MIN_BUFFER_MS = 20.0  # the adaptive buffer's depth when no packet came 20 ms late
DEFAULT_PTIME_MS = 20.0
COMMON_PTIMES_MS = (10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 120.0)  # a packet rate is read as the nearest of these
MIN_EXPECTED = 50  # packets: a shorter stream (1 s at 20 ms) is not rated
_NOT_SPEECH = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx"})


@dataclass(frozen=True)
class StreamQuality:
    """The E-model's figures for one stream, or why it has none."""

    stream: RtpStream
    codec: str | None  # encoding name of its speech packets ("PCMA"); None when the SDP does not name it
    pt: int | None  # their payload type; None without speech packets
    ptime_ms: float  # packetisation used
    ptime_from: str  # "a=ptime", "50 packets/s" (the stream's median rate), "" when DEFAULT_PTIME_MS assumed
    adaptive: Rating | NotRated  # with the adaptive jitter buffer: the graded figure
    fixed: Rating | NotRated  # with a fixed 60 ms buffer
    loss_from: str  # "capture", or "RTCP" when the receiver reported more loss than the capture shows
    names: tuple[tuple[int, str], ...] = ()  # (payload type, encoding name) for each type the SDP names

    @property
    def mos(self) -> float | None:
        return self.adaptive.mos if isinstance(self.adaptive, Rating) else None


def _encoding(view: MediaView, stream: RtpStream, pt: int) -> str | None:
    """The encoding a payload type stands for on the stream's m= line, else in any SDP of the call."""
    lines = []
    for exchange in view.exchanges:
        for sdp, message in ((exchange.offer_sdp, exchange.offer), (exchange.answer_sdp, exchange.answer)):
            if sdp is None or message is None:
                continue
            for index, media in enumerate(sdp.media, start=1):
                placed = message.frame == stream.media_frame and index == stream.media_index
                lines.append((not placed, media))
    for _, media in sorted(lines, key=lambda pair: pair[0]):
        name = media.encoding(str(pt))
        if name:
            return name
    return None


def _ptime(view: MediaView, stream: RtpStream) -> tuple[float | None, str]:
    """The packetisation: the SDP's a=ptime, else the stream's own typical packet rate (the median of
    its per-second counts); None when neither tells."""
    stated = _stated_ptime(view)
    if stated is not None:
        return stated, "a=ptime"
    busy = sorted(n for n in stream.pps if n > 0)
    if len(busy) >= 3:
        rate = busy[len(busy) // 2]
        if 5 <= rate <= 200:
            ptime = min(COMMON_PTIMES_MS, key=lambda p: abs(p - 1000 / rate))
            return ptime, f"{rate} packets/s"
    return None, ""


def _stated_ptime(view: MediaView) -> float | None:
    for exchange in reversed(view.exchanges):
        for sdp in (exchange.answer_sdp, exchange.offer_sdp):
            media = sdp.audio() if sdp is not None else None
            if media is not None and media.ptime:
                try:
                    value = float(media.ptime)
                except ValueError:
                    continue
                if 0 < value <= 200:
                    return value
    return None


def speech_payload(view: MediaView, stream: RtpStream) -> tuple[int | None, str | None]:
    """The payload type most of a stream's speech packets carry and its encoding name."""
    best: tuple[int, int, str | None] | None = None
    for payload in stream.payloads:
        name = _encoding(view, stream, payload.pt)
        if name is not None and name.lower() in _NOT_SPEECH:
            continue
        if best is None or payload.packets > best[1]:
            best = (payload.pt, payload.packets, name)
    return (best[0], best[2]) if best is not None else (None, None)


def network_delay_ms(view: MediaView) -> float | None:
    """Half the largest mean RTCP round trip of the call's audio streams; None when none was measured."""
    trips = [s.rtcp.rtt_mean_ms for s in view.audio_streams
             if s.rtcp is not None and s.rtcp.rtt_count and s.rtcp.rtt_mean_ms is not None]
    return max(trips) / 2 if trips else None


def _depths_worth_rating(late: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """The buffer depths a settled buffer may take: each depth the tap counted late packets at (smallest
    first), but a depth where as many packets are late as at the depth below it: the same loss with
    more delay cannot rate higher (G.107's Id grows with the delay), and a tie goes to the smaller.
    MIN_BUFFER_MS when nothing was counted."""
    if not late:
        return (MIN_BUFFER_MS,)
    if any(b[0] <= a[0] for a, b in pairwise(late)):  # not in order: every one
        return tuple(d for d, _ in late)
    return (late[0][0], *(b[0] for a, b in pairwise(late) if b[1] != a[1]))


def stream_quality(view: MediaView, stream: RtpStream, delay_ms: float | None) -> StreamQuality:
    """The E-model figures of one stream of the call."""
    pt, codec = speech_payload(view, stream)
    names = tuple((p.pt, name) for p in stream.payloads if (name := _encoding(view, stream, p.pt)))
    found, ptime_from = _ptime(view, stream)
    ptime = found or DEFAULT_PTIME_MS

    def unrated(reason: str) -> StreamQuality:
        why = NotRated(codec or "?", reason)
        return StreamQuality(stream=stream, codec=codec, pt=pt, ptime_ms=ptime, ptime_from=ptime_from,
                             adaptive=why, fixed=why, loss_from="capture", names=names)

    if media_kind(stream) != "audio":
        return unrated(f"a {media_kind(stream)} stream, not audio")
    if pt is None:
        return unrated("no speech packets")
    if codec is None:
        return unrated(f"the SDP does not name payload type {pt}")
    if stream.expected < MIN_EXPECTED:
        return unrated(f"only {stream.expected} packets expected: too short to rate")
    lost, runs, source = max(stream.lost, 0), dict(stream.loss_runs), "capture"
    reported = stream.rtcp.reported_loss_pct if stream.rtcp is not None else None
    if reported is not None and reported > stream.loss_pct:
        lost, runs, source = round(reported * stream.expected / 100), {}, "RTCP"
    late = dict(stream.late)

    def rated(buffer: SettledBuffer | FixedBuffer) -> Rating | NotRated:
        return rate_stream(codec, stream.expected, lost, runs or None, ptime_ms=ptime, network_delay_ms=delay_ms,
                           jitter_ms=stream.jitter_max_ms, buffer=buffer, late_by_buffer_ms=late)

    settled = [rated(SettledBuffer(depth)) for depth in _depths_worth_rating(stream.late)]
    best = max(settled, key=lambda r: r.r if isinstance(r, Rating) else -1e9)  # ties: the smaller depth
    return StreamQuality(stream=stream, codec=codec, pt=pt, ptime_ms=ptime, ptime_from=ptime_from,
                         adaptive=best, fixed=rated(FIXED_BUFFER), loss_from=source, names=names)


def call_quality(view: MediaView, streams: tuple[RtpStream, ...] | None = None) -> tuple[StreamQuality, ...]:
    """The figures of each of the call's streams (or of the given ones), in the same order."""
    delay = network_delay_ms(view)
    return tuple(stream_quality(view, s, delay) for s in (view.streams if streams is None else streams))
