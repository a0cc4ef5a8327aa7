"""SIP signalling is encrypted (TLS) and could not be read.

What it checks:
    Whether the capture holds TLS traffic that tshark could not decrypt into
    SIP: always on TCP port 5061 (SIPS), and on any port when no SIP at all
    was decoded (SIP over secure WebSocket, TLS on a custom port).

Why it matters:
    Every SIP rule works from the messages it can read. Encrypted calls are
    invisible: the report would look clean while the calls failed.

Evidence:
    Per port: the TLS frames seen and the first of them; the display filter
    ``tls && tcp.port == 5061``.

Remedy:
    decrypt: Decrypt it: start the SIP endpoint with SSLKEYLOGFILE=/path/keys
    set (or export its TLS keys) and rerun with --tls-keylog /path/keys.
    Otherwise capture where TLS ends (inside the SBC or proxy), or move the
    trunk to TCP/UDP while you debug.

Exceptions:
    TLS on other ports is ignored while SIP was decoded elsewhere in the
    capture (HTTPS beside a SIP/UDP call is not signalling). Once keys
    decrypt the traffic, the SIP inside is analysed and this rule passes.
"""

from __future__ import annotations

from ..verdict import Evidence, Outcome, Status, failed, passed, warned
from .base import CaptureContext, Rule, remedies

_SIPS_PORT = 5061
REMEDY = remedies(__doc__)


def check(ctx: CaptureContext) -> Outcome:
    facts = ctx.summary.facts
    sips = [t for t in facts.tls_undecoded if t.port == _SIPS_PORT]
    others = [t for t in facts.tls_undecoded if t.port != _SIPS_PORT]
    if sips:
        t = sips[0]
        return failed(
            f"{t.frames} TLS frames on port 5061 (SIPS) could not be decrypted",
            remedy=REMEDY["decrypt"],
            evidence=[Evidence("SIPS port 5061", f"{t.frames} frames, first at frame {t.first_frame}")],
            frames=[t.first_frame],
            display_filter="tls && tcp.port == 5061",
        )
    if others and facts.sip_messages == 0:
        ports = ", ".join(f"{t.port} ({t.frames} frames)" for t in others)
        return warned(
            f"no SIP decoded, but TLS on port(s) {ports}: signalling may be encrypted",
            remedy=REMEDY["decrypt"],
            evidence=[Evidence(f"TLS port {t.port}", f"{t.frames} frames, first at frame {t.first_frame}")
                      for t in others],
            frames=[t.first_frame for t in others],
            display_filter="tls && !sip",
        )
    if others:
        return passed("no encrypted SIP seen (TLS on other ports ignored: SIP was decoded)")
    return passed("no encrypted signalling seen")


RULE = Rule(id="CAP002", name="signalling-encrypted", scope="capture", check=check, doc=__doc__ or "",
            statuses=frozenset({Status.PASS, Status.WARN, Status.FAIL}))
