"""SIP001 invite-not-captured."""

from sipdiag_post.rules import sip001_invite_not_captured as sip001
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, run


def test_passes_with_the_initial_invite():
    outcome = run(sip001.RULE, answered().build())
    assert outcome.status is Status.PASS
    assert outcome.frames == (1,)


def test_warns_when_the_capture_starts_mid_call():
    call = CallBuilder().response(200).ack().request("BYE").response(200, method="BYE").build()
    outcome = run(sip001.RULE, call)
    assert outcome.status is Status.WARN  # a capture-window artifact, never a failed call
    assert "200 OK (frame 1)" in outcome.summary


def test_a_call_id_with_only_in_dialog_traffic_is_a_fragment():
    call = CallBuilder().request("BYE").response(200, method="BYE").build()
    outcome = run(sip001.RULE, call)
    assert outcome.status is Status.WARN and outcome.summary.startswith("a fragment of a call: only BYE")


def test_a_reinvite_is_not_the_initial_invite():
    call = CallBuilder().invite(initial=False).response(200).ack().build()
    assert run(sip001.RULE, call).status is Status.WARN
