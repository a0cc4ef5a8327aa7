"""CID001 call-identifiers."""

from sipdiag_post.model import Header
from sipdiag_post.rules import cid001_call_identifiers as cid001
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, run


def test_lists_provider_and_livekit_ids_from_x_headers():
    headers = (Header("X-Twilio-CallSid", "CA123"), Header("X-LK-Info", "call SCL_abc123 room x"),
               Header("X-Custom", "v"))
    call = CallBuilder().invite(x_headers=headers, user_agent="Twilio Gateway").response(200, server="LiveKit").build()
    outcome = run(cid001.RULE, call)
    assert outcome.status is Status.INFO
    values = {e.label: e.value for e in outcome.evidence}
    assert values["Twilio CallSid (X-Twilio-CallSid)"] == "CA123"
    assert values["LiveKit call id"] == "SCL_abc123"
    assert values["X-Custom"] == "v"
    assert values["caller agent"] == "Twilio Gateway" and values["callee agent"] == "LiveKit"
    assert "CA123" in outcome.summary and "SCL_abc123" in outcome.summary


def test_is_info_even_for_a_bare_call():
    outcome = run(cid001.RULE, CallBuilder().invite().build())
    assert outcome.status is Status.INFO
    assert outcome.summary == "Call-ID test-call@sipdiag.test"
