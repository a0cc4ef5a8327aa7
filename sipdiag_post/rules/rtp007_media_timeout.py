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
    keep media flowing: Keep media flowing through quiet periods: send comfort
    noise rather than nothing (turn off silence suppression that stops RTP),
    and hold calls with a re-INVITE (sendonly/inactive) instead of just
    stopping. If the sender did not mean to stop, look for a firewall or NAT
    timeout.

    livekit timeouts: LiveKit's SIP service hangs up (a BYE without a Reason
    header) when no RTP arrives within 30 s of the answer or after 15 s of
    silence: a provider that stops sending during hold or silence must send
    comfort noise or re-INVITE to hold instead.

Exceptions:
    Silence while the SDP puts the party on hold (recvonly/inactive, or the
    other side sendonly) passes. ``n/a`` for unanswered calls.
"""

from __future__ import annotations

from ..analysis.media import CALLEE, CALLER
from ..model import RtpStream
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import livekit_party, stream_filter
from .base import CallContext, Rule, Threshold, remedies

REMEDY = remedies(__doc__)

MEDIA_START = Threshold("media_start_s", 30.0, "s", "no RTP this long after the answer: the call would be dropped")
MEDIA_GAP = Threshold("media_gap_s", 15.0, "s", "a silence longer than this while the call is up")


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


def _remedy(ctx: CallContext) -> str:
    if livekit_party(ctx) is None:
        return REMEDY["keep media flowing"]
    return REMEDY["keep media flowing"] + " " + REMEDY["livekit timeouts"]


def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    answer = ctx.flow.answer
    if answer is None:
        return not_applicable("the call was not answered")
    start_within, longest_gap = MEDIA_START.of(ctx.settings), MEDIA_GAP.of(ctx.settings)
    end = min(ctx.flow.hangup_time(ctx.capture_end), ctx.capture_end)
    after = view.after_answer()
    if not after:
        if not ctx.facts.media_captured:
            return not_applicable("the capture holds no RTP or RTCP of any call (CAP004)")
        if end - answer.time >= start_within:
            return failed(f"no RTP within {start_within:g} s of the answer ({end - answer.time:.0f} s up)",
                          remedy=_remedy(ctx),
                          evidence=[Evidence("answered at", f"frame {answer.frame}")],
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
            if finish - begin > longest_gap and longer:
                worst = (begin, finish, stream, party)
    if worst is None:
        return passed(f"no silence over {longest_gap:g} s while the call was up")
    begin, finish, stream, party = worst
    evidence = [Evidence("silent party", party), Evidence("silence", f"{begin:.3f}s to {finish:.3f}s "
                                                                     f"({finish - begin:.1f} s)")]
    frames = []
    if stream is not None:
        evidence.append(Evidence("stream", stream.label()))
        frames = [stream.gap_end_frame or stream.last_frame, stream.last_frame]
    return failed(f"the {party} sent no RTP for {finish - begin:.1f} s while the call was up",
                  remedy=_remedy(ctx), evidence=evidence, frames=frames,
                  display_filter=stream_filter(stream) if stream is not None else "rtp")


RULE = Rule(id="RTP007", name="media-timeout", scope="call", check=check, doc=__doc__ or "",
            thresholds=(MEDIA_START, MEDIA_GAP))
