"""The per-call analysis: built once per call, kept on the call's report, read by every consumer.

flow (transactions, the answer, the final response, when the call was up),
media (offer/answer exchanges, who sent which stream), direction (inbound or
outbound from our side), and on first use each stream's audio quality
(quality.py) and the call's DTMF (dtmf.py). Rules, the ladder, the HTML report and the CLI all
read a CallAnalysis; none builds its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from ..model import Call, Endpoint, Summary
from .direction import Direction, IPNetwork, call_direction
from .dtmf import DtmfView, dtmf_view
from .flow import CallFlow
from .flow import analyse as analyse_flow
from .legs import CallKeys, Leg, call_keys, related_legs
from .media import MediaView, media_view, share_streams
from .quality import StreamQuality, call_quality


@dataclass(frozen=True)
class CallAnalysis:
    """What one call adds up to."""

    flow: CallFlow  # transactions, attempts, answer, final response
    media: MediaView  # offer/answer exchanges, parties, stream senders
    direction: Direction  # inbound / outbound / unknown, with how it was decided

    @property
    def call(self) -> Call:
        """The call, with the streams it shares with other calls of the capture."""
        return self.flow.call

    @cached_property
    def quality(self) -> tuple[StreamQuality, ...]:
        """The E-model figures of each of the call's streams, in the call's stream order (computed once)."""
        return call_quality(self.media)

    @cached_property
    def dtmf(self) -> DtmfView:
        """The call's DTMF digits, RFC 4733 and SIP INFO (computed once)."""
        return dtmf_view(self.media)


@dataclass(frozen=True)
class CaptureAnalysis:
    """The capture as the rules see it: streams shared between the calls they serve, every call's flow
    (for what one call tells about another: a transfer's new call, the other leg of a B2BUA), and the
    analysis of each wanted call."""

    summary: Summary  # with shared streams
    flows: tuple[CallFlow, ...]  # every call's flow, in the summary's order
    calls: tuple[CallAnalysis, ...]  # the wanted calls, in the summary's order
    advertised: Mapping[Endpoint, tuple[str, ...]]  # audio address:port -> Call-IDs whose SDP advertised it
    legs: Mapping[str, tuple[Leg, ...]]  # Call-ID -> the other calls that are legs of its conversation

    def advertised_elsewhere(self, endpoint: Endpoint, call_id: str) -> tuple[str, ...]:
        """The other calls whose SDP advertised this address:port (a B2BUA's other leg, a transfer)."""
        return tuple(c for c in self.advertised.get(endpoint, ()) if c != call_id)


def _call_analysis(flow: CallFlow, local_nets: Sequence[IPNetwork]) -> CallAnalysis:
    return CallAnalysis(flow=flow, media=media_view(flow), direction=call_direction(flow, local_nets))


def analyse(summary: Summary, local_nets: Sequence[IPNetwork] = (),
            wanted: Callable[[Call], bool] | None = None,
            flow_of: Callable[[Call], CallFlow] = analyse_flow,
            keys_of: Callable[[Call], CallKeys] = call_keys) -> CaptureAnalysis:
    """The capture's analysis: each wanted call's (every call's when `wanted` is None). flow_of gives a
    call's flow, keys_of what may tie it to other calls (a caller that analyses the same calls again may
    remember both)."""
    flows = [flow_of(call) for call in summary.calls]
    keys = [keys_of(call) for call in summary.calls]
    shared = share_streams(summary, flows, [k.endpoints for k in keys])
    flows = [flow if call is flow.call else replace(flow, call=call) for call, flow in zip(shared.calls, flows,
                                                                                          strict=True)]
    calls = tuple(_call_analysis(flow, local_nets) for flow in flows if wanted is None or wanted(flow.call))
    advertised: dict[Endpoint, list[str]] = {}
    for call, k in zip(summary.calls, keys, strict=True):
        for endpoint in k.endpoints:
            advertised.setdefault(endpoint, []).append(call.call_id)
    return CaptureAnalysis(summary=shared, flows=tuple(flows), calls=calls,
                           advertised={e: tuple(ids) for e, ids in advertised.items()},
                           legs=related_legs(shared.calls, keys))


def analyse_call(call: Call, local_nets: Sequence[IPNetwork] = ()) -> CallAnalysis:
    """One call on its own (no other calls to share streams with)."""
    return _call_analysis(analyse_flow(call), local_nets)
