"""RTP arrives with too much jitter.

What it checks:
    Per stream, the mean RFC 3550 interarrival jitter in milliseconds, computed
    with the negotiated clock rate exactly as tshark's RTP stream analysis does
    (and RTCP's reported jitter as a second opinion). Pass below 5 ms, fail
    above 20 ms (configurable), warn between.

Why it matters:
    Jitter buffers absorb a little variation; beyond that, late packets are
    dropped at the receiver and speech turns choppy even with no network loss.

Evidence:
    Per stream: mean and maximum jitter, RTCP-reported jitter, frames and a
    filter for the stream.

Remedy:
    queueing: Look for queueing on the path: congested links (uploads beside
    calls), Wi-Fi, VPNs on busy hosts, overloaded SBCs. Prioritise RTP (DSCP
    EF, QoS); the receiver should use an adaptive jitter buffer.

Exceptions:
    Streams whose clock rate is unknown (telephone-event only, unknown dynamic
    payload types) are not measured; ``n/a`` without RTP.
"""

from __future__ import annotations

from ..model import RtpStream
from ..verdict import Evidence, Outcome, Status, failed, not_applicable, passed, warned
from ._common import grade, stream_filter
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)


JITTER_WARN = Threshold("jitter_warn_ms", 5.0, "ms", "mean interarrival jitter at or above this is at least warn")
JITTER_FAIL = Threshold("jitter_fail_ms", 20.0, "ms", "mean interarrival jitter above this fails")


def rtcp_jitter_ms(stream: RtpStream) -> float | None:
    clock = next((p.clock_rate for p in stream.payloads if p.clock_rate), 0)
    if not stream.rtcp or not stream.rtcp.reports or not clock:
        return None
    return 1000.0 * stream.rtcp.jitter_max / clock


def check(ctx: CallContext) -> Outcome:
    measured = [s for s in ctx.media.audio_streams if any(p.clock_rate for p in s.payloads) and s.packets > 1]
    if not measured:
        return not_applicable("no audio RTP stream with a known clock rate")
    warn_at, fail_above = JITTER_WARN.of(ctx.settings), JITTER_FAIL.of(ctx.settings)
    stream = max(measured, key=lambda s: s.jitter_mean_ms)
    evidence = []
    for s in measured:
        line = f"mean {s.jitter_mean_ms:.2f} ms, max {s.jitter_max_ms:.2f} ms"
        reported = rtcp_jitter_ms(s)
        if reported is not None:
            line += f", RTCP reported up to {reported:.1f} ms"
        evidence.append(Evidence(s.label(), line))
    status = grade(stream.jitter_mean_ms, warn_at, fail_above)
    if status is Status.PASS:
        return passed(f"mean jitter below {warn_at:g} ms on every stream "
                      f"(worst {stream.jitter_mean_ms:.2f} ms)", evidence=evidence)
    make = failed if status is Status.FAIL else warned
    return make(
        f"mean jitter {stream.jitter_mean_ms:.1f} ms on {stream.ssrc_hex} (max {stream.jitter_max_ms:.1f} ms)",
        remedy=REMEDY["queueing"],
        evidence=evidence, frames=[stream.first_frame, stream.last_frame], display_filter=stream_filter(stream))


RULE = Rule(id="RTP004", name="jitter", scope="call", check=check, doc=__doc__ or "",
            thresholds=(JITTER_WARN, JITTER_FAIL))
