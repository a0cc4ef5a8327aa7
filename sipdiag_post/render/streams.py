"""The per-stream quality view (`sipdiag streams`): what Wireshark's RTP Stream Analysis shows a person,
plus the E-model MOS with its explanation, the longest silences and the DTMF digits.

Packets, lost and jitter are the tap's, counted as tshark's `-z rtp,streams`
counts them (tests/test_rtp_agreement.py holds them to it). The MOS is the
adaptive-buffer figure RTP009 grades; the fixed 60 ms buffer's is beside it.
Reads each call's analysis; builds none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from ..analysis import CallAnalysis
from ..analysis.dtmf import Digit
from ..analysis.quality import StreamQuality
from ..emodel import Rating
from ..model import RtpStream
from ..text import safe_text

GAPS_SHOWN_MIN_S = 0.1  # silences shorter than this are ordinary packet spacing, not worth a line


@dataclass(frozen=True)
class CallStreams:
    """One call's streams as the view shows them."""

    number: int  # the call's number in the capture (1-based)
    analysis: CallAnalysis
    legs: tuple[str, ...] = ()


def _payload(stream: RtpStream, quality: StreamQuality | None) -> str:
    names = dict(quality.names) if quality is not None else {}
    return ", ".join(f"{p.pt} {names.get(p.pt, '')}".strip() for p in stream.payloads)


def _mos(rating: object) -> str:
    return f"{rating.mos:.2f}" if isinstance(rating, Rating) else "-"


def _row(index: int, stream: RtpStream, quality: StreamQuality | None) -> list[object]:
    lost = f"{stream.lost} ({100.0 * stream.lost / stream.expected:.1f}%)" if stream.expected else str(stream.lost)
    return [index, safe_text(str(stream.src)), safe_text(str(stream.dst)), stream.ssrc_hex,
            safe_text(_payload(stream, quality)), stream.packets, lost, stream.seq_errors,
            f"{stream.delta_max_ms:.3f}", f"{stream.jitter_mean_ms:.3f}", f"{stream.jitter_max_ms:.3f}",
            _mos(quality.adaptive) if quality is not None else "-",
            _mos(quality.fixed) if quality is not None else "-"]


HEADERS = ["#", "source", "destination", "SSRC", "payload", "packets", "lost", "seq errors", "max delta ms",
           "mean jitter ms", "max jitter ms", "MOS", "MOS fixed 60 ms"]


def _gaps(stream: RtpStream) -> str:
    shown = [g for g in stream.gaps if g.length_s >= GAPS_SHOWN_MIN_S]
    return ", ".join(f"{g.length_s:.3f} s from {g.start_time:.3f} s (ends at frame {g.end_frame})" for g in shown)


def _digit(d: Digit) -> str:
    duration = f" {d.duration_ms} ms" if d.duration_ms is not None else ""
    return f"{safe_text(d.key)} at {d.time:.3f} s{duration} ({d.method}, frame {d.frame})"


def _notes(index: int, stream: RtpStream, quality: StreamQuality | None) -> list[str]:
    lines = []
    if quality is not None:
        lines.append(f"  #{index} {quality.adaptive.explain()}")
    gaps = _gaps(stream)
    if gaps:
        lines.append(f"  #{index} longest gaps: {gaps}")
    return lines


def call_streams_text(entry: CallStreams) -> str:
    call = entry.analysis.call
    lines = [f"Call {entry.number}: {safe_text(call.call_id)}"]
    if entry.legs:
        lines.append(f"  other legs of this conversation: {', '.join(safe_text(leg) for leg in entry.legs)}")
    quality = {id(q.stream): q for q in entry.analysis.quality}
    if not call.streams:
        lines.append("  no RTP streams")
    else:
        rows = [_row(i, s, quality.get(id(s))) for i, s in enumerate(call.streams, start=1)]
        table = tabulate(rows, headers=HEADERS, tablefmt="simple", disable_numparse=True)
        lines.extend("  " + line for line in table.splitlines())
        for i, s in enumerate(call.streams, start=1):
            lines.extend(_notes(i, s, quality.get(id(s))))
    digits = entry.analysis.dtmf.digits
    if digits:
        lines.append("  DTMF: " + ", ".join(_digit(d) for d in digits))
    return "\n".join(lines) + "\n"


def unlinked_text(streams: Sequence[RtpStream]) -> str:
    if not streams:
        return ""
    rows = [_row(i, s, None) for i, s in enumerate(streams, start=1)]
    table = tabulate(rows, headers=HEADERS, tablefmt="simple", disable_numparse=True)
    return ("Streams of no call (no SDP names their codec: no MOS)\n"
            + "\n".join("  " + line for line in table.splitlines()) + "\n")


def streams_text(calls: Sequence[CallStreams], unlinked: Sequence[RtpStream] = ()) -> str:
    parts = [call_streams_text(c) for c in calls]
    extra = unlinked_text(unlinked)
    if extra:
        parts.append(extra)
    return "\n".join(parts) if parts else "no RTP streams\n"


def _rating_json(rating: object) -> dict[str, object]:
    if not isinstance(rating, Rating):
        return {"mos": None, "why_not": getattr(rating, "reason", None)}
    return {"mos": round(rating.mos, 2), "r": round(rating.r, 1), "ie_eff": round(rating.ie_eff, 1),
            "id": round(rating.id_, 1), "ppl": round(rating.ppl, 2), "burst_r": round(rating.burst_r, 2),
            "late": rating.late, "delay_ms": round(rating.delay_ms, 1), "delay_measured": rating.delay_measured,
            "buffer": rating.buffer_model, "buffer_ms": rating.buffer_ms, "codec": rating.codec,
            "explain": rating.explain()}


def _stream_json(stream: RtpStream, quality: StreamQuality | None) -> dict[str, object]:
    return {
        "src": str(stream.src), "dst": str(stream.dst), "ssrc": stream.ssrc_hex,
        "payloads": [{"pt": p.pt, "packets": p.packets} for p in stream.payloads],
        "codec": quality.codec if quality is not None else None,
        "first_time": stream.first_time, "last_time": stream.last_time,
        "packets": stream.packets, "expected": stream.expected, "lost": stream.lost,
        "lost_pct": round(100.0 * stream.lost / stream.expected, 2) if stream.expected else 0.0,
        "seq_errors": stream.seq_errors, "max_delta_ms": stream.delta_max_ms,
        "mean_jitter_ms": stream.jitter_mean_ms, "max_jitter_ms": stream.jitter_max_ms,
        "loss_runs": [{"length": n, "runs": k} for n, k in stream.loss_runs],
        "gaps": [{"length_s": g.length_s, "start_time": g.start_time, "end_frame": g.end_frame} for g in stream.gaps],
        "quality": _rating_json(quality.adaptive) if quality is not None else None,
        "quality_fixed_buffer": _rating_json(quality.fixed) if quality is not None else None,
    }


def streams_json(capture: str, calls: Sequence[CallStreams], unlinked: Sequence[RtpStream] = ()) -> str:
    out = {"capture": capture, "calls": [], "unlinked_streams": [_stream_json(s, None) for s in unlinked]}
    for entry in calls:
        quality = {id(q.stream): q for q in entry.analysis.quality}
        out["calls"].append({
            "number": entry.number, "call_id": entry.analysis.call.call_id,
            "streams": [_stream_json(s, quality.get(id(s))) for s in entry.analysis.call.streams],
            "dtmf": [{"key": d.key, "time": d.time, "duration_ms": d.duration_ms, "method": d.method,
                      "frame": d.frame} for d in entry.analysis.dtmf.digits],
        })
    return json.dumps(out, indent=2) + "\n"
