"""SDP001-SDP005: the offer/answer."""

from sipdiag_post.rules import sdp001_null_connection_address as sdp001
from sipdiag_post.rules import sdp002_media_rejected as sdp002
from sipdiag_post.rules import sdp003_no_common_codec as sdp003
from sipdiag_post.rules import sdp004_private_sdp_address as sdp004
from sipdiag_post.rules import sdp005_negotiated_codec as sdp005
from sipdiag_post.verdict import Status
from tests.builders import (
    CALLEE_MEDIA,
    CALLER_MEDIA,
    CallBuilder,
    Endpoint,
    answered,
    rejected,
    run,
    sdp,
    stream,
    talking,
)


def test_sdp001_fails_on_a_null_address_in_the_answer():
    call = talking(answer=sdp(CALLEE_MEDIA, "8", address="0.0.0.0")).build()
    outcome = run(sdp001.RULE, call)
    assert outcome.status is Status.FAIL
    assert "callee's answer at frame 2" in outcome.summary and outcome.frames == (2,)


def test_sdp001_only_warns_on_an_old_style_hold():
    call = (talking().at(3.0).invite(initial=False, sdp=sdp(CALLER_MEDIA, "8", address="0.0.0.0"))
            .response(200, sdp=sdp(CALLEE_MEDIA, "8")).ack().build())
    assert run(sdp001.RULE, call).status is Status.WARN


def test_sdp001_passes_real_addresses_and_skips_calls_without_sdp():
    assert run(sdp001.RULE, talking().build()).status is Status.PASS
    assert run(sdp001.RULE, answered().build()).status is Status.NA


def test_sdp002_fails_when_the_answer_refuses_audio():
    outcome = run(sdp002.RULE, talking(answer=sdp(CALLEE_MEDIA, "8", port=0)).build())
    assert outcome.status is Status.FAIL
    assert outcome.frames == (1, 2)
    assert run(sdp002.RULE, talking().build()).status is Status.PASS


def test_sdp003_fails_on_488_and_on_disjoint_codecs():
    assert run(sdp003.RULE, rejected(488).build()).status is Status.FAIL
    disjoint = talking(offer=sdp(CALLER_MEDIA, "18"), answer=sdp(CALLEE_MEDIA, "0")).build()
    outcome = run(sdp003.RULE, disjoint)
    assert outcome.status is Status.FAIL
    assert {e.label: e.value for e in outcome.evidence}["offered"] == "18:G729"


def test_sdp003_names_the_common_codec_and_ignores_telephone_event():
    outcome = run(sdp003.RULE, talking().build())
    assert outcome.status is Status.PASS and "PCMA" in outcome.summary
    only_dtmf = talking(offer=sdp(CALLER_MEDIA, "18 101"), answer=sdp(CALLEE_MEDIA, "0 101")).build()
    assert run(sdp003.RULE, only_dtmf).status is Status.FAIL


def test_sdp004_fails_when_a_private_address_is_reached_from_a_public_one():
    private = Endpoint("10.0.0.5", 16000)
    call = (talking(offer=sdp(private, "8 101"))
            .streams(stream(Endpoint("198.51.100.1", 40000), CALLEE_MEDIA)).build())
    outcome = run(sdp004.RULE, call)
    assert outcome.status is Status.FAIL
    assert "private address 10.0.0.5" in outcome.summary and "198.51.100.1:40000" in outcome.summary


def test_sdp004_passes_an_all_private_lab_call_with_a_note():
    caller, callee = Endpoint("10.0.0.5", 5060), Endpoint("10.0.0.6", 5060)
    a, b = Endpoint("10.0.0.5", 16000), Endpoint("10.0.0.6", 18000)
    call = (CallBuilder(caller=caller, callee=callee).at(0).invite(sdp=sdp(a)).at(0.5)
            .response(200, sdp=sdp(b, "8")).ack().streams(stream(a, b)).build())
    outcome = run(sdp004.RULE, call)
    assert outcome.status is Status.PASS and "private networks" in outcome.summary


def test_sdp005_reports_the_codec_and_dtmf():
    outcome = run(sdp005.RULE, talking().build())
    assert outcome.status is Status.INFO
    assert outcome.summary == "PCMA/8000, DTMF on payload type 101"
    assert run(sdp005.RULE, answered().build()).status is Status.NA
