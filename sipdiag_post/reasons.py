"""The Reason header (RFC 3326) decoded: Q.850 cause values and SIP causes, with what they mean.

Q.850 cause texts follow ITU-T Q.850 (and RFC 6432 for the SIP mapping);
written for this project in short words. Nothing here imports anything of
sipdiag's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ITU-T Q.850 cause values -> meaning (the common ones; others are named by number)
Q850: dict[int, str] = {
    1: "unallocated (unassigned) number", 2: "no route to the specified transit network",
    3: "no route to destination", 6: "channel unacceptable", 16: "normal call clearing", 17: "user busy",
    18: "no user responding", 19: "no answer from user (user alerted)", 20: "subscriber absent",
    21: "call rejected", 22: "number changed", 23: "redirected to a new destination",
    25: "exchange routing error", 27: "destination out of order", 28: "invalid number format (incomplete number)",
    29: "facility rejected", 31: "normal, unspecified", 34: "no circuit/channel available",
    38: "network out of order", 41: "temporary failure", 42: "switching equipment congestion",
    43: "access information discarded", 44: "requested circuit/channel not available",
    47: "resource unavailable, unspecified", 50: "requested facility not subscribed",
    55: "incoming calls barred within CUG", 57: "bearer capability not authorized",
    58: "bearer capability not presently available", 63: "service or option not available",
    65: "bearer capability not implemented", 69: "requested facility not implemented",
    79: "service or option not implemented", 87: "user not member of CUG", 88: "incompatible destination",
    95: "invalid message", 102: "recovery on timer expiry", 111: "protocol error", 127: "interworking, unspecified",
}
# causes that say the called party (or its network on its behalf) turned the call down: not an
# authorisation problem of the caller's trunk
REJECTED_BY_CALLEE = frozenset({17, 18, 19, 20, 21})
_PARAM = re.compile(r";\s*(cause|text)\s*=\s*(\"[^\"]*\"|[^;]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Reason:
    """One Reason header value."""

    protocol: str  # "Q.850", "SIP" or as written
    cause: int | None  # the cause= value; None when absent or not a number
    text: str | None  # the text= value, unquoted

    @property
    def meaning(self) -> str | None:
        """What the cause says, in words: Q.850's table, or the SIP response it names."""
        if self.cause is None:
            return None
        if self.protocol.upper() == "Q.850":
            return Q850.get(self.cause, f"Q.850 cause {self.cause}")
        if self.protocol.upper() == "SIP":
            return f"SIP {self.cause}"
        return None

    @property
    def rejected_by_callee(self) -> bool:
        return self.protocol.upper() == "Q.850" and self.cause in REJECTED_BY_CALLEE

    def describe(self) -> str:
        """"Q.850 cause 21: call rejected"."""
        head = f"{self.protocol} cause {self.cause}" if self.cause is not None else self.protocol
        meaning = self.meaning
        return f"{head}: {meaning}" if meaning and self.protocol.upper() == "Q.850" else head


def parse_reason(value: str) -> Reason:
    """A Reason header value ("Q.850;cause=21;text=\"Call rejected\"") read into its parts."""
    protocol = value.split(";", 1)[0].strip() or "?"
    cause, text = None, None
    for name, raw in _PARAM.findall(value):
        raw = raw.strip().strip('"')
        if name.lower() == "cause" and raw.isdigit() and len(raw) <= 4:
            cause = int(raw)
        elif name.lower() == "text":
            text = raw
    return Reason(protocol=protocol, cause=cause, text=text)
