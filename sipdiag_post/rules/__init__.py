"""The rule registry: every rule of the catalog, in catalog order.

Explicit on purpose: adding a rule means adding its module here.
Ids and names are a public contract (../docs/rules.md); never reuse an id.
"""

from __future__ import annotations

from ..verdict import Status
from . import (
    cap001_no_invite_recorded,
    cap002_signalling_encrypted,
    cap003_capture_truncated,
    cap004_media_not_captured,
    cap005_capture_timing_broken,
    cap006_duplicate_frames,
    cid001_call_identifiers,
    cid002_related_legs,
    rtp001_no_rtp,
    rtp002_one_way_rtp,
    rtp003_packet_loss,
    rtp004_jitter,
    rtp005_latency,
    rtp006_payload_type_mismatch,
    rtp007_media_timeout,
    rtp008_rtp_source_mismatch,
    rtp009_poor_audio_quality,
    rtp010_dtmf,
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
    sip015_in_dialog_request_failed,
)
from .base import Rule, Threshold

RULES: tuple[Rule, ...] = (
    cap001_no_invite_recorded.RULE,
    cap002_signalling_encrypted.RULE,
    cap003_capture_truncated.RULE,
    cap004_media_not_captured.RULE,
    cap005_capture_timing_broken.RULE,
    cap006_duplicate_frames.RULE,
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
    sip015_in_dialog_request_failed.RULE,
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
    rtp009_poor_audio_quality.RULE,
    rtp010_dtmf.RULE,
    cid002_related_legs.RULE,
    cid001_call_identifiers.RULE,
)

CAPTURE_RULES = tuple(r for r in RULES if r.scope == "capture")
CALL_RULES = tuple(r for r in RULES if r.scope == "call")

# map from threshold name to its declaration, in catalog order (each rule declares its own)
THRESHOLDS: dict[str, Threshold] = {t.name: t for r in RULES for t in r.thresholds}


def check_thresholds(overrides: dict[str, float]) -> None:
    """Threshold values a person gave: known names, no negative values, and each warn limit on the
    healthy side of its fail limit (loss_warn_pct <= loss_fail_pct; mos_warn >= mos_fail). ValueError
    with one line otherwise."""
    for name, value in overrides.items():
        if name not in THRESHOLDS:
            raise ValueError(f"unknown threshold {name!r} (known: {', '.join(THRESHOLDS)})")
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"threshold {name}={value:g}: must be a number, 0 or more")
    for name, warn in THRESHOLDS.items():
        if "_warn" not in name:
            continue
        fail = THRESHOLDS.get(name.replace("_warn", "_fail"))
        if fail is None:
            continue
        low, high = warn.of_values(overrides), fail.of_values(overrides)
        if warn.lower_is_worse:
            low, high = high, low
        if low > high:
            raise ValueError(f"threshold {warn.name}={warn.of_values(overrides):g} is past "
                             f"{fail.name}={fail.of_values(overrides):g}: warn must come before fail")


def _final_rules() -> dict[int, str]:
    owners: dict[int, list[str]] = {}
    for rule in RULES:
        for status in sorted(rule.finals):
            owners.setdefault(status, []).append(rule.id)
    return {status: "/".join(ids) for status, ids in sorted(owners.items())}


# map from a final response status to the rule(s) that report it (SIP008 reports the rest)
FINAL_RULES: dict[int, str] = _final_rules()

# Where one finding only restates another's cause: map from a rule to the rules that explain it.
# When one of these fails or warns on the same call, the rule's own fail/warn becomes `info`,
# "explained by RULE" (the engine applies it; rule modules never name each other for this).
YIELDS: dict[str, tuple[str, ...]] = {
    "CAP001": ("CAP002",),  # encrypted signalling: whether an INVITE was offered cannot be told
    "SIP002": ("SIP003",),  # a 403 with the anchoring phrase is SIP003's
    "SIP007": ("SIP009",),  # it rang, then timed out: nobody answered
    "SIP008": ("SDP003", "SIP009"),  # 488 is a codec refusal; 480/487 after ringing is no answer
    "RTP001": ("SDP001", "SDP002", "SIP010"),  # no media because none was offered, refused, or never ACKed
    "RTP002": ("SDP001", "SDP004", "RTP008"),  # one-way because of a null or unreachable address
    "RTP007": ("RTP001", "RTP002"),  # a silence that is all of the call, or all of one direction
    "RTP008": ("SDP004",),  # RTP from elsewhere because the SDP address was private
    "RTP009": ("RTP003", "RTP004", "RTP005"),  # a low score because of the loss, jitter or delay they report
}
# what an explained finding becomes, where not `info`
EXPLAINED_STATUS: dict[str, Status] = {"CAP001": Status.NA}

# The order in which a call's findings are its verdict: the outcome of the call first, then what
# broke media, then quality and side issues. The first unexplained fail (else warn) is the verdict.
VERDICT_ORDER: tuple[str, ...] = (
    "SIP014", "SIP003", "SIP002", "SIP004", "SIP005", "SIP006", "SDP001", "SDP003", "SIP008", "SIP009",
    "SIP007", "SIP010", "SDP002", "SDP004", "RTP001", "RTP002", "RTP008", "RTP007", "SIP015", "SIP011",
    "RTP003", "RTP004", "RTP005", "RTP009", "RTP006", "RTP010", "SIP012", "SIP013", "SIP001", "SDP005",
    "CID002", "CID001",
)


def find(key: str) -> Rule | None:
    """A rule by id (any case), name or alias."""
    wanted = key.strip().lower()
    for rule in RULES:
        if wanted in (rule.id.lower(), rule.name, *rule.aliases):
            return rule
    return None


def search(key: str) -> tuple[Rule, ...]:
    """Rules for what a person typed: the exact id, name or alias; else the names (and ids) that
    start with it; else those that contain it."""
    exact = find(key)
    if exact is not None:
        return (exact,)
    wanted = key.strip().lower()
    if not wanted:
        return ()
    for matches in (lambda r: r.name.startswith(wanted) or r.id.lower().startswith(wanted),
                    lambda r: wanted in r.name or any(wanted in a for a in r.aliases)):
        found = tuple(r for r in RULES if matches(r))
        if found:
            return found
    return ()
