"""DTMF digits: which were sent, when, how, and whether the other side agreed to the method.

What it checks:
    The call's DTMF in time order: RFC 4733 telephone-events (one digit per
    event, whatever number of packets and end-packet repeats carried it) on
    payload types the call's SDP maps to telephone-event, and SIP INFO
    requests with an `application/dtmf-relay` (``Signal=`` / ``Duration=``)
    or `application/dtmf` body. Each digit with its time, duration, method
    and sender. Warns when events are sent on a payload type no SDP answer
    of the call agreed to as telephone-event (the answer lists another one,
    or none at all).

Why it matters:
    IVRs, voicemail PINs and conference codes need the digits to arrive.
    Events on a payload type the receiver did not agree to are dropped, or
    played as noise; a receiver that expects in-band tones or INFO never
    sees RFC 4733 events at all. The digits and their method are the first
    thing asked when "the menu does not react".

Evidence:
    Each digit (key, time, duration, method, frame); for a method mismatch,
    the payload type used and what the answer agreed to.

Remedy:
    negotiate: Make the sender use the DTMF method and payload type the
    answer agreed to: enable telephone-event on the side that answered
    (offer and answer must both list it, RFC 4733), or switch the sender to
    the method the far side supports (SIP INFO, in-band audio); on a
    LiveKit trunk, RFC 4733 telephone-event on payload type 101 is what
    LiveKit offers.

Exceptions:
    ``n/a`` when the call carries no DTMF the capture can see (in-band
    tones inside the audio are not detected). Events on a payload type the
    call's SDP does not map to telephone-event are not decoded (RTP006
    reports the payload type).
"""

from __future__ import annotations

from .. import filters
from ..analysis.dtmf import SIP_INFO, Digit
from ..verdict import Evidence, Outcome, Status, info, not_applicable, warned
from ._common import stream_filter
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)


def _digit(d: Digit) -> str:
    duration = f", {d.duration_ms} ms" if d.duration_ms is not None else ""
    where = f" on payload type {d.pt}" if d.pt is not None else ""
    ended = "" if d.ended else ", no end packet"
    sender = f" from the {d.sender}" if d.sender else ""
    return f"{d.key} at {d.time:.3f}s{duration}, {d.method}{where}{sender}, frame {d.frame}{ended}"


def check(ctx: CallContext) -> Outcome:
    view = ctx.analysis.dtmf
    if not view.digits:
        return not_applicable("no DTMF seen (RFC 4733 events or SIP INFO)")
    keys = "".join(d.key if len(d.key) == 1 else f"[{d.key}]" for d in view.digits)
    evidence = [Evidence(f"digit {i}", _digit(d)) for i, d in enumerate(view.digits, start=1)]
    if view.dropped:
        evidence.append(Evidence("not kept", f"{view.dropped} more events past the tap's bound"))
    methods = " and ".join(view.methods)
    frames = [d.frame for d in view.digits]
    if view.unnegotiated:
        bad = view.unnegotiated[0]
        agreed = (f"the answer agreed to telephone-event on payload type "
                  f"{', '.join(str(p) for p in bad.answered)} only" if bad.answered
                  else "the answer lists no telephone-event")
        for u in view.unnegotiated:
            evidence.append(Evidence("not negotiated", f"{u.stream.label()} sends {len(u.digits)} events on payload "
                                                       f"type {u.pt}; {agreed}"))
        return warned(f"{len(bad.digits)} DTMF events sent on payload type {bad.pt}, but {agreed}",
                      remedy=REMEDY["negotiate"], evidence=evidence, frames=[d.frame for d in bad.digits],
                      display_filter=f"{stream_filter(bad.stream)} && rtp.p_type == {bad.pt}")
    shown = filters.call(ctx.call.call_id) + " && sip.Method == \"INFO\"" if methods == SIP_INFO else "rtpevent"
    what = "digits" if all(len(d.key) == 1 for d in view.digits) else "events"
    return info(f"{what} {keys} ({methods})", evidence=evidence, frames=frames, display_filter=shown)


RULE = Rule(id="RTP010", name="dtmf", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.INFO, Status.WARN, Status.NA}))
