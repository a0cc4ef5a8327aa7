"""Running the rules over a summary: every selected rule, for every call, on one analysis per call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .analysis import CallAnalysis, analyse
from .analysis.flow import CallFlow
from .analysis.flow import analyse as analyse_flow
from .analysis.legs import CallKeys, call_keys
from .analysis.media import CALLEE, CALLER
from .model import Call, CaptureFacts, Summary
from .report import CallReport, CaptureReport
from .rules import CALL_RULES, CAPTURE_RULES, EXPLAINED_STATUS, FINAL_RULES, VERDICT_ORDER, YIELDS
from .rules.base import CallContext, CaptureContext, Rule, Settings
from .verdict import Check, Status, Verdict

_FIRED = (Status.FAIL, Status.WARN)


def _stamp(rule: Rule, context: object) -> Check:
    outcome = rule.check(context)
    return Check(
        id=rule.id,
        name=rule.name,
        status=outcome.status,
        summary=outcome.summary,
        evidence=outcome.evidence,
        frames=outcome.frames,
        display_filter=outcome.display_filter,
        remedy=outcome.remedy,
    )


def selected_calls(calls: Sequence[Call], keys: Sequence[str]) -> set[str]:
    """The Call-IDs that --call values name: an exact Call-ID, a call's number in the capture (1 is
    its first call), or a part of a Call-ID (any case)."""
    chosen: set[str] = set()
    ids = [c.call_id for c in calls]
    for key in keys:
        if key in ids:
            chosen.add(key)
        elif key.isdigit() and 1 <= int(key) <= len(ids):
            chosen.add(ids[int(key) - 1])
        else:
            chosen.update(i for i in ids if key.lower() in i.lower())
    return chosen


def contexts(summary: Summary, settings: Settings,
             call_ids: Sequence[str] = ()) -> tuple[CaptureContext, tuple[CallContext, ...]]:
    """What the rules look at: the capture (streams shared between its calls) and each wanted call
    (every call, or those the --call values name), analysed once. The only place contexts are built
    (rule tests use it too)."""
    chosen = selected_calls(summary.calls, call_ids) if call_ids else None
    wanted = (lambda call: call.call_id in chosen) if chosen is not None else None
    capture = analyse(summary, settings.local_nets, wanted)
    return (CaptureContext(summary=capture.summary, settings=settings),
            tuple(CallContext(analysis=a, capture=capture, settings=settings, final_rules=FINAL_RULES)
                  for a in capture.calls))


def explain(checks: Sequence[Check]) -> tuple[Check, ...]:
    """Findings that only restate another's cause (the registry's YIELDS) become info, "explained by"
    the root cause. Only a fail explains: a warning is a sign, not a proven cause."""
    fired = {c.id: c for c in checks if c.status in _FIRED}
    failed = {c.id for c in checks if c.status is Status.FAIL}

    def cause_of(check: Check) -> str | None:
        return next((b for b in YIELDS.get(check.id, ()) if b in failed), None)

    def root(rule: str, seen: tuple[str, ...] = ()) -> str:
        above = cause_of(fired[rule])
        return rule if above is None or above in seen else root(above, (*seen, rule))

    out = []
    for check in checks:
        cause = cause_of(check) if check.id in fired else None
        if cause is None:
            out.append(check)
            continue
        by = root(cause)
        status = EXPLAINED_STATUS.get(check.id, Status.INFO)
        out.append(replace(check, status=status, summary=f"explained by {by}: {check.summary}",
                           remedy=None, explained_by=by))
    return tuple(out)


def verdict(checks: Sequence[Check], analysis: CallAnalysis, capture_end: float) -> Verdict:
    """The call's primary finding: its first unexplained fail in the registry's verdict order, else its
    first warn; a call with neither passes, with a one-line account of what went right."""
    rank = {rule: i for i, rule in enumerate(VERDICT_ORDER)}
    for status in _FIRED:
        found = sorted((c for c in checks if c.status is status), key=lambda c: rank.get(c.id, len(rank)))
        if found:
            return Verdict(status=status, rule=found[0].id, summary=found[0].summary)
    return Verdict(status=Status.PASS, rule=None, summary=healthy_summary(analysis, capture_end))


def healthy_summary(analysis: CallAnalysis, capture_end: float) -> str:
    """What a call without findings did: answered, audio both ways and the codec, how long."""
    flow, view = analysis.flow, analysis.media
    if flow.answer is None:
        final = flow.decisive.final if flow.decisive is not None else None
        return f"not answered ({final.label if final is not None else 'no final response'}), nothing wrong found"
    parts = [f"answered ({flow.answer.label})"]
    senders = {view.sender_of(s) for s in view.after_answer()} - {None}
    if senders == {CALLER, CALLEE}:
        parts.append("audio both ways")
    elif senders:
        parts.append(f"audio from the {next(iter(senders))} only, as the SDP asks")
    _, answer = view.audio_pair()
    if answer is not None and answer.formats and answer.port:
        parts.append(answer.encoding(answer.formats[0]) or f"payload type {answer.formats[0]}")
    up = flow.hangup_time(capture_end) - flow.answer.time
    parts.append(f"up {up:.1f} s" + ("" if flow.requests("BYE") else " until the capture ended"))
    return ", ".join(parts)


def _call_report(ctx: CallContext, rules: Sequence[Rule]) -> CallReport:
    call, analysis = ctx.call, ctx.analysis
    times = [m.time for m in call.messages] or [0.0]
    checks = explain([_stamp(rule, ctx) for rule in rules])
    return CallReport(
        call_id=call.call_id,
        direction=analysis.direction.kind.value,
        from_=call.from_.uri if call.from_ else "",
        to=call.to.uri if call.to else "",
        first_frame=call.first_frame,
        final_status=analysis.flow.final_status,
        start=min(times),
        duration=max(times) - min(times),
        checks=checks,
        verdict=verdict(checks, analysis, ctx.capture_end),
        legs=tuple(leg.call_id for leg in ctx.capture.legs.get(call.call_id, ())),
        analysis=analysis,
    )


def evaluate(path: str, summary: Summary, settings: Settings, *,
             selected: Sequence[Rule] | None = None, call_ids: Sequence[str] = ()) -> CaptureReport:
    """Every selected rule over the capture and each of its calls (or the named calls)."""
    call_rules = [r for r in CALL_RULES if selected is None or r in selected]
    capture_ctx, call_ctxs = contexts(summary, settings, call_ids)
    return _capture_report(path, summary, capture_ctx, selected,
                           tuple(_call_report(ctx, call_rules) for ctx in call_ctxs))


def _capture_report(path: str, summary: Summary, capture_ctx: CaptureContext, selected: Sequence[Rule] | None,
                    calls: tuple[CallReport, ...]) -> CaptureReport:
    capture_rules = [r for r in CAPTURE_RULES if selected is None or r in selected]
    return CaptureReport(
        path=path,
        status="truncated" if summary.facts.read_error else "ok",
        error=summary.facts.read_error,
        capture_checks=explain([_stamp(rule, capture_ctx) for rule in capture_rules]),
        calls=calls,
        start_epoch=summary.facts.start_epoch,
    )


def analyses(summary: Summary, settings: Settings,
             call_ids: Sequence[str] = ()) -> tuple[tuple[CallAnalysis, tuple[str, ...]], ...]:
    """Each wanted call's analysis and the Call-IDs of its other legs, without running rules (the ladder)."""
    return tuple((ctx.analysis, tuple(leg.call_id for leg in ctx.capture.legs.get(ctx.call.call_id, ())))
                 for ctx in contexts(summary, settings, call_ids)[1])


def _last_time(call: Call) -> float:
    return max((m.time for m in call.messages), default=0.0)


def _first_time(call: Call) -> float:
    return min((m.time for m in call.messages), default=0.0)


def finished(call: Call) -> bool:
    """Whether a call's signalling ended it: a BYE after the answer, or a final response without one.
    The tap also writes a call that stayed silent for its idle time; such a call is not finished."""
    return _finished(analyse_flow(call))


def _finished(flow: CallFlow) -> bool:
    if flow.answer is not None:
        return bool(flow.requests("BYE"))
    return flow.decisive is not None and flow.decisive.final is not None


@dataclass(frozen=True)
class _Held:
    """A call the judge holds, with what it reads of it more than once."""

    call: Call
    first: float  # its first message's time
    last: float  # its last message's time
    finished: bool


class LiveJudge:
    """Calls judged as the tap writes them (when each is over), for streamed output and live capture.

    A call is judged once its context is in hand, with the calls written so far that overlap it
    (within `hold_s` before its first message and after its last) as its capture: a B2BUA's other
    leg, a transfer's new call or a stream two calls share. When is that?

    - wait_for_overlap (reading a file): once the tap says every call that began before `hold_s`
      after its last message is written (the PDML's complete_before, schema 1.9), so a long call
      overlapping it is in its context however late it ends; a document that does not say (older
      schemas, calls written at the end) is judged at `finish`.
    - otherwise (live capture): once the tap has written a call that ended `hold_s` after it
      (at once with hold 0).

    A call the tap wrote because it went idle, not because it finished, waits for the end when
    unfinished_at_end (reading a file: "the capture ended while it was ringing" needs the end). The
    capture-wide facts a call rule reads are those known then: the capture's end is the latest time
    written, media was captured when any call written so far has a stream. `finish` judges the rest
    with the capture's real facts. Calls ready together are judged together, on one analysis of
    their contexts; each call's flow and keys are computed once (keep_flows: remembered for the capture's
    checks at the end, `capture_report`)."""

    def __init__(self, settings: Settings, selected: Sequence[Rule] | None = None, hold_s: float = 64.0,
                 unfinished_at_end: bool = True, wait_for_overlap: bool = False, keep_flows: bool = False) -> None:
        self._settings, self._selected, self._hold = settings, selected, hold_s
        self._unfinished_at_end = unfinished_at_end  # a file: the capture's end judges a call still going
        self._wait_for_overlap, self._keep_flows = wait_for_overlap, keep_flows
        self._pending: list[_Held] = []  # written, not yet judged
        self._recent: list[_Held] = []  # written, still within reach of a pending call
        self._flows: dict[int, CallFlow] = {}  # id(call) -> its flow (the calls held, or all with keep_flows)
        self._keys: dict[int, tuple[Call, CallKeys]] = {}  # id(call) -> what may tie it to others (the same calls)
        self._latest = 0.0  # the latest message time of any call written
        self._complete: float | None = None  # every call that began before this is written (the tap says)
        self._streams = 0  # streams of the calls written
        self._calls = 0  # calls written

    def flow_of(self, call: Call) -> CallFlow:
        """A call's flow, computed once."""
        found = self._flows.get(id(call))
        if found is None or found.call is not call:
            found = self._flows[id(call)] = analyse_flow(call)
        return found

    def keys_of(self, call: Call) -> CallKeys:
        """What may tie a call to others, read once."""
        found = self._keys.get(id(call))
        if found is None or found[0] is not call:
            found = self._keys[id(call)] = (call, call_keys(call))
        return found[1]

    def add(self, call: Call, complete_before: float | None = None) -> list[CallReport]:
        """A call the tap wrote (and, when the tap says it, the time before which every call is written);
        the reports of the calls judged now, in the order they were written."""
        held = _Held(call=call, first=_first_time(call), last=_last_time(call),
                     finished=_finished(self.flow_of(call)))
        self._pending.append(held)
        self._recent.append(held)
        moved = held.last > self._latest if not self._wait_for_overlap else (
            complete_before is not None and (self._complete is None or complete_before > self._complete))
        self._latest = max(self._latest, held.last)
        if complete_before is not None:
            self._complete = max(self._complete or 0.0, complete_before)
        self._streams += len(call.streams)
        self._calls += 1
        # the calls held before this one can only become ready when the time that readies them moved: looking
        # at them all on every call would cost calls held x calls written (a flood of unanswered INVITEs)
        candidates = self._pending if moved else [held]
        return self._judge([h for h in candidates if self._ready(h)], None)

    def _ready(self, held: _Held) -> bool:
        if self._unfinished_at_end and not held.finished:
            return False
        if self._wait_for_overlap:
            return self._complete is not None and held.last + self._hold <= self._complete
        return held.last + self._hold <= self._latest

    def finish(self, facts: CaptureFacts) -> list[CallReport]:
        """The reports of the calls still held, judged with the capture's facts."""
        return self._judge(list(self._pending), facts)

    def capture_report(self, path: str, summary: Summary, calls: Sequence[CallReport]) -> CaptureReport:
        """The capture's report once every call is judged: its checks over the whole summary (the flows
        remembered reused), the calls' reports in first-frame order."""
        capture = analyse(summary, self._settings.local_nets, lambda call: False, self.flow_of, self.keys_of)
        ctx = CaptureContext(summary=capture.summary, settings=self._settings)
        return _capture_report(path, summary, ctx, self._selected,
                               tuple(sorted(calls, key=lambda report: report.first_frame)))

    def _judge(self, ready: list[_Held], facts: CaptureFacts | None) -> list[CallReport]:
        if not ready:
            return []
        if facts is None:
            facts = CaptureFacts(packets=0, duration=self._latest, sip_messages=0, calls=self._calls,
                                 rtp_streams=self._streams)
        start, end = min(h.first for h in ready), max(h.last for h in ready)
        context = tuple(h.call for h in sorted(
            (h for h in self._recent if h.first <= end + self._hold and h.last + self._hold >= start),
            key=lambda h: h.call.first_frame))
        # by Call-ID and first frame: an analysed call is a copy when it shares another call's streams
        judged = {(h.call.call_id, h.call.first_frame) for h in ready}
        call_rules = [r for r in CALL_RULES if self._selected is None or r in self._selected]
        capture = analyse(Summary(facts=facts, calls=context), self._settings.local_nets,
                          lambda call: (call.call_id, call.first_frame) in judged, self.flow_of, self.keys_of)
        by_call = {(a.call.call_id, a.call.first_frame): a for a in capture.calls}
        reports = []
        for held in ready:  # in the order they were written
            analysis = by_call[(held.call.call_id, held.call.first_frame)]
            ctx = CallContext(analysis=analysis, capture=capture, settings=self._settings, final_rules=FINAL_RULES)
            reports.append(_call_report(ctx, call_rules))
        judged_ids = {id(h.call) for h in ready}
        self._pending = [h for h in self._pending if id(h.call) not in judged_ids]
        # calls no pending call can reach any more are forgotten: memory follows the calls in progress
        horizon = min((h.first for h in self._pending), default=self._latest) - self._hold
        kept = {id(h.call) for h in self._pending}
        recent, self._recent = self._recent, []
        for held in recent:
            if held.last >= horizon or id(held.call) in kept:
                self._recent.append(held)
            elif not self._keep_flows:
                self._keys.pop(id(held.call), None)
                self._flows.pop(id(held.call), None)
        return reports
