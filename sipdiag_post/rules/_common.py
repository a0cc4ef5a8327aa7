"""Helpers shared by rules: evidence about messages, remedies by direction."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .. import filters
from ..analysis.direction import DirectionKind
from ..model import RtpStream, SdpMedia, SipMessage
from ..reasons import parse_reason
from ..verdict import Evidence, Outcome, Status, failed, not_applicable, passed
from .base import CallContext


def describe_message(message: SipMessage) -> str:
    """One line about a message: frame, time, start line, endpoints."""
    return (
        f"frame {message.frame} at {message.time:.3f}s: {message.start_line} "
        f"({message.src} -> {message.dst}, {message.transport})"
    )


def message_evidence(label: str, message: SipMessage) -> Evidence:
    return Evidence(label, describe_message(message))


def response_details(response: SipMessage) -> Iterator[Evidence]:
    """The headers that explain a failure response, where present."""
    for value in response.reason_headers:
        reason = parse_reason(value)
        yield Evidence("Reason header", f"{value} ({reason.describe()})" if reason.cause is not None else value)
    for value in response.warnings:
        yield Evidence("Warning header", value)
    if response.retry_after:
        yield Evidence("Retry-After", response.retry_after)
    for header in response.x_headers:
        if header.name.lower() in ("x-twilio-error", "x-twilio-errorcode", "x-telnyx-error"):
            yield Evidence(header.name, header.value)
    if response.body:
        yield Evidence("body", response.body)
    if response.agent:
        yield Evidence("sent by", response.agent)


def response_text(response: SipMessage) -> str:
    """Reason phrase plus Reason and Warning headers, for matching phrases."""
    return " ".join((response.reason or "", *response.reason_headers, *response.warnings))


def by_direction(ctx: CallContext, *, inbound: str, outbound: str) -> str:
    """The remedy for the call's direction; both readings when it is unknown."""
    kind = ctx.direction.kind
    if kind is DirectionKind.INBOUND:
        return inbound
    if kind is DirectionKind.OUTBOUND:
        return outbound
    return (
        f"Direction unknown (name your side with --local). If the call came in to your side: "
        f"{inbound} If your side placed the call: {outbound}"
    )


def direction_evidence(ctx: CallContext) -> Evidence:
    return Evidence("direction", f"{ctx.direction.kind.value} ({ctx.direction.reason})")


def final_code_rule(
    ctx: CallContext,
    matches: Callable[[SipMessage], bool],
    what: str,
    make_failure: Callable[[SipMessage], tuple[str, str]],
) -> Outcome:
    """The common shape of rules about one class of final response to the INVITE.

    matches: does this final response belong to the rule?  what: the rule's
    subject for the pass line ("403 Forbidden").  make_failure: summary and
    remedy for a matching response.
    """
    flow = ctx.flow
    if not flow.attempts:
        return not_applicable("no INVITE transaction in the capture")
    decisive = flow.decisive
    final = decisive.final if decisive is not None else None
    if final is None or flow.answered or not matches(final):
        outcome = f"final response {final.label}" if final is not None else "no final response"
        if flow.answered and flow.answer is not None:
            outcome = f"answered with {flow.answer.label}"
        return passed(f"no {what}: {outcome}")
    summary, remedy = make_failure(final)
    provider_error = x_header(final, "X-Twilio-Error")
    if provider_error and provider_error not in summary:
        summary += f" (Twilio error {provider_error})"
    frames = [final.frame]
    if decisive is not None and decisive.request is not None:
        frames.append(decisive.request.frame)
    return failed(
        summary,
        remedy=remedy,
        evidence=[
            message_evidence("final response", final),
            *([message_evidence("INVITE", decisive.request)] if decisive and decisive.request else []),
            *response_details(final),
            direction_evidence(ctx),
        ],
        frames=frames,
        display_filter=filters.final(ctx.call.call_id, final.status or 0),
    )


def stream_evidence(label: str, stream: RtpStream) -> Evidence:
    text = (f"{stream.label()}: {stream.packets} packets, frames {stream.first_frame}-{stream.last_frame}, "
            f"{stream.first_time:.3f}-{stream.last_time:.3f}s")
    if stream.decoded_by != "tshark":
        text += " (read by sipdiag: tshark left this UDP to an SDP address undecoded)"
    return Evidence(label, text)


def stream_filter(*streams: RtpStream) -> str:
    return filters.streams(streams)


def sdp_line(message: SipMessage, media: SdpMedia) -> str:
    """Where an m= line came from, for evidence."""
    return f"frame {message.frame} ({message.label}): m={media.line}"


def grade(value: float, warn_at: float, fail_above: float) -> Status:
    """pass below warn_at, fail above fail_above, warn between (the catalog's thresholds)."""
    if value > fail_above:
        return Status.FAIL
    if value >= warn_at:
        return Status.WARN
    return Status.PASS


def livekit_party(ctx: CallContext) -> str | None:
    """Which party is LiveKit's SIP service (caller or callee), from its fingerprints; None when neither."""
    side = ctx.direction.livekit
    return side.party if side is not None else None


def x_header(message: SipMessage, name: str) -> str | None:
    """The first value of an X- header (any case), or None."""
    wanted = name.lower()
    return next((h.value for h in message.x_headers if h.name.lower() == wanted), None)
