"""Per call: the other calls of the capture that are legs of the same conversation.

What it checks:
    Which other calls in the capture belong to this call's conversation: the
    other side of a B2BUA, an SBC or LiveKit's SIP bridge, and a transfer's
    new call; found by the RTP they share (one stream, or an address:port
    both SDPs name while both are up), by correlation headers a B2BUA copies
    from leg to leg (X-CID, X-Call-ID, X-Twilio-CallSid, Telnyx's
    X-call_session_id, Amazon Connect's contact id), and by a transfer's
    Replaces header or Refer-To target.

Why it matters:
    A failure on one leg is often explained on the other: the provider leg
    rejected, so the agent leg was cancelled; a PBX moved the media into a
    direct path between the phones, so a stream on this leg comes from a
    phone this leg's SDP never named. Reading the legs side by side avoids
    blaming the wrong hop.

Evidence:
    Each related Call-ID and how it was matched, and a display filter that
    shows the legs together.

Remedy:
    None: information only. Open the related legs' reports beside this one.

Exceptions:
    ``n/a`` when the capture holds no related call. An address:port named
    by more than four calls at once is a shared media port (a test tool, an
    SBC's pool), not the legs of one conversation.
"""

from __future__ import annotations

from .. import filters
from ..verdict import Evidence, Outcome, Status, info, not_applicable
from .base import CallContext, Rule


def check(ctx: CallContext) -> Outcome:
    legs = ctx.capture.legs.get(ctx.call.call_id, ())
    if not legs:
        return not_applicable("no other call of the capture is a leg of this one")
    listed = "; ".join(f"{leg.call_id} ({leg.how})" for leg in legs)
    ids = [ctx.call.call_id, *(leg.call_id for leg in legs)]
    return info(f"{len(legs)} related leg(s): {listed}",
                evidence=[Evidence(f"leg {leg.call_id}", leg.how) for leg in legs],
                frames=[ctx.call.first_frame],
                display_filter=" || ".join(filters.call(i) for i in ids))


RULE = Rule(id="CID002", name="related-legs", scope="call", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.INFO, Status.NA}))
