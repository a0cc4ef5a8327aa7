"""SIP007 request-timeout."""

from sipdiag_post.rules import sip007_request_timeout as sip007
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, rejected, run


def _unanswered(retransmissions: int) -> CallBuilder:
    builder = CallBuilder().invite()
    for i in range(retransmissions):
        builder.retransmit(at=0.5 * (2 ** (i + 1) - 1))
    return builder


def test_fails_on_a_final_408():
    outcome = run(sip007.RULE, rejected(408).build())
    assert outcome.status is Status.FAIL
    assert outcome.display_filter and "sip.Status-Code == 408" in outcome.display_filter


def test_fails_when_the_invite_is_retransmitted_into_silence():
    outcome = run(sip007.RULE, _unanswered(6).build(), capture_end=34.0)
    assert outcome.status is Status.FAIL
    assert "6 retransmission(s)" in outcome.summary
    assert outcome.frames == (1, 2, 3, 4, 5, 6, 7)


def test_only_warns_when_the_capture_ended_too_soon_to_tell():
    outcome = run(sip007.RULE, _unanswered(0).build(), capture_end=2.0)
    assert outcome.status is Status.WARN
    assert "capture ended" in outcome.summary


def test_fails_without_retransmissions_when_the_capture_ran_past_timer_b():
    # TCP: no retransmissions, but 40 s of silence
    assert run(sip007.RULE, _unanswered(0).build(), capture_end=40.0).status is Status.FAIL


def test_warns_on_100_trying_and_nothing_else():
    call = CallBuilder().invite().response(100).build()
    assert run(sip007.RULE, call, capture_end=5.0).status is Status.WARN


def test_leaves_ringing_calls_to_sip009():
    call = CallBuilder().invite().response(100).response(180).build()
    assert run(sip007.RULE, call).status is Status.PASS


def test_passes_answered_and_otherwise_failed_calls():
    assert run(sip007.RULE, answered().build()).status is Status.PASS
    assert run(sip007.RULE, rejected(486).build()).status is Status.PASS
