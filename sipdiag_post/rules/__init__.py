"""The rule registry: every rule of the catalog, in catalog order.

Explicit on purpose: adding a rule means adding its module here.
Ids and names are a public contract (../docs/rules.md); never reuse an id.
"""

from __future__ import annotations

from . import (
    cap001_no_invite_recorded,
    cap002_signalling_encrypted,
    cap003_capture_truncated,
    cid001_call_identifiers,
    rtp001_no_rtp,
    rtp002_one_way_rtp,
    rtp003_packet_loss,
    rtp004_jitter,
    rtp005_latency,
    rtp006_payload_type_mismatch,
    rtp007_media_timeout,
    rtp008_rtp_source_mismatch,
    sdp001_null_connection_address,
    sdp002_media_rejected,
    sdp003_no_common_codec,
    sdp004_private_sdp_address,
    sdp005_negotiated_codec,
    sip001_invite_not_captured,
    sip002_forbidden,
    sip003_domestic_anchoring_rejected,
    sip004_not_found,
    sip005_busy_here,
    sip006_service_unavailable,
    sip007_request_timeout,
    sip008_other_final_failure,
    sip009_rings_no_answer,
    sip010_ack_missing,
    sip011_transfer_failed,
    sip012_delayed_offer,
    sip013_handshake,
    sip014_auth_loop,
)
from .base import Rule, Threshold

RULES: tuple[Rule, ...] = (
    cap001_no_invite_recorded.RULE,
    cap002_signalling_encrypted.RULE,
    cap003_capture_truncated.RULE,
    sip001_invite_not_captured.RULE,
    sip002_forbidden.RULE,
    sip003_domestic_anchoring_rejected.RULE,
    sip004_not_found.RULE,
    sip005_busy_here.RULE,
    sip006_service_unavailable.RULE,
    sip007_request_timeout.RULE,
    sip008_other_final_failure.RULE,
    sip009_rings_no_answer.RULE,
    sip010_ack_missing.RULE,
    sip011_transfer_failed.RULE,
    sip012_delayed_offer.RULE,
    sip013_handshake.RULE,
    sip014_auth_loop.RULE,
    sdp001_null_connection_address.RULE,
    sdp002_media_rejected.RULE,
    sdp003_no_common_codec.RULE,
    sdp004_private_sdp_address.RULE,
    sdp005_negotiated_codec.RULE,
    rtp001_no_rtp.RULE,
    rtp002_one_way_rtp.RULE,
    rtp003_packet_loss.RULE,
    rtp004_jitter.RULE,
    rtp005_latency.RULE,
    rtp006_payload_type_mismatch.RULE,
    rtp007_media_timeout.RULE,
    rtp008_rtp_source_mismatch.RULE,
    cid001_call_identifiers.RULE,
)

CAPTURE_RULES = tuple(r for r in RULES if r.scope == "capture")
CALL_RULES = tuple(r for r in RULES if r.scope == "call")

# map from threshold name to its declaration, in catalog order (each rule declares its own)
THRESHOLDS: dict[str, Threshold] = {t.name: t for r in RULES for t in r.thresholds}


def _final_rules() -> dict[int, str]:
    owners: dict[int, list[str]] = {}
    for rule in RULES:
        for status in sorted(rule.finals):
            owners.setdefault(status, []).append(rule.id)
    return {status: "/".join(ids) for status, ids in sorted(owners.items())}


# map from a final response status to the rule(s) that report it (SIP008 reports the rest)
FINAL_RULES: dict[int, str] = _final_rules()


def find(key: str) -> Rule | None:
    """A rule by id (any case), name or alias."""
    wanted = key.strip().lower()
    for rule in RULES:
        if wanted in (rule.id.lower(), rule.name, *rule.aliases):
            return rule
    return None
