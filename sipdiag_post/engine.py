"""Running the rules over a summary: every selected rule, for every call."""

from __future__ import annotations

from collections.abc import Sequence

from . import flow as flows
from .direction import call_direction
from .media import media_view, share_streams
from .model import Call, Summary
from .report import CallReport, CaptureReport
from .rules import CALL_RULES, CAPTURE_RULES
from .rules.base import CallContext, CaptureContext, Check, Rule, Settings


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


def evaluate_call(call: Call, summary: Summary, settings: Settings,
                  rules: Sequence[Rule] = CALL_RULES) -> CallReport:
    flow = flows.analyse(call)
    direction = call_direction(flow, settings.local_nets)
    ctx = CallContext(call=call, flow=flow, direction=direction, facts=summary.facts, settings=settings,
                      media=media_view(flow))
    times = [m.time for m in call.messages] or [0.0]
    return CallReport(
        call_id=call.call_id,
        direction=direction.kind.value,
        from_=call.from_.uri if call.from_ else "",
        to=call.to.uri if call.to else "",
        first_frame=call.first_frame,
        final_status=flow.final_status,
        start=min(times),
        duration=max(times) - min(times),
        checks=tuple(_stamp(rule, ctx) for rule in rules),
    )


def evaluate(path: str, summary: Summary, settings: Settings, *,
             selected: Sequence[Rule] | None = None, call_ids: Sequence[str] = ()) -> CaptureReport:
    """Every selected rule over the capture and each of its calls (or the named calls)."""
    capture_rules = [r for r in CAPTURE_RULES if selected is None or r in selected]
    call_rules = [r for r in CALL_RULES if selected is None or r in selected]
    summary = share_streams(summary)
    capture_ctx = CaptureContext(summary=summary, settings=settings)
    calls = [c for c in summary.calls if not call_ids or c.call_id in call_ids]
    return CaptureReport(
        path=path,
        status="truncated" if summary.facts.read_error else "ok",
        error=summary.facts.read_error,
        capture_checks=tuple(_stamp(rule, capture_ctx) for rule in capture_rules),
        calls=tuple(evaluate_call(call, summary, settings, call_rules) for call in calls),
        model=summary,
    )
