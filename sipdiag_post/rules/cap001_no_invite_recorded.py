"""Capture level: the whole capture holds no INVITE transaction, so no call was ever offered here.

What it checks:
    Whether the capture holds at least one INVITE transaction, in any call:
    an INVITE request, or a response to one whose request was not captured.

Why it matters:
    Without an INVITE no call was ever offered on this link: whatever went
    wrong happened before the traffic reached the capture point, so nothing
    in this capture can explain it.

Evidence:
    The number of packets read, the SIP messages found (by method), the
    capture's link type when there is no SIP at all, and the display filter
    ``sip.Method == "INVITE"``.

Remedy:
    upstream: No call was offered on this link, so the problem is upstream of
    the capture point. Inbound: check the SIP provider's logs and that the
    number routes to your SIP endpoint. Outbound: check that creating the call
    succeeded and that the trunk address is right. If SIP uses a non-standard
    port, rerun with --decode-as udp.port==PORT,sip (or tcp.port); if it is
    encrypted, see CAP002.

    link type: A link type tshark has no dissector for (user0-15, unknown)
    hides every protocol: re-export the capture as Ethernet or Linux cooked,
    or map the link type in Wireshark's DLT_USER preferences.

    odd port: SIP runs on a port tshark gave to another protocol: rerun with
    --decode-as udp.port=={port},sip (or tcp.port for TCP) so it is read as
    SIP.

Exceptions:
    ``pass`` as soon as one INVITE transaction exists, even if it was not
    answered or only its responses were captured. When the signalling is
    encrypted and unreadable (CAP002), whether an INVITE was offered cannot be
    told: explained by CAP002.
"""

from __future__ import annotations

from ..model import Summary
from ..verdict import Evidence, Outcome, Status, failed, passed
from .base import CaptureContext, Rule, remedies

REMEDY = remedies(__doc__)


def _invite_frames(summary: Summary) -> tuple[list[int], list[int]]:
    """Frames of INVITE requests, and of responses to INVITEs."""
    requests, responses = [], []
    for call in summary.calls:
        for m in call.messages:
            if m.is_request and m.method == "INVITE":
                requests.append(m.frame)
            elif m.is_response and m.cseq_method == "INVITE":
                responses.append(m.frame)
    return requests, responses


def check(ctx: CaptureContext) -> Outcome:
    summary = ctx.summary
    requests, responses = _invite_frames(summary)
    calls = sum(1 for c in summary.calls
                if any((m.method if m.is_request else m.cseq_method) == "INVITE" for m in c.messages))
    if requests:
        return passed(f"{len(requests)} INVITE request(s) in {calls} call(s)", frames=requests[:20],
                      display_filter='sip.Method == "INVITE"')
    if responses:
        return passed(f"responses to INVITEs in {calls} call(s) (the requests were not captured)",
                      frames=responses[:20], display_filter='sip.CSeq.method == "INVITE"')
    facts = summary.facts
    other = ", ".join(f"{o.method} x{o.count} (first at frame {o.first_frame})" for o in facts.other_sip)
    if facts.sip_messages == 0:
        summary_line = f"no SIP found in {facts.packets} packets"
        if facts.link_type:
            summary_line += f" (link type {facts.link_type})"
    else:
        summary_line = f"{facts.sip_messages} SIP messages but no INVITE"
    remedy = REMEDY["upstream"]
    candidates = facts.sip_candidates
    if candidates:
        ports = ", ".join(str(c.port) for c in candidates)
        summary_line += f"; SIP-looking UDP on port {ports} was not decoded as SIP"
        remedy = REMEDY["odd port"].format(port=candidates[0].port)
    if facts.sip_messages == 0 and facts.link_type:
        remedy += " " + REMEDY["link type"]
    return failed(
        summary_line,
        remedy=remedy,
        evidence=[
            Evidence("packets read", str(facts.packets)),
            *([Evidence("link type", facts.link_type)] if facts.link_type else []),
            Evidence("SIP messages", str(facts.sip_messages)),
            Evidence("SIP outside calls", other or "none"),
            *(Evidence(f"SIP-looking UDP on port {c.port}", f"{c.frames} frame(s), first at frame {c.first_frame}")
              for c in candidates),
        ],
        frames=[o.first_frame for o in facts.other_sip if o.first_frame] + [c.first_frame for c in summary.calls]
        + [c.first_frame for c in candidates],
        display_filter=" || ".join(["sip", *(f"udp.port == {c.port}" for c in candidates)]),
    )


RULE = Rule(id="CAP001", name="no-invite-recorded", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.FAIL}))
