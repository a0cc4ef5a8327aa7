"""The per-call analysis: built once per call, kept on the call's report, read by every consumer.

flow (transactions, the answer, the final response, when the call was up),
media (offer/answer exchanges, who sent which stream), direction (inbound or
outbound from our side). Rules, the ladder, the HTML report and the CLI all
read a CallAnalysis; none builds its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..model import Call, Summary
from .direction import Direction, IPNetwork, call_direction
from .flow import CallFlow
from .flow import analyse as analyse_flow
from .media import MediaView, media_view, share_streams


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


def analyse(summary: Summary, local_nets: Sequence[IPNetwork] = (),
            wanted: Callable[[Call], bool] | None = None) -> tuple[Summary, tuple[CallAnalysis, ...]]:
    """The summary with streams shared between the calls they serve, and an analysis of each
    wanted call (every call when `wanted` is None), in the summary's order."""
    flows = [analyse_flow(call) for call in summary.calls]
    shared = share_streams(summary, flows)
    analyses = []
    for call, flow in zip(shared.calls, flows, strict=True):
        if wanted is not None and not wanted(call):
            continue
        if call is not flow.call:
            flow = replace(flow, call=call)
        analyses.append(CallAnalysis(flow=flow, media=media_view(flow), direction=call_direction(flow, local_nets)))
    return shared, tuple(analyses)


def analyse_call(call: Call, local_nets: Sequence[IPNetwork] = ()) -> CallAnalysis:
    """One call on its own (no other calls to share streams with)."""
    flow = analyse_flow(call)
    return CallAnalysis(flow=flow, media=media_view(flow), direction=call_direction(flow, local_nets))
