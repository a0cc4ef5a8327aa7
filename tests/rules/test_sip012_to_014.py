"""SIP012 delayed-offer, SIP013 handshake, SIP014 auth-loop."""

from sipdiag_post.rules import sip012_delayed_offer as sip012
from sipdiag_post.rules import sip013_handshake as sip013
from sipdiag_post.rules import sip014_auth_loop as sip014
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, rejected, run


def test_sip012_fails_on_an_invite_without_sdp_and_shows_where_the_offer_went():
    call = (CallBuilder().invite(sdp=False).response(100).response(200, has_sdp=True)
            .ack(has_sdp=True).build())
    outcome = run(sip012.RULE, call)
    assert outcome.status is Status.FAIL
    assert outcome.frames == (1, 3, 4)


def test_sip012_passes_early_offer_and_skips_calls_without_invite():
    assert run(sip012.RULE, answered().build()).status is Status.PASS
    assert run(sip012.RULE, CallBuilder().response(200).ack().build()).status is Status.NA


def test_sip013_passes_with_the_flow_and_timings():
    call = (CallBuilder().at(0).invite().at(0.05).response(100).at(0.8).response(180)
            .at(5.0).response(200).at(5.02).ack().build())
    outcome = run(sip013.RULE, call)
    assert outcome.status is Status.PASS
    values = {e.label: e.value for e in outcome.evidence}
    assert values["flow"] == "INVITE -> 100 -> 180 -> 200 -> ACK"
    assert values["post-dial delay"] == "0.800 s"
    assert values["answer time"] == "5.000 s"


def test_sip013_warns_on_invite_retransmissions_before_any_response():
    call = CallBuilder().at(0).invite().retransmit(at=0.5).at(0.9).response(100).response(200).ack().build()
    assert run(sip013.RULE, call).status is Status.WARN


def test_sip013_does_not_apply_to_failed_or_unacknowledged_calls():
    assert run(sip013.RULE, rejected(486).build()).status is Status.NA
    assert run(sip013.RULE, CallBuilder().invite().response(200).build()).status is Status.NA


def test_sip013_mentions_a_challenge_as_normal():
    call = (CallBuilder().invite().response(401).ack(non_2xx=True)
            .invite().response(100).response(200).ack().build())
    outcome = run(sip013.RULE, call)
    assert outcome.status is Status.PASS
    assert outcome.summary.startswith("401 challenge, then INVITE")


def test_sip014_fails_on_repeated_challenges_and_names_realm_and_user():
    call = (CallBuilder().invite().response(407, auth_realm="carrier.test").ack(non_2xx=True)
            .invite(auth_username="alice").response(407, auth_realm="carrier.test").ack(non_2xx=True).build())
    outcome = run(sip014.RULE, call)
    assert outcome.status is Status.FAIL
    values = {e.label: e.value for e in outcome.evidence}
    assert values["realm"] == "carrier.test" and values["username sent"] == "alice"


def test_sip014_passes_a_challenge_followed_by_success():
    call = (CallBuilder().invite().response(401).ack(non_2xx=True)
            .invite().response(200).ack().build())
    assert run(sip014.RULE, call).status is Status.PASS


def test_sip014_does_not_apply_without_challenges():
    assert run(sip014.RULE, answered().build()).status is Status.NA
