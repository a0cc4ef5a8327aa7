"""CAP001-CAP003: capture-level checks."""

from sipdiag_post.model import OtherSip, Summary, TapError, TlsSighting
from sipdiag_post.rules import cap001_no_invite_recorded as cap001
from sipdiag_post.rules import cap002_signalling_encrypted as cap002
from sipdiag_post.rules import cap003_capture_truncated as cap003
from sipdiag_post.verdict import Status
from tests.builders import CallBuilder, answered, facts, run_capture


def test_cap001_passes_when_an_invite_exists():
    outcome = run_capture(cap001.RULE, Summary(facts(), (answered().build(),)))
    assert outcome.status is Status.PASS
    assert outcome.frames == (1,)


def test_cap001_fails_without_any_sip_and_says_so():
    outcome = run_capture(cap001.RULE, Summary(facts(sip_messages=0, calls=0), ()))
    assert outcome.status is Status.FAIL
    assert "no SIP found in 100 packets" in outcome.summary
    assert "--decode-as" in (outcome.remedy or "")


def test_cap001_fails_when_sip_has_no_invite():
    only_bye = CallBuilder().request("BYE").response(200, method="BYE").build()
    outcome = run_capture(cap001.RULE, Summary(facts(other_sip=(OtherSip("OPTIONS", 4, 9),)), (only_bye,)))
    assert outcome.status is Status.FAIL
    assert any("OPTIONS x4 (first at frame 9)" in e.value for e in outcome.evidence)
    assert outcome.frames == (1, 9)


def test_cap002_fails_on_undecoded_tls_on_5061():
    summary = Summary(facts(tls_undecoded=(TlsSighting(5061, 12, 4),)), ())
    outcome = run_capture(cap002.RULE, summary)
    assert outcome.status is Status.FAIL
    assert outcome.frames == (4,)
    assert "--tls-keylog" in (outcome.remedy or "")


def test_cap002_warns_on_tls_elsewhere_only_when_no_sip_was_read():
    tls = (TlsSighting(443, 30, 2),)
    assert run_capture(cap002.RULE, Summary(facts(sip_messages=0, tls_undecoded=tls), ())).status is Status.WARN
    assert run_capture(cap002.RULE, Summary(facts(sip_messages=8, tls_undecoded=tls), ())).status is Status.PASS


def test_cap003_fails_on_a_read_error_and_counts_packets():
    outcome = run_capture(cap003.RULE, Summary(facts(read_error="cut short in the middle of a packet"), ()))
    assert outcome.status is Status.FAIL
    assert "first 100 packets" in outcome.summary


def test_cap003_fails_on_snapped_sip_frames():
    outcome = run_capture(cap003.RULE, Summary(facts(snapped_sip_frames=3), ()))
    assert outcome.status is Status.FAIL
    assert outcome.display_filter == "sip && frame.cap_len < frame.len"


def test_cap003_warns_on_tap_errors_with_their_frames():
    errors = (TapError(7, "bad thing"),)
    outcome = run_capture(cap003.RULE, Summary(facts(tap_errors=1, tap_error_samples=errors), ()))
    assert outcome.status is Status.WARN
    assert outcome.frames == (7,)


def test_cap003_passes_a_whole_capture():
    assert run_capture(cap003.RULE, Summary(facts(), ())).status is Status.PASS
