"""A party's SDP advertises a private address that the other side cannot reach.

What it checks:
    Whether an SDP audio address is private (10/8, 172.16/12, 192.168/16,
    100.64/10, link-local, IPv6 unique-local) and there is evidence of NAT
    in front of it: that party's RTP arrives from another, public address;
    its SIP comes from a public address; the next hop stamped the top Via of
    its requests with a public `received=` (seen on the responses even in a
    capture taken inside the NAT); or no RTP reaches it while it sends.

Why it matters:
    The SDP tells the other side where to send audio. A private address
    behind NAT cannot be reached from outside, so audio toward that party is
    lost: one-way audio, the classic NAT failure.

Evidence:
    The SDP line with the private address, the public source the party's RTP
    or SIP really came from, and the streams present and missing.

Remedy:
    reachable: Make that party advertise an address the other side can reach:
    a self-hosted SIP service should discover and advertise its external IP
    (LiveKit SIP: use_external_ip: true), a PBX or phone needs its
    NAT/external address or STUN or an SBC. The receiving side can work around
    it with symmetric RTP (latching).

    livekit symmetric: The provider advertises a private address it cannot be
    reached on, and LiveKit, which sends to the SDP address by default, sends
    its audio there. On LiveKit's side set symmetric_rtp: true (send back to
    where the provider's RTP comes from) or ignore_local_addr_in_sdp: true;
    better still, have the provider advertise its public address.

    livekit own address: LiveKit's SIP service advertises a private address: a
    self-hosted LiveKit SIP behind NAT must announce its public one, with
    use_external_ip: true (found by STUN) or nat_1_to_1_ip (a known 1:1 NAT
    address), or media_use_external_ip / media_nat_1_to_1_ip for media only.

Exceptions:
    ``warn`` when NAT is shown but media reached the party (something
    latched or relayed it), or when whether it would cannot be seen (the
    call was not answered, the capture holds no media); ``fail`` when media
    toward it is missing. Calls
    whose signalling and media all stay on one private network (a lab, a
    LAN) ``pass`` with a note.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import CALLEE, CALLER, is_loopback, is_private, other
from ..model import SipMessage
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import livekit_party, sdp_line, stream_evidence, stream_filter
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def _remedy(ctx: CallContext, party: str) -> str:
    """The fix, and LiveKit's own settings when LiveKit is in the call: the other party's private address
    is worked around on LiveKit's side; LiveKit's own private address is LiveKit's to fix."""
    livekit = livekit_party(ctx)
    if livekit is None:
        return REMEDY["reachable"]
    return REMEDY["livekit own address"] if livekit == party else REMEDY["livekit symmetric"]


def _via_stamped(messages: tuple[SipMessage, ...], sent_from: set[str]) -> SipMessage | None:
    """A message whose top Via was sent from one of these addresses and stamped received= with a
    public address by the next hop (RFC 3261 18.2.1): proof of a NAT in front of the sender."""
    for message in messages:
        host = (message.via_sent_by or "").rsplit(":", 1)[0].strip("[]")
        received = message.via_received
        if received and host in sent_from and received != host and not is_private(received) \
                and not is_loopback(received):
            return message
    return None


def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    if not view.exchanges:
        return not_applicable("no SDP in this call")
    private = []
    for party in (CALLER, CALLEE):
        for message, sdp in view.sdps(party):
            for media in sdp.media:
                address = sdp.address_of(media)
                if media.type == "audio" and media.port and is_private(address):
                    private.append((party, message, media, address))
    if not private:
        return passed("no private address in the SDP")
    streams = view.after_answer() or view.streams
    addresses = {m.src.addr for m in ctx.call.messages} | {m.dst.addr for m in ctx.call.messages}
    addresses |= {s.src.addr for s in streams} | {s.dst.addr for s in streams}
    if all(is_private(a) or is_loopback(a) for a in addresses):
        found = sorted({p[3] for p in private if p[3]})
        return passed(f"private SDP address(es) {', '.join(found)}, but the whole call stays on private "
                      "networks (lab or LAN): reachable")
    for party, message, media, address in private:
        evidence = [Evidence(f"{party}'s SDP", f"{sdp_line(message, media)}, c={address}")]
        frames = [message.frame]
        from_party = [s for s in streams if view.sender_of(s) == party]
        elsewhere = [s for s in from_party if s.src.addr != address and not is_private(s.src.addr)]
        public_sip = sorted(a for a in view.signalling_addresses(party) if a != address and not is_private(a))
        to_party = [s for s in streams if view.sender_of(s) == other(party)]
        stamped = _via_stamped(ctx.call.messages, {address or "", *view.signalling_addresses(party)})
        reasons = []
        if elsewhere:
            reasons.append(f"its RTP arrives from {elsewhere[0].src}")
            evidence.append(stream_evidence("RTP from it", elsewhere[0]))
            frames.append(elsewhere[0].first_frame)
        if public_sip:
            reasons.append(f"its SIP comes from public address {public_sip[0]}")
            evidence.append(Evidence("its signalling address", ", ".join(public_sip)))
        if stamped is not None:
            seen = stamped.via_received + (f":{stamped.via_rport}" if stamped.via_rport else "")
            reasons.append(f"the next hop saw its requests come from {seen} (Via received=)")
            evidence.append(Evidence("Via stamped by the next hop",
                                     f"frame {stamped.frame}: sent-by {stamped.via_sent_by}, received={seen}"))
            frames.append(stamped.frame)
        if from_party and not to_party and ctx.flow.answered and view.may_send(other(party), ctx.flow.answer.time):  # type: ignore[union-attr]
            reasons.append("no RTP reaches it while it sends")
        if reasons:
            summary = f"the {party} advertises private address {address}, but " + "; ".join(reasons)
            display_filter = (f"({filters.sdp(ctx.call.call_id)})"
                              + (f" || ({stream_filter(elsewhere[0])})" if elsewhere else "")
                              + (f" || frame.number == {stamped.frame}" if stamped is not None else ""))
            if to_party:
                evidence += [stream_evidence("RTP to it", s) for s in to_party[:1]]
                return warned(summary + f"; its media still arrives ({to_party[0].packets} packets): something "
                              "latched or relayed it", remedy=_remedy(ctx, party), evidence=evidence,
                              frames=frames, display_filter=display_filter)
            if not ctx.flow.answered or not ctx.facts.media_captured:
                why = ("the call was not answered" if not ctx.flow.answered else
                       "the capture holds no media (CAP004)")
                return warned(summary + f"; {why}, so whether media would reach it cannot be seen",
                              remedy=_remedy(ctx, party), evidence=evidence, frames=frames,
                              display_filter=display_filter)
            return failed(summary, remedy=_remedy(ctx, party), evidence=evidence, frames=frames,
                          display_filter=display_filter)
    found = sorted({p[3] for p in private if p[3]})
    return passed(f"private SDP address(es) {', '.join(found)}, and nothing shows them unreachable")


RULE = Rule(id="SDP004", name="private-sdp-address", scope="call", check=check, doc=__doc__ or "")
