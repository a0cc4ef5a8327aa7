"""No RTP for long enough that the call would be dropped.

What it checks:
    After the answer and until the call ends (BYE, or the end of the capture):
    no RTP at all within 30 s, or a party that stops sending for more than
    15 s (both configurable) while the SDP in force lets it send. The silence
    of one party is the time covered by none of its streams.

Why it matters:
    SIP services hang up calls whose media stops (LiveKit SIP after about 30
    s), and NAT pinholes close after a similar quiet time: the call drops or
    turns one-way in mid-conversation.

Evidence:
    The party, when its silence began and ended, its length, the frames around
    it and a filter for the stream.

Remedy:
    Keep media flowing during quiet periods: send comfort noise instead of
    stopping (disable silence suppression/VAD that sends nothing), and put a
    call on hold with a re-INVITE (sendonly/inactive) rather than simply
    stopping. If the sender did not mean to stop, look for a firewall or NAT
    timeout on its path.

Exceptions:
    Silence while the SDP puts the party on hold (recvonly/inactive, or the
    other side sendonly) passes. ``n/a`` for unanswered calls.
"""

from __future__ import annotations

from ..media import CALLEE, CALLER
from ..model import RtpStream
from ._common import stream_filter
from .base import CallContext, Evidence, Outcome, Rule, failed, not_applicable, passed

_REMEDY = (
    "Keep media flowing through quiet periods: send comfort noise rather than nothing (turn off "
    "silence suppression that stops RTP), and hold calls with a re-INVITE (sendonly/inactive) instead "
    "of just stopping. If the sender did not mean to stop, look for a firewall or NAT timeout."
)


def silences(streams: list[RtpStream], start: float, end: float) -> list[tuple[float, float, RtpStream | None]]:
    """Periods within [start, end] that none of the streams covers, with the stream that ended each."""
    busy = []
    for s in streams:
        if s.gap_max_s > 0:
            gap_from, gap_to = s.gap_start_time, s.gap_start_time + s.gap_max_s
            busy += [(s.first_time, gap_from, s), (gap_to, s.last_time, s)]
        else:
            busy.append((s.first_time, s.last_time, s))
    busy.sort(key=lambda b: b[0])
    quiet, cursor, after = [], start, None
    for begin, finish, stream in busy:
        if begin > cursor:
            quiet.append((cursor, min(begin, end), stream))
        if finish > cursor:
            cursor, after = finish, stream
    if cursor < end:
        quiet.append((cursor, end, after))
    return [(a, b, s) for a, b, s in quiet if b > a]


def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    answer = ctx.flow.answer
    if answer is None:
        return not_applicable("the call was not answered")
    t = ctx.settings.thresholds
    end = min(view.call_end(ctx.capture_end), ctx.capture_end)
    after = view.after_answer()
    if not after:
        if end - answer.time >= t.media_start_s:
            return failed(f"no RTP within {t.media_start_s:g} s of the answer ({end - answer.time:.0f} s up)",
                          remedy=_REMEDY, evidence=[Evidence("answered at", f"frame {answer.frame}")],
                          frames=[answer.frame], display_filter="rtp")
        return not_applicable("no RTP at all while the call was up (RTP001)")
    worst = None
    for party in (CALLER, CALLEE):
        streams = [s for s in after if view.sender_of(s) == party]
        if not streams:
            continue
        for quiet_from, quiet_to, stream in silences(streams, answer.time, end):
            begin, finish = view.unexcused(party, quiet_from, quiet_to)
            longer = worst is None or finish - begin > worst[1] - worst[0]
            if finish - begin > t.media_gap_s and longer:
                worst = (begin, finish, stream, party)
    if worst is None:
        return passed(f"no silence over {t.media_gap_s:g} s while the call was up")
    begin, finish, stream, party = worst
    evidence = [Evidence("silent party", party), Evidence("silence", f"{begin:.3f}s to {finish:.3f}s "
                                                                     f"({finish - begin:.1f} s)")]
    frames = []
    if stream is not None:
        evidence.append(Evidence("stream", stream.label()))
        frames = [stream.gap_end_frame or stream.last_frame, stream.last_frame]
    return failed(f"the {party} sent no RTP for {finish - begin:.1f} s while the call was up",
                  remedy=_REMEDY, evidence=evidence, frames=frames,
                  display_filter=stream_filter(stream) if stream is not None else "rtp")


RULE = Rule(id="RTP007", name="media-timeout", scope="call", check=check, doc=__doc__ or "")
