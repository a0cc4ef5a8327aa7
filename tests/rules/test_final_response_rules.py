"""SIP002-SIP006 and SIP008: the final response to the INVITE."""

import pytest

from sipdiag_post.analysis.direction import parse_local
from sipdiag_post.rules import sip002_forbidden as sip002
from sipdiag_post.rules import sip003_domestic_anchoring_rejected as sip003
from sipdiag_post.rules import sip004_not_found as sip004
from sipdiag_post.rules import sip005_busy_here as sip005
from sipdiag_post.rules import sip006_service_unavailable as sip006
from sipdiag_post.rules import sip008_other_final_failure as sip008
from sipdiag_post.rules.base import Settings
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, rejected, report, run

DATNM = "Domestic Anchored Terms Not Met"


@pytest.mark.parametrize(("rule", "status"), [
    (sip002.RULE, 403), (sip004.RULE, 404), (sip005.RULE, 486), (sip006.RULE, 503), (sip008.RULE, 480),
])
def test_each_final_code_rule_fails_on_its_code_with_evidence(rule, status):
    outcome = run(rule, rejected(status).build())
    assert outcome.status is Status.FAIL
    assert outcome.frames == (1, 3)  # the INVITE and the final response
    assert outcome.display_filter == (
        '(sip.Call-ID === "test-call@sipdiag.test" || (sip.Call-ID == "test-call@sipdiag.test" && count(sip) > 1))'
        f' && (sip.Method == "INVITE" || sip.Status-Code == {status})')
    assert outcome.remedy


@pytest.mark.parametrize("rule", [sip002.RULE, sip003.RULE, sip004.RULE, sip005.RULE, sip006.RULE, sip008.RULE])
def test_an_answered_call_passes_every_final_code_rule(rule):
    assert run(rule, answered().build()).status is Status.PASS


@pytest.mark.parametrize("rule", [sip002.RULE, sip005.RULE, sip008.RULE])
def test_final_code_rules_do_not_apply_without_an_invite_transaction(rule):
    bye_only = CallBuilder().request("BYE").response(200, method="BYE").build()
    assert run(rule, bye_only).status is Status.NA


def test_domestic_anchoring_is_sip003_and_explains_sip002():
    call = rejected(403, DATNM).build()
    assert run(sip003.RULE, call).status is Status.FAIL
    checks = {c.id: c for c in report(call).checks}
    assert checks["SIP003"].status is Status.FAIL
    assert checks["SIP002"].status is Status.INFO and checks["SIP002"].explained_by == "SIP003"


def test_a_403_with_q850_cause_21_is_a_rejection_not_a_credentials_problem():
    call = rejected(403, "Forbidden", reason_headers=('Q.850;cause=21;text="Call rejected"',)).build()
    outcome = run(sip002.RULE, call)
    assert outcome.status is Status.FAIL
    assert "Q.850 cause 21: call rejected" in outcome.summary and "not a credentials problem" in outcome.summary
    assert "credentials worked" in (outcome.remedy or "")


def test_domestic_anchoring_is_found_in_a_reason_header_too():
    call = rejected(403, "Forbidden", reason_headers=(f'SIP;cause=403;text="{DATNM}"',)).build()
    assert run(sip003.RULE, call).status is Status.FAIL


def test_403_after_a_challenge_blames_the_credentials():
    call = (CallBuilder().invite().response(401).ack(non_2xx=True)
            .invite().response(403).ack(non_2xx=True).build())
    outcome = run(sip002.RULE, call)
    assert outcome.status is Status.FAIL
    assert "credentials rejected" in outcome.summary


def test_busy_remedy_depends_on_direction():
    inbound = run(sip005.RULE, rejected(486, server="LiveKit-SIP/1.2").build())
    outbound = run(sip005.RULE, CallBuilder().invite(user_agent="LiveKit-SIP/1.2").response(486).build())
    unknown = run(sip005.RULE, rejected(486).build())
    assert "agent" in (inbound.remedy or "") and "busy" not in (inbound.remedy or "").lower()[:20]
    assert "called party is busy" in (outbound.remedy or "")
    assert "If the call came in" in (unknown.remedy or "") and "If your side placed" in (unknown.remedy or "")


def test_local_networks_decide_direction_before_user_agents():
    settings = Settings(local_nets=parse_local(["203.0.113.0/24"]))
    outcome = run(sip005.RULE, CallBuilder().invite(user_agent="LiveKit").response(486).build(), settings=settings)
    assert any(e.label == "direction" and e.value.startswith("inbound") for e in outcome.evidence)


def test_404_tells_trunk_from_destination():
    trunk = run(sip004.RULE, rejected(404, "twirp error unknown: object cannot be found").build())
    destination = run(sip004.RULE, rejected(404, "Not Found", warnings=('399 x "Destination not in service"',)).build())
    assert "trunk" in trunk.summary
    assert "destination" in destination.summary


def test_503_remedy_names_the_trunk_address_on_outbound_calls():
    call = CallBuilder().invite(user_agent="LiveKit").response(503, retry_after="60").ack(non_2xx=True).build()
    outcome = run(sip006.RULE, call)
    assert "trunk's address" in (outcome.remedy or "")
    assert any(e.label == "Retry-After" and e.value == "60" for e in outcome.evidence)


@pytest.mark.parametrize("status", [403, 404, 408, 486, 503])
def test_sip008_leaves_codes_with_their_own_rule_alone(status):
    assert run(sip008.RULE, rejected(status).build()).status is Status.PASS


def test_sip008_explains_487_after_cancel():
    call = (CallBuilder().invite().response(100).response(180).request("CANCEL", to_tag=None)
            .response(200, method="CANCEL").response(487).ack(non_2xx=True).build())
    outcome = run(sip008.RULE, call)
    assert outcome.status is Status.FAIL
    assert "487 Request Terminated" in outcome.summary and "CANCEL sent at frame 4" in outcome.summary


def test_sip008_reports_a_single_unanswered_challenge():
    outcome = run(sip008.RULE, rejected(401).build())
    assert outcome.status is Status.FAIL
    assert "credentials" in (outcome.remedy or "")


def test_the_outcome_is_the_last_attempt_not_the_challenge():
    call = (CallBuilder().invite().response(407).ack(non_2xx=True)
            .invite().response(100).response(486).ack(non_2xx=True).build())
    assert run(sip005.RULE, call).status is Status.FAIL
    assert run(sip008.RULE, call).status is Status.PASS
