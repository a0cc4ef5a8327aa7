"""RTP001-RTP008: the media itself."""

import pytest

from sipdiag_post.rules import rtp001_no_rtp as rtp001
from sipdiag_post.rules import rtp002_one_way_rtp as rtp002
from sipdiag_post.rules import rtp003_packet_loss as rtp003
from sipdiag_post.rules import rtp004_jitter as rtp004
from sipdiag_post.rules import rtp005_latency as rtp005
from sipdiag_post.rules import rtp006_payload_type_mismatch as rtp006
from sipdiag_post.rules import rtp007_media_timeout as rtp007
from sipdiag_post.rules import rtp008_rtp_source_mismatch as rtp008
from sipdiag_post.rules.base import Settings
from sipdiag_post.verdict import Status
from tests.builders import (
    CALLEE_MEDIA,
    CALLER_MEDIA,
    Endpoint,
    PayloadCount,
    hang_up,
    rejected,
    rtcp,
    run,
    sdp,
    stream,
    talking,
)

TO_CALLEE = stream(CALLER_MEDIA, CALLEE_MEDIA, ssrc=0xAAAA0001)
TO_CALLER = stream(CALLEE_MEDIA, CALLER_MEDIA, ssrc=0xBBBB0002)


def two_way(*streams):
    return hang_up(talking().streams(*(streams or (TO_CALLEE, TO_CALLER)))).build()


def test_rtp001_fails_when_an_answered_call_has_no_rtp():
    outcome = run(rtp001.RULE, hang_up(talking()).build())
    assert outcome.status is Status.FAIL
    assert "9.5 s" in outcome.summary
    assert outcome.display_filter == ('(sip.Call-ID === "test-call@sipdiag.test" || (sip.Call-ID == '
                                      '"test-call@sipdiag.test" && count(sip) > 1))'
                                      " || udp.port == 16000 || udp.port == 18000")


def test_rtp001_passes_with_rtp_warns_on_a_short_capture_and_skips_unanswered_calls():
    assert run(rtp001.RULE, two_way()).status is Status.PASS
    assert run(rtp001.RULE, talking().build(), capture_end=0.8).status is Status.WARN
    assert run(rtp001.RULE, rejected(486).build()).status is Status.NA


def test_rtp002_fails_on_one_way_audio_and_names_the_silent_party():
    outcome = run(rtp002.RULE, two_way(TO_CALLER))
    assert outcome.status is Status.FAIL
    assert "only from the callee; nothing from the caller" in outcome.summary


def test_rtp002_passes_two_way_audio_and_one_way_audio_the_sdp_asks_for():
    assert run(rtp002.RULE, two_way()).status is Status.PASS
    listen_only = hang_up(talking(offer=sdp(CALLER_MEDIA, "8", direction="recvonly"),
                                  answer=sdp(CALLEE_MEDIA, "8", direction="sendonly")).streams(TO_CALLER)).build()
    assert run(rtp002.RULE, listen_only).status is Status.PASS


@pytest.mark.parametrize(("lost", "status"), [(0, Status.PASS), (10, Status.WARN), (25, Status.FAIL)])
def test_rtp003_grades_loss_against_the_thresholds(lost, status):
    lossy = stream(CALLEE_MEDIA, CALLER_MEDIA, expected=500, packets=500 - lost, lost=lost)
    assert run(rtp003.RULE, two_way(TO_CALLEE, lossy)).status is status


def test_rtp003_takes_loss_the_receiver_reported_over_the_whole_stream():
    # 30 of 300 packets lost between the first and last report: 10 %, behind the capture point
    reported = stream(CALLER_MEDIA, CALLEE_MEDIA, rtcp=rtcp(reports=2, fraction_lost_max=26, first_cumulative_lost=0,
                                                             cumulative_lost=30, first_ext_seq=100, last_ext_seq=400))
    outcome = run(rtp003.RULE, two_way(reported, TO_CALLER))
    assert outcome.status is Status.FAIL and "10.0%" in outcome.summary


def test_rtp003_does_not_grade_one_bad_rtcp_interval():
    # one interval reported 3.1 % (8/256), the whole stream lost 1 of 661
    peak = stream(CALLER_MEDIA, CALLEE_MEDIA, rtcp=rtcp(reports=3, fraction_lost_max=8, fraction_lost_max_frame=420,
                                                         first_cumulative_lost=0, cumulative_lost=1,
                                                         first_ext_seq=1000, last_ext_seq=1661))
    outcome = run(rtp003.RULE, two_way(peak, TO_CALLER))
    assert outcome.status is Status.PASS
    assert any("worst RTCP interval 3.1% (frame 420)" in e.value for e in outcome.evidence)


def test_audio_rules_leave_video_streams_alone():
    video = stream(CALLER_MEDIA, CALLEE_MEDIA, ssrc=0x22222222, pt=96, media_type="video", lost=40,
                   jitter_mean_ms=40.0)
    outcome = run(rtp003.RULE, two_way(TO_CALLER, video))
    assert outcome.status is Status.PASS and all("0x22222222" not in e.label for e in outcome.evidence)
    assert run(rtp004.RULE, two_way(TO_CALLER, video)).status is Status.PASS


def test_rtp004_grades_mean_jitter_and_honours_overrides():
    jittery = stream(CALLEE_MEDIA, CALLER_MEDIA, jitter_mean_ms=12.0, jitter_max_ms=30.0)
    assert run(rtp004.RULE, two_way(TO_CALLEE, jittery)).status is Status.WARN
    strict = Settings(thresholds={"jitter_warn_ms": 2.0, "jitter_fail_ms": 10.0})
    outcome = run(rtp004.RULE, two_way(TO_CALLEE, jittery), settings=strict)
    assert outcome.status is Status.FAIL and "12.0 ms" in outcome.summary
    assert run(rtp004.RULE, two_way()).status is Status.PASS


def test_rtp004_skips_streams_without_a_clock():
    dtmf_only = stream(payloads=(PayloadCount(pt=101, packets=10, clock_rate=0),))
    assert run(rtp004.RULE, two_way(dtmf_only)).status is Status.NA


def test_rtp005_halves_the_rtcp_round_trip():
    slow = stream(CALLER_MEDIA, CALLEE_MEDIA, rtcp=rtcp(rtt_count=2, rtt_mean_ms=700.0, rtt_min_ms=690.0,
                                                        rtt_max_ms=710.0, rtt_max_frame=300))
    outcome = run(rtp005.RULE, two_way(slow, TO_CALLER))
    assert outcome.status is Status.FAIL and "about 350 ms" in outcome.summary
    assert outcome.frames == (300,)
    assert run(rtp005.RULE, two_way()).status is Status.NA


def test_rtp006_fails_on_a_payload_type_the_answer_did_not_agree_on():
    pcma = stream(CALLEE_MEDIA, CALLER_MEDIA, pt=8)
    call = hang_up(talking(answer=sdp(CALLEE_MEDIA, "0 101")).streams(pcma)).build()
    outcome = run(rtp006.RULE, call)
    assert outcome.status is Status.FAIL
    assert "payload type 8" in outcome.summary and "0 PCMU" in outcome.summary
    assert outcome.display_filter is not None and outcome.display_filter.endswith("rtp.p_type == 8")


def test_rtp006_accepts_telephone_event_only_when_listed():
    with_dtmf = stream(payloads=(PayloadCount(8, 300, 8000), PayloadCount(101, 12, 0)))
    assert run(rtp006.RULE, two_way(with_dtmf)).status is Status.PASS
    without = hang_up(talking(answer=sdp(CALLEE_MEDIA, "8")).streams(with_dtmf)).build()
    assert run(rtp006.RULE, without).status is Status.FAIL


def test_rtp007_fails_on_a_long_silence_while_the_call_is_up():
    gappy = stream(CALLEE_MEDIA, CALLER_MEDIA, start=1.0, end=29.0, gap_max_s=20.0, gap_start_time=5.0,
                   gap_end_frame=900)
    call = hang_up(talking().streams(stream(CALLER_MEDIA, CALLEE_MEDIA, start=1.0, end=29.9), gappy), at=30.0).build()
    outcome = run(rtp007.RULE, call)
    assert outcome.status is Status.FAIL
    assert "callee sent no RTP for 20.0 s" in outcome.summary and 900 in outcome.frames


def test_rtp007_excuses_silence_while_on_hold():
    short = stream(CALLEE_MEDIA, CALLER_MEDIA, start=1.0, end=3.0)
    held = (talking().streams(stream(CALLER_MEDIA, CALLEE_MEDIA, start=1.0, end=29.0), short)
            .at(3.0).invite(initial=False, sdp=sdp(CALLER_MEDIA, "8", direction="sendonly"))
            .response(200, sdp=sdp(CALLEE_MEDIA, "8", direction="recvonly")).ack())
    assert run(rtp007.RULE, hang_up(held, at=30.0).build()).status is Status.PASS


def test_rtp007_fails_when_no_rtp_comes_within_30_s():
    assert run(rtp007.RULE, hang_up(talking(), at=45.0).build()).status is Status.FAIL
    assert run(rtp007.RULE, hang_up(talking(), at=10.0).build()).status is Status.NA


def test_no_media_in_a_signalling_only_capture_is_never_a_failure():
    call = hang_up(talking(), at=45.0).build()
    outcome = run(rtp001.RULE, call, media_captured=False)
    assert outcome.status is Status.WARN and "CAP004" in outcome.summary
    assert run(rtp007.RULE, call, media_captured=False).status is Status.NA


def test_rtp008_fails_when_rtp_comes_from_another_address_than_advertised():
    natted = stream(Endpoint("192.0.2.99", 40000), CALLER_MEDIA)
    outcome = run(rtp008.RULE, two_way(TO_CALLEE, natted))
    assert outcome.status is Status.FAIL
    assert "from the callee comes from 192.0.2.99:40000" in outcome.summary
    assert run(rtp008.RULE, two_way()).status is Status.PASS
