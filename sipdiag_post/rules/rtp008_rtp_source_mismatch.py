"""RTP comes from another address:port than its sender advertised in SDP.

What it checks:
    For each RTP stream whose sender is known, whether its source address and
    port are among the audio addresses that party advertised in its SDP.

Why it matters:
    A different source means NAT (or an SBC) rewrote the packets on the way.
    A receiver that sends its audio back to the SDP address instead of the
    real source (no symmetric RTP) sends it into nowhere: one-way audio.

Evidence:
    The stream, its real source, and the address:port its sender advertised.

Remedy:
    latch: Let the receiver latch onto the real source of incoming RTP
    (symmetric RTP, 'comedia', NAT traversal settings), or make the sender
    advertise its public address (external IP, STUN, an SBC); a self-hosted
    SIP service behind NAT should advertise its external IP (LiveKit SIP:
    use_external_ip: true).

Exceptions:
    ``n/a`` without RTP or without SDP addresses to compare.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import stream_filter
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    streams = view.after_answer() or view.streams
    if not streams:
        return not_applicable("no RTP in this call")
    compared, mismatched = 0, []
    for stream in streams:
        sender = view.sender_of(stream)
        advertised = view.endpoints(sender) if sender else set()
        if not advertised:
            continue
        compared += 1
        if stream.src not in advertised:
            mismatched.append((stream, sender, advertised))
    if not compared:
        return not_applicable("no stream whose sender advertised an SDP address")
    if not mismatched:
        return passed(f"{compared} stream(s) come from the address their sender advertised")
    stream, sender, advertised = mismatched[0]
    evidence = [Evidence(s.label(), f"sent by the {who}, who advertised {', '.join(sorted(map(str, adv)))}")
                for s, who, adv in mismatched]
    return failed(f"RTP from the {sender} comes from {stream.src}, not from the advertised "
                  f"{', '.join(sorted(map(str, advertised)))}",
                  remedy=REMEDY["latch"],
                  evidence=evidence, frames=[stream.first_frame],
                  display_filter=f"({stream_filter(stream)}) || ({filters.sdp(ctx.call.call_id)})")


RULE = Rule(id="RTP008", name="rtp-source-mismatch", scope="call", check=check, doc=__doc__ or "")
