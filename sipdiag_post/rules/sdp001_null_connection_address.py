"""An SDP says its media address is 0.0.0.0 (or ::): that side takes no media.

What it checks:
    Every SDP of the call (offers and answers): an audio m= line with a
    non-zero port whose connection address (media-level c=, else
    session-level c=) is the null address 0.0.0.0 or ::.

Why it matters:
    A null address means "send me nothing": the other side has nowhere to send
    audio. RFC 2543 phones use it to put a call on hold; in the call's set-up
    it is a misconfigured endpoint that could not work out its own address,
    and the call connects with no audio.

Evidence:
    The SIP message with the SDP (frame, offer or answer), the c= address and
    the m= line.

Remedy:
    advertise: Make the endpoint that sent this SDP advertise a routable media
    address: configure its external (public) IP when it is behind NAT, or fix
    the interface it binds media to.

    hold: Expected while the call is on hold; if nobody put it on hold, make
    the endpoint that sent this SDP advertise a routable media address:
    configure its external (public) IP when it is behind NAT, or fix the
    interface it binds media to.

Exceptions:
    A null address only in a later re-INVITE is the old way to hold a call:
    ``warn``, not ``fail``. An initial offer with no usable media at all
    (c=0.0.0.0 and every m= line at port 0, as a misconfigured endpoint
    sends) is a ``fail`` whatever its direction attributes. ``n/a`` when the
    call has no SDP.
"""

from __future__ import annotations

from .. import filters
from ..analysis.media import NULL_ADDRESSES
from ..verdict import Evidence, Outcome, failed, not_applicable, passed, warned
from ._common import sdp_line
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)



def check(ctx: CallContext) -> Outcome:
    view = ctx.media
    if not view.exchanges:
        return not_applicable("no SDP in this call")
    empty = next((e for e in view.exchanges if e.initial and e.offer_sdp is not None and e.offer_sdp.media
                  and not any(m.port and e.offer_sdp.address_of(m) not in NULL_ADDRESSES
                              for m in e.offer_sdp.media)), None)
    if empty is not None and empty.offer is not None and empty.offer_sdp is not None:
        offer, sdp = empty.offer, empty.offer_sdp
        addresses = sorted({sdp.address_of(m) or "none" for m in sdp.media})
        return failed(f"the {view.party_of(offer)}'s offer at frame {offer.frame} offers no usable media at all "
                      f"(c={', '.join(addresses)}, every m= line refused or without an address)",
                      remedy=REMEDY["advertise"],
                      evidence=[Evidence("offer", sdp_line(offer, m)) for m in sdp.media],
                      frames=[offer.frame], display_filter=filters.sdp(ctx.call.call_id))
    found = []
    for exchange in view.exchanges:
        for message in (exchange.offer, exchange.answer):
            sdp = message.sdp if message is not None else None
            if sdp is None:
                continue
            for media in sdp.media:
                if media.type == "audio" and media.port and sdp.address_of(media) in NULL_ADDRESSES:
                    found.append((exchange, message, media, sdp.address_of(media)))
    if not found:
        return passed("every audio SDP names a media address")
    initial = [f for f in found if f[0].initial]
    exchange, message, media, address = (initial or found)[0]
    side = "offer" if message is exchange.offer else "answer"
    party = view.party_of(message)
    evidence = [Evidence(f"{side} from the {party}", sdp_line(message, media)),
                Evidence("connection address", f"c=IN IP{'6' if ':' in (address or '') else '4'} {address}")]
    kwargs = {"evidence": evidence, "frames": [f[1].frame for f in found],
              "display_filter": filters.sdp(ctx.call.call_id)}
    if initial:
        return failed(f"the {party}'s {side} at frame {message.frame} says c={address}: it takes no media",
                      remedy=REMEDY["advertise"], **kwargs)
    return warned(f"a re-INVITE at frame {message.frame} puts media on hold with c={address} (RFC 2543 style)",
                  remedy=REMEDY["hold"], **kwargs)


RULE = Rule(id="SDP001", name="null-connection-address", scope="call", check=check, doc=__doc__ or "")
