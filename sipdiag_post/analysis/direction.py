"""Which way a call goes, seen from our side (the catalog's definition).

"inbound": the call arrives at our side (the LiveKit SIP service, a PBX, the
agent); "outbound": our side places it. Our side is named by ``--local``
networks, else recognised by LiveKit's wire fingerprints (analysis/livekit.py:
its SCL_ tags, s=LiveKit, realm="LiveKit", 100 Processing), else the direction
is unknown and remedies cover both readings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..model import Endpoint
from .flow import CallFlow
from .livekit import LiveKitSide, livekit_side

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DirectionKind(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Direction:
    kind: DirectionKind
    reason: str  # how it was decided, for evidence
    livekit: LiveKitSide | None = None  # LiveKit's side of the call, when its fingerprints show it


def parse_local(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse --local ADDR|CIDR values; raises ValueError with a one-line message."""
    nets = []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"--local {value!r} is not an IP address or CIDR network") from None
    return tuple(nets)


def _is_local(endpoint: Endpoint, nets: Sequence[IPNetwork]) -> bool:
    ip = endpoint.ip()
    return ip is not None and any(ip.version == net.version and ip in net for net in nets)


def _caller_callee(flow: CallFlow) -> tuple[Endpoint, Endpoint] | None:
    invite = flow.first_invite
    if invite is not None:
        return invite.src, invite.dst
    for tx in flow.attempts:
        if tx.responses:
            return tx.responses[0].dst, tx.responses[0].src
    return None


def call_direction(flow: CallFlow, local_nets: Sequence[IPNetwork] = ()) -> Direction:
    """Decide the call's direction from --local networks, then LiveKit's fingerprints."""
    ends = _caller_callee(flow)
    side = livekit_side(flow)
    if local_nets and ends is not None:
        caller, callee = ends
        caller_local, callee_local = _is_local(caller, local_nets), _is_local(callee, local_nets)
        if caller_local and not callee_local:
            return Direction(DirectionKind.OUTBOUND, f"caller {caller} is in --local", livekit=side)
        if callee_local and not caller_local:
            return Direction(DirectionKind.INBOUND, f"callee {callee} is in --local", livekit=side)
    if side is not None:
        kind = DirectionKind.OUTBOUND if side.party == "caller" else DirectionKind.INBOUND
        return Direction(kind, side.evidence, livekit=side)
    return Direction(DirectionKind.UNKNOWN, "no --local given and nothing in the call says LiveKit")
