"""SIP010 ack-missing."""

from sipdiag_post.rules import sip010_ack_missing as sip010
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, rejected, run


def test_passes_with_the_ack():
    outcome = run(sip010.RULE, answered().build())
    assert outcome.status is Status.PASS
    assert "ACK at frame 5" in outcome.summary


def test_fails_when_the_200_is_retransmitted_without_ack():
    call = CallBuilder().invite().response(100).response(200, contact="<sip:callee@10.0.0.5>")
    call.retransmit().retransmit()
    outcome = run(sip010.RULE, call.build(), capture_end=30.0)
    assert outcome.status is Status.FAIL
    assert "2 retransmission(s)" in outcome.summary
    assert any(e.label == "Contact in the 200 OK" for e in outcome.evidence)
    assert outcome.frames == (3, 4, 5)


def test_warns_when_the_capture_stops_right_after_the_200():
    call = CallBuilder().at(0).invite().at(1.0).response(200).build()
    assert run(sip010.RULE, call, capture_end=1.2).status is Status.WARN


def test_does_not_apply_to_unanswered_calls():
    assert run(sip010.RULE, rejected(486).build()).status is Status.NA
