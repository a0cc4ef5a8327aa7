"""A party's SDP advertises a private address that the other side cannot reach.

What it checks:
    Whether an SDP audio address is private (10/8, 172.16/12, 192.168/16,
    100.64/10, link-local, IPv6 unique-local) and there is evidence it is
    unreachable: that party's RTP arrives from another, public address; its
    SIP comes from a public address; or no RTP reaches it while it sends.

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

Exceptions:
    Calls whose signalling and media all stay on one private network (a lab,
    a LAN) ``pass`` with a note.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import CALLEE, CALLER, is_loopback, is_private, other
from ..verdict import Evidence, Outcome, failed, not_applicable, passed
from ._common import sdp_line, stream_evidence, stream_filter
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


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
        reasons = []
        if elsewhere:
            reasons.append(f"its RTP arrives from {elsewhere[0].src}")
            evidence.append(stream_evidence("RTP from it", elsewhere[0]))
            frames.append(elsewhere[0].first_frame)
        if public_sip:
            reasons.append(f"its SIP comes from public address {public_sip[0]}")
            evidence.append(Evidence("its signalling address", ", ".join(public_sip)))
        if from_party and not to_party and ctx.flow.answered and view.may_send(other(party), ctx.flow.answer.time):  # type: ignore[union-attr]
            reasons.append("no RTP reaches it while it sends")
        if reasons:
            return failed(
                f"the {party} advertises private address {address}, but " + "; ".join(reasons),
                remedy=REMEDY["reachable"],
                evidence=evidence,
                frames=frames,
                display_filter=f"({filters.sdp(ctx.call.call_id)})"
                + (f" || ({stream_filter(elsewhere[0])})" if elsewhere else ""),
            )
    found = sorted({p[3] for p in private if p[3]})
    return passed(f"private SDP address(es) {', '.join(found)}, and nothing shows them unreachable")


RULE = Rule(id="SDP004", name="private-sdp-address", scope="call", check=check, doc=__doc__ or "")
