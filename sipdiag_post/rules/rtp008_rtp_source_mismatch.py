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
    ``info`` ("latched") when the other side already sends its RTP back to
    the observed source: the NAT is there, and it works. ``fail`` only when
    the other side keeps sending to the advertised address, or sends
    nothing. A stream from an address another call of the capture
    advertised (a B2BUA that moved the media into a direct path between the
    phones, the other leg of a transfer) is not a rewritten source, nor is
    a party seen from its own private address while its SDP names a public
    one: the capture is inside its 1:1 NAT (a LiveKit Cloud PCAP). ``n/a``
    without RTP or without SDP addresses to compare.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import MediaView, is_private, other
from ..model import Endpoint, RtpStream
from ..verdict import Evidence, Outcome, Status, failed, info, not_applicable, passed
from ._common import stream_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def _reverse(view: MediaView, sender: str) -> tuple[RtpStream, ...]:
    """The audio streams the other party sent after the answer."""
    return tuple(s for s in (view.after_answer() or view.audio_streams) if view.sender_of(s) == other(sender))


def _inside_its_nat(view: MediaView, stream: RtpStream, sender: str, advertised: set[Endpoint]) -> bool:
    """The capture is taken inside the sender's 1:1 NAT (a LiveKit Cloud PCAP, say): it sends from a private
    address that is also its signalling address, and its SDP names a public one, as it should."""
    return (is_private(stream.src.addr) and stream.src.addr in view.signalling_addresses(sender)
            and all(not is_private(e.addr) for e in advertised))


def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    streams = view.after_answer() or view.audio_streams
    if not streams:
        return not_applicable("no RTP in this call")
    compared, mismatched, other_legs = 0, [], []
    for stream in streams:
        sender = view.sender_of(stream)
        advertised = view.endpoints(sender) if sender else set()
        if not advertised:
            continue
        compared += 1
        if stream.src in advertised:
            continue
        legs = ctx.capture.advertised_elsewhere(stream.src, ctx.call.call_id)
        if _inside_its_nat(view, stream, sender, advertised):
            other_legs.append(Evidence(stream.label(), f"the {sender} is seen from its private address and "
                                       "advertises a public one: the capture is inside its 1:1 NAT"))
        elif legs:
            other_legs.append(Evidence(stream.label(), f"from an address call {legs[0]} advertised (direct media "
                                       "or another leg), not a rewritten source"))
        else:
            mismatched.append((stream, sender, advertised))
    if not compared:
        return not_applicable("no stream whose sender advertised an SDP address")
    if not mismatched:
        return passed(f"{compared} stream(s) come from the address their sender advertised"
                      + (f" (or, for {len(other_legs)}, from where the capture point explains)" if other_legs else ""),
                      evidence=other_legs)
    stream, sender, advertised = mismatched[0]
    evidence = [Evidence(s.label(), f"sent by the {who}, who advertised {', '.join(sorted(map(str, adv)))}")
                for s, who, adv in mismatched]
    back = _reverse(view, sender)
    latched = [s for s in back if s.dst == stream.src]
    evidence += [stream_evidence(f"the {other(sender)}'s RTP", s) for s in back]
    summary = (f"RTP from the {sender} comes from {stream.src}, not from the advertised "
               f"{', '.join(sorted(map(str, advertised)))}")
    display_filter = f"({filters.streams([stream, *back])}) || ({filters.sdp(ctx.call.call_id)})"
    if latched:
        return info(f"{summary}; the {other(sender)} latched and sends its RTP back to that source "
                    f"({latched[0].packets} packets): NAT traversal works", evidence=evidence,
                    frames=[stream.first_frame, latched[0].first_frame], display_filter=display_filter)
    how = (f"the {other(sender)} sends its RTP to {back[0].dst}, not to that source" if back else
           f"the {other(sender)} sends no RTP back")
    return failed(f"{summary}; {how}", remedy=REMEDY["latch"], evidence=evidence,
                  frames=[stream.first_frame, *(s.first_frame for s in back[:1])], display_filter=display_filter)


RULE = Rule(id="RTP008", name="rtp-source-mismatch", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.INFO, Status.FAIL, Status.NA}))
