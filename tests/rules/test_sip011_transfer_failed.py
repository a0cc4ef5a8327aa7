"""SIP011 transfer-failed."""

from sipdiag_post.rules import sip011_transfer_failed as sip011
from sipdiag_post.verdict import Status
from tests.builders import answered, run

TARGET = "<sip:+15550199999@carrier.test>"


def _referred():
    return answered().request("REFER", refer_to=TARGET)


def test_fails_when_the_refer_gets_408():
    outcome = run(sip011.RULE, _referred().response(408, method="REFER").build())
    assert outcome.status is Status.FAIL
    assert "408 Request Timeout" in outcome.summary
    assert "REFER" in (outcome.display_filter or "")


def test_passes_on_a_notify_with_sipfrag_200():
    call = (_referred().response(202, method="REFER")
            .request("NOTIFY", from_callee=True, sipfrag="SIP/2.0 100 Trying", event="refer")
            .request("NOTIFY", from_callee=True, sipfrag="SIP/2.0 200 OK", event="refer").build())
    outcome = run(sip011.RULE, call)
    assert outcome.status is Status.PASS
    assert "SIP/2.0 200 OK" in outcome.summary


def test_fails_on_a_notify_reporting_failure():
    call = (_referred().response(202, method="REFER")
            .request("NOTIFY", from_callee=True, sipfrag="SIP/2.0 486 Busy Here").build())
    assert run(sip011.RULE, call).status is Status.FAIL


def test_fails_when_no_final_notify_arrives_in_time():
    call = _referred().response(202, method="REFER").build()
    assert run(sip011.RULE, call, capture_end=call.messages[-1].time + 10).status is Status.FAIL
    assert run(sip011.RULE, call, capture_end=call.messages[-1].time + 2).status is Status.WARN


def test_does_not_apply_without_refer():
    assert run(sip011.RULE, answered().build()).status is Status.NA
