"""RTP009 (E-model audio quality) and RTP010 (DTMF), and the analysis behind them."""

from dataclasses import replace

import pytest

from sipdiag_post.analysis import analyse_call
from sipdiag_post.analysis.dtmf import RFC4733, SIP_INFO, info_digit
from sipdiag_post.emodel import Rating
from sipdiag_post.model import TelephoneEvent
from sipdiag_post.rules import rtp009_poor_audio_quality as rtp009
from sipdiag_post.rules import rtp010_dtmf as rtp010
from sipdiag_post.rules.base import Settings
from sipdiag_post.verdict import Status
from tests.builders import CALLEE_MEDIA, CALLER_MEDIA, PayloadCount, hang_up, rtcp, run, sdp, stream, talking

LONG = {"start": 1.0, "end": 21.0}  # 1000 packets


def call_with(*streams, offer=None, answer=None, extra=None):
    builder = talking(offer=offer, answer=answer).streams(*streams)
    if extra is not None:
        builder = extra(builder)
    return hang_up(builder, at=22.0).build()


def quality_of(call):
    return analyse_call(call).quality


def test_rtp009_passes_a_clean_g711_call_at_the_g107_default():
    outcome = run(rtp009.RULE, call_with(stream(**LONG), stream(CALLEE_MEDIA, CALLER_MEDIA, ssrc=2, **LONG)))
    assert outcome.status is Status.PASS
    assert "MOS 4.3" in outcome.evidence[0].value and "G.711 with PLC" in outcome.evidence[0].value


def test_rtp009_grades_bursty_loss_below_the_same_loss_spread_out():
    random_loss = stream(lost=20, packets=980, loss_runs=((1, 20),), **LONG)
    bursty_loss = stream(lost=20, packets=980, loss_runs=((5, 4),), **LONG)
    random_mos = quality_of(call_with(random_loss))[0].mos
    bursty_mos = quality_of(call_with(bursty_loss))[0].mos
    assert random_mos is not None and bursty_mos is not None
    assert bursty_mos < random_mos < 4.3


def test_rtp009_fails_when_codec_loss_and_delay_add_up_and_names_each_term():
    offer, answer = sdp(CALLER_MEDIA, "18 101"), sdp(CALLEE_MEDIA, "18 101")
    trip = rtcp(rtt_count=2, rtt_mean_ms=500.0, rtt_min_ms=500.0, rtt_max_ms=500.0)
    poor = stream(pt=18, lost=25, packets=975, loss_runs=((5, 5),), rtcp=trip,
                  payloads=(PayloadCount(pt=18, packets=975, clock_rate=8000),), **LONG)
    outcome = run(rtp009.RULE, call_with(poor, offer=offer, answer=answer))
    assert outcome.status is Status.FAIL
    assert "Ie,eff" in outcome.summary and "Id" in outcome.summary and "G.729" in outcome.summary
    assert "network 250 ms" in outcome.evidence[0].value


def test_rtp009_thresholds_are_overridable_and_lower_is_worse():
    lossy = stream(lost=40, packets=960, loss_runs=((1, 40),), **LONG)
    call = call_with(lossy)
    mos = quality_of(call)[0].mos
    assert mos is not None
    assert run(rtp009.RULE, call).status is Status.PASS
    strict = Settings(thresholds={"mos_warn": mos + 0.1, "mos_fail": mos - 0.1})
    assert run(rtp009.RULE, call, settings=strict).status is Status.WARN
    stricter = Settings(thresholds={"mos_warn": mos + 0.2, "mos_fail": mos + 0.1})
    assert run(rtp009.RULE, call, settings=stricter).status is Status.FAIL


def test_rtp009_says_why_a_wideband_or_unnamed_codec_is_not_rated():
    wide = stream(pt=9, payloads=(PayloadCount(pt=9, packets=1000, clock_rate=8000),), **LONG)
    outcome = run(rtp009.RULE, call_with(wide, offer=sdp(CALLER_MEDIA, "9"), answer=sdp(CALLEE_MEDIA, "9")))
    assert outcome.status is Status.NA and "wideband" in outcome.summary
    unnamed = stream(pt=97, payloads=(PayloadCount(pt=97, packets=1000, clock_rate=8000),), **LONG)
    outcome = run(rtp009.RULE, call_with(unnamed, offer=sdp(CALLER_MEDIA, "97"), answer=sdp(CALLEE_MEDIA, "97")))
    assert outcome.status is Status.NA and "does not name payload type 97" in outcome.summary


def test_rtp009_is_na_for_short_streams_and_calls_without_audio_after_the_answer():
    short = stream(start=1.0, end=1.5)
    assert run(rtp009.RULE, call_with(short)).status is Status.NA
    assert run(rtp009.RULE, talking().build()).status is Status.NA


def test_rtp009_uses_the_receivers_rtcp_loss_when_it_saw_more_than_the_capture():
    reported = rtcp(reports=3, cumulative_lost=100, first_cumulative_lost=0, first_ext_seq=1000, last_ext_seq=2000)
    q = quality_of(call_with(stream(rtcp=reported, **LONG)))[0]
    assert q.loss_from == "RTCP"
    assert isinstance(q.adaptive, Rating) and q.adaptive.ppl == pytest.approx(10.0, abs=0.2)


def test_the_adaptive_buffer_settles_at_the_depth_with_the_best_score():
    late = ((20, 222), (40, 148), (60, 74), (80, 0), (100, 0))
    jittery = stream(late=late, jitter_mean_ms=28.0, jitter_max_ms=31.0, start=1.0, end=7.0)
    q = quality_of(call_with(jittery))[0]
    assert isinstance(q.adaptive, Rating) and isinstance(q.fixed, Rating)
    assert q.adaptive.buffer_ms == 80 and q.adaptive.late == 0 and q.adaptive.buffer_model == "adaptive"
    assert q.fixed.late == 74 and q.fixed.mos < q.adaptive.mos
    assert quality_of(call_with(stream(start=1.0, end=7.0)))[0].adaptive.buffer_ms == 20
    # a few very late packets are dropped rather than waited for: 500 ms of delay costs more
    spiky = stream(late=((20, 3), (40, 3), (60, 3), (80, 3), (100, 3), (150, 3), (200, 3), (300, 3), (500, 0)), **LONG)
    assert quality_of(call_with(spiky))[0].adaptive.buffer_ms == 20


def test_packetisation_comes_from_ptime_else_the_packet_rate():
    by_rate = quality_of(call_with(stream(pps=(33, 33, 33, 34, 33), **LONG)))[0]
    assert (by_rate.ptime_ms, by_rate.ptime_from) == (30.0, "33 packets/s")
    assert quality_of(call_with(stream(**LONG)))[0].ptime_from == ""


# --- RTP010 -------------------------------------------------------------------------------


def event(key: str, code: int, at: float, frame: int, pt: int = 101) -> TelephoneEvent:
    return TelephoneEvent(code=code, key=key, pt=pt, start_time=at, duration_ms=100, frame=frame, ended=True,
                          end_frame=frame + 5)


def with_events(*events, pt: int = 101):
    payloads = (PayloadCount(pt=8, packets=280, clock_rate=8000), PayloadCount(pt=pt, packets=20, clock_rate=0))
    return stream(events=events, payloads=payloads)


def test_rtp010_lists_rfc4733_and_info_digits_in_time_order():
    def infos(b):
        return (b.at(5.0).request("INFO", content_type="application/dtmf-relay", body="Signal=9\r\nDuration=250")
                .response(200, method="INFO"))
    call = call_with(with_events(event("1", 1, 2.0, 200), event("#", 11, 3.0, 300)), extra=infos)
    outcome = run(rtp010.RULE, call)
    assert outcome.status is Status.INFO
    assert outcome.summary == f"digits 1#9 ({RFC4733} and {SIP_INFO})"
    assert "250 ms" in outcome.evidence[2].value


def test_rtp010_warns_when_events_use_a_payload_type_the_answer_lacks():
    answer = sdp(CALLEE_MEDIA, "8")
    outcome = run(rtp010.RULE, call_with(with_events(event("4", 4, 2.0, 200)), answer=answer))
    assert outcome.status is Status.WARN
    assert "the answer lists no telephone-event" in outcome.summary
    base = sdp(CALLEE_MEDIA, "8 100")
    other = replace(base, media=(replace(base.media[0], rtpmap=("8 PCMA/8000", "100 telephone-event/8000")),))
    outcome = run(rtp010.RULE, call_with(with_events(event("4", 4, 2.0, 200)), answer=other))
    assert outcome.status is Status.WARN and "payload type 100 only" in outcome.summary


def test_rtp010_is_na_without_dtmf():
    assert run(rtp010.RULE, call_with(stream())).status is Status.NA


@pytest.mark.parametrize(("ctype", "body", "want"), [
    ("application/dtmf-relay", "Signal=5\r\nDuration=160", ("5", 160)),
    ("application/dtmf-relay", "signal= *\nduration=100", ("*", 100)),
    ("Application/DTMF-Relay; charset=x", "Signal=11", ("#", None)),
    ("application/dtmf-relay", "Signal=16", ("flash", None)),
    ("application/dtmf", "9", ("9", None)),
    ("application/dtmf", "d", ("D", None)),
    ("application/dtmf-relay", "Signal=<script>", None),
    ("application/dtmf-relay", "", None),
    ("text/plain", "Signal=5", None),
])
def test_info_bodies_are_read_as_digits_or_not_at_all(ctype, body, want):
    message = talking().request("INFO", content_type=ctype, body=body).build().messages[-1]
    assert info_digit(message) == want
