"""Per call: a request inside an answered call (re-INVITE, UPDATE, INFO ...) was refused.

What it checks:
    Whether a request sent inside the dialog of an answered call got a
    failure response (3xx-6xx): a re-INVITE (a hold, a codec change, a T.38
    fax switch), an UPDATE, an INFO (DTMF), an OPTIONS keep-alive, a BYE.
    It tells a call that carried on (fell back, retried) from one that ended
    because of it.

Why it matters:
    The call was up, so nothing in its set-up explains the trouble: a fax
    that fails because the far side refuses T.38, a hold that never happens,
    DTMF that never arrives, a glare (491) that repeats. A person must see
    these, and whether the call survived them.

Evidence:
    Each failed request with its response (frames, the offer it carried: an
    m=image T.38 line says fax), and what followed: a later request of the
    same kind that succeeded, or the BYE that ended the call.

Remedy:
    t38: The far side refused to switch to T.38 fax: enable T.38 on it (or on
    the gateway/SBC in between), or send faxes as G.711 pass-through (no
    silence suppression, no echo cancellation) if T.38 is not available end
    to end.

    glare: Both sides re-INVITEd at the same moment (491 Request Pending);
    RFC 3261 retry timers resolve it. It only needs attention if it repeats:
    then check why both sides renegotiate at once (session timers, hold
    music, codec changes).

    other: The far side refused a request inside the call: compare the
    request with what it allows (its Allow and Supported headers) and with
    its logs for this Call-ID; if the call ended right after, this refusal is
    why.

Exceptions:
    A 401/407 challenge answered by the same request with credentials is
    normal. REFER and its NOTIFYs are SIP011's. ``warn`` when the call
    carried on; ``fail`` when it ended within a few seconds of the refusal
    with nothing succeeding in between. ``n/a`` for calls never answered.
"""

from __future__ import annotations

from .. import filters
from ..analysis.flow import Transaction
from ..verdict import Outcome, failed, not_applicable, passed, warned
from ._common import message_evidence
from .base import CallContext, Rule, remedies

REMEDY = remedies(__doc__)
_ENDED_WITHIN_S = 5.0  # a BYE this soon after the refusal: the call ended because of it
_NOT_OURS = frozenset({"ACK", "CANCEL", "REFER"})


def _what(tx: Transaction) -> str:
    request = tx.request
    sdp = request.sdp if request is not None else None
    if tx.method == "INVITE":
        if sdp is not None and any(m.type == "image" and m.port for m in sdp.media):
            return "T.38 fax re-INVITE"
        return "re-INVITE"
    return tx.method


def _in_dialog_failures(ctx: CallContext) -> list[Transaction]:
    attempts = {id(t) for t in ctx.flow.attempts}
    answer = ctx.flow.answer
    assert answer is not None
    failed_txs = []
    for tx in ctx.flow.transactions:
        final = tx.final
        if id(tx) in attempts or tx.method in _NOT_OURS or final is None or (final.status or 0) < 300:
            continue
        if tx.start < answer.time:
            continue
        request = tx.request
        if tx.method == "NOTIFY" and request is not None and (request.sipfrag or "refer" in (request.event or "")):
            continue  # a REFER's progress report: SIP011's
        if final.status in (401, 407) and _succeeded_later(ctx, tx) is not None:
            continue  # challenged, then resent with credentials
        failed_txs.append(tx)
    return failed_txs


def _succeeded_later(ctx: CallContext, tx: Transaction) -> Transaction | None:
    return next((t for t in ctx.flow.transactions if t.method == tx.method and t.start > tx.start
                 and t.final is not None and t.final.status is not None and 200 <= t.final.status < 300), None)


def check(ctx: CallContext) -> Outcome:
    if ctx.flow.answer is None:
        return not_applicable("the call was not answered")
    failures = _in_dialog_failures(ctx)
    if not failures:
        return passed("no request inside the call was refused")
    evidence, frames, ended, kinds = [], [], None, set()
    for tx in failures:
        final = tx.final
        assert final is not None
        what = _what(tx)
        kinds.add("t38" if what.startswith("T.38") else "glare" if final.status == 491 else "other")
        if tx.request is not None:
            evidence.append(message_evidence(what, tx.request))
            frames.append(tx.request.frame)
        evidence.append(message_evidence(f"{what} refused", final))
        frames.append(final.frame)
        later = _succeeded_later(ctx, tx)
        bye = next((m for m in ctx.flow.requests("BYE") if 0 <= m.time - final.time <= _ENDED_WITHIN_S), None)
        if later is not None and later.final is not None:
            evidence.append(message_evidence(f"then a {_what(later)} succeeded", later.final))
        elif bye is not None and ended is None:
            ended = (tx, bye)
    first = failures[0]
    assert first.final is not None
    summary = f"{_what(first)} refused with {first.final.label} (frame {first.final.frame})"
    if len(failures) > 1:
        summary += f" and {len(failures) - 1} more in-dialog refusal(s)"
    texts = {"t38": REMEDY["t38"], "glare": REMEDY["glare"], "other": REMEDY["other"]}
    remedy = " ".join(text for kind, text in texts.items() if kind in kinds)
    display_filter = filters.frames(frames)
    if ended is not None:
        _, bye = ended
        evidence.append(message_evidence("the call ended", bye))
        frames.append(bye.frame)
        return failed(f"{summary}; the call ended {bye.time - ended[0].final.time:.1f} s later",  # type: ignore[union-attr]
                      remedy=remedy, evidence=evidence, frames=frames, display_filter=filters.frames(frames))
    return warned(f"{summary}; the call carried on", remedy=remedy, evidence=evidence, frames=frames,
                  display_filter=display_filter)


RULE = Rule(id="SIP015", name="in-dialog-request-failed", scope="call", check=check, doc=__doc__ or "")
