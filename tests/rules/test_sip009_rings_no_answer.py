"""SIP009 rings-no-answer."""

import pytest

from sipdiag_post.rules import sip009_rings_no_answer as sip009
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, rejected, run


def test_fails_when_ringing_ends_in_cancel_and_says_how_long_it_rang():
    call = (CallBuilder().at(0).invite().response(100).at(0.2).response(180)
            .at(12.2).request("CANCEL", to_tag=None).response(200, method="CANCEL").response(487)
            .ack(non_2xx=True).build())
    outcome = run(sip009.RULE, call)
    assert outcome.status is Status.FAIL
    assert "rang for 12.0 s" in outcome.summary and "CANCEL" in outcome.summary
    assert 4 in outcome.frames


def test_warns_when_the_capture_ends_while_ringing():
    call = CallBuilder().invite().response(180).build()
    outcome = run(sip009.RULE, call, capture_end=20.0)
    assert outcome.status is Status.WARN  # the answer may just not be in the capture
    assert "still ringing" in outcome.summary


@pytest.mark.parametrize("status", [403, 404, 486, 488, 503, 603])
def test_a_call_rejected_after_ringing_is_not_left_unanswered(status):
    call = CallBuilder().invite().response(180).response(status).ack(non_2xx=True).build()
    outcome = run(sip009.RULE, call)
    assert outcome.status is Status.NA and "rejected" in outcome.summary


@pytest.mark.parametrize("status", [408, 480, 487])
def test_a_rung_call_ending_without_an_answer_fails(status):
    call = CallBuilder().invite().response(180).response(status).ack(non_2xx=True).build()
    assert run(sip009.RULE, call).status is Status.FAIL


def test_inbound_remedy_is_about_the_agent_name():
    call = CallBuilder().invite().response(180, server="LiveKit").response(480).ack(non_2xx=True).build()
    assert "dispatch rule" in (run(sip009.RULE, call).remedy or "")


def test_passes_when_answered_after_ringing():
    assert run(sip009.RULE, answered().build()).status is Status.PASS


def test_does_not_apply_to_calls_that_never_rang():
    assert run(sip009.RULE, rejected(486).build()).status is Status.NA
