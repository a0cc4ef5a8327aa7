"""Running the rules over a summary: every selected rule, for every call, on one analysis per call."""

from __future__ import annotations

from collections.abc import Sequence

from .analysis import CallAnalysis, analyse
from .model import Summary
from .report import CallReport, CaptureReport
from .rules import CALL_RULES, CAPTURE_RULES, FINAL_RULES
from .rules.base import CallContext, CaptureContext, Rule, Settings
from .verdict import Check


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


def contexts(summary: Summary, settings: Settings,
             call_ids: Sequence[str] = ()) -> tuple[CaptureContext, tuple[CallContext, ...]]:
    """What the rules look at: the capture (streams shared between its calls) and each wanted call,
    analysed once. The only place contexts are built (rule tests use it too)."""
    wanted = (lambda call: call.call_id in call_ids) if call_ids else None
    shared, analyses = analyse(summary, settings.local_nets, wanted)
    return (CaptureContext(summary=shared, settings=settings),
            tuple(CallContext(analysis=a, facts=shared.facts, settings=settings, final_rules=FINAL_RULES)
                  for a in analyses))


def _call_report(ctx: CallContext, rules: Sequence[Rule]) -> CallReport:
    call, analysis = ctx.call, ctx.analysis
    times = [m.time for m in call.messages] or [0.0]
    return CallReport(
        call_id=call.call_id,
        direction=analysis.direction.kind.value,
        from_=call.from_.uri if call.from_ else "",
        to=call.to.uri if call.to else "",
        first_frame=call.first_frame,
        final_status=analysis.flow.final_status,
        start=min(times),
        duration=max(times) - min(times),
        checks=tuple(_stamp(rule, ctx) for rule in rules),
        analysis=analysis,
    )


def evaluate(path: str, summary: Summary, settings: Settings, *,
             selected: Sequence[Rule] | None = None, call_ids: Sequence[str] = ()) -> CaptureReport:
    """Every selected rule over the capture and each of its calls (or the named calls)."""
    capture_rules = [r for r in CAPTURE_RULES if selected is None or r in selected]
    call_rules = [r for r in CALL_RULES if selected is None or r in selected]
    capture_ctx, call_ctxs = contexts(summary, settings, call_ids)
    return CaptureReport(
        path=path,
        status="truncated" if summary.facts.read_error else "ok",
        error=summary.facts.read_error,
        capture_checks=tuple(_stamp(rule, capture_ctx) for rule in capture_rules),
        calls=tuple(_call_report(ctx, call_rules) for ctx in call_ctxs),
    )


def analyses(summary: Summary, settings: Settings, call_ids: Sequence[str] = ()) -> tuple[CallAnalysis, ...]:
    """Each wanted call's analysis, without running rules (the ladder command)."""
    return tuple(ctx.analysis for ctx in contexts(summary, settings, call_ids)[1])
