"""The G.107 E-model: published reference points, the loss and delay terms, one stream's rating."""

import math
from itertools import pairwise

import pytest

from sipdiag_post import emodel
from sipdiag_post.emodel import (
    AdaptiveBuffer,
    FixedBuffer,
    G107Inputs,
    NotRated,
    Rating,
    codec_values,
    delay_impairment,
    effective_ie,
    late_packets,
    loss_pattern,
    mos_from_r,
    rate,
    rate_stream,
)


def rated(*args, **kwargs) -> Rating:
    result = rate_stream(*args, **kwargs)
    assert isinstance(result, Rating), result.explain()
    return result


# --- G.107 reference points ---------------------------------------------------


def test_g107_defaults_give_r_93_2_and_mos_4_41():
    """G.107 clause 7.7: all parameters at their defaults give R = 93.2."""
    terms = rate(G107Inputs())
    assert terms.r == pytest.approx(93.2, abs=0.1)
    assert mos_from_r(terms.r) == pytest.approx(4.41, abs=0.01)
    # and the terms that make it: Ro 94.77, Is 1.41, Id 0.15 (listener echo at Tr 0)
    assert terms.ro == pytest.approx(94.77, abs=0.01)
    assert terms.is_ == pytest.approx(1.41, abs=0.01)
    assert terms.idte == 0 and terms.idd == 0
    assert terms.idle == pytest.approx(0.15, abs=0.01)


def test_g729a_without_loss_is_r_82_2():
    """G.113 Ie 11 for G.729A+VAD: 93.2 - 11 = 82.2, MOS 4.1."""
    r = rate(G107Inputs(ie=11)).r
    assert r == pytest.approx(82.2, abs=0.1)
    assert mos_from_r(r) == pytest.approx(4.10, abs=0.01)


@pytest.mark.parametrize(("ppl", "ie_eff", "mos"), [
    (1.0, 95 * 1 / (1 + 4.3), 3.83),  # 17.92 -> R 75.28
    (2.0, 95 * 2 / (2 + 4.3), 3.26),  # 30.16 -> R 63.04
])
def test_g711_without_plc_under_random_loss(ppl, ie_eff, mos):
    terms = rate(G107Inputs(ppl=ppl))  # Table 3 default Bpl 4.3 is G.711 without PLC
    assert terms.ie_eff == pytest.approx(ie_eff, abs=0.01)
    assert terms.r == pytest.approx(93.2 - ie_eff, abs=0.1)
    assert mos_from_r(terms.r) == pytest.approx(mos, abs=0.01)


@pytest.mark.parametrize(("r", "mos"), [(100, 4.5), (90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10), (50, 2.58)])
def test_r_to_mos_matches_g107_table_b1(r, mos):
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)


def test_mos_is_bounded_to_1_and_4_5():
    assert mos_from_r(-20) == 1.0
    assert mos_from_r(3) == 1.0  # the cubic dips to 0.99 here
    assert mos_from_r(130) == 4.5


def _idd_by_hand(ta):
    x = math.log2(ta / 100)
    return 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)


@pytest.mark.parametrize(("ta", "published"), [(200, 3.04), (300, 14.76), (400, 24.07)])
def test_idd_against_the_formula_and_the_g107_curve(ta, published):
    assert delay_impairment(ta) == pytest.approx(_idd_by_hand(ta), abs=1e-9)
    assert delay_impairment(ta) == pytest.approx(published, abs=0.05)


def test_idd_is_zero_up_to_100_ms():
    assert delay_impairment(0) == 0 and delay_impairment(100) == 0
    assert delay_impairment(101) > 0


def test_a_less_delay_sensitive_class_is_penalised_later():
    """G.107 (06/2015) Table 1: mT and sT move the Idd curve."""
    assert delay_impairment(300, mt=150, st=0.55) < delay_impairment(300)


# G.113 (02/2001) Appendix I tabulated Ie at given random loss before Bpl
# existed; the Bpl values (G.113 11/2007 on) reproduce those points.
@pytest.mark.parametrize(("ie", "bpl", "points"), [
    (11, 19.0, [(0.5, 13), (1, 15), (2, 19), (4, 26), (8, 36), (16, 49)]),  # G.729A + VAD
    (15, 16.1, [(0.5, 17), (1, 19), (2, 24), (4, 32), (8, 41), (16, 55)]),  # G.723.1 + VAD 6.3 kbit/s
    (0, 25.1, [(2, 7), (3, 10), (5, 15), (7, 20), (15, 35)]),  # G.711 with Appendix I PLC
])
def test_bpl_reproduces_the_tabulated_ie_under_loss(ie, bpl, points):
    for ppl, tabulated in points:
        assert effective_ie(ie, bpl, ppl) == pytest.approx(tabulated, abs=1.5), ppl


# --- loss and burstiness ------------------------------------------------------


def test_burst_ratio_from_the_markov_model():
    pattern = loss_pattern(1000, 20, {4: 5})  # five runs of four
    assert pattern.q == pytest.approx(5 / 20)
    assert pattern.p == pytest.approx(5 / 980)  # run starts / packets received
    assert pattern.burst_r == pytest.approx(1 / (5 / 980 + 5 / 20))
    assert pattern.burst_r == pytest.approx(4 * 0.98)  # mean run / mean run of random loss
    assert pattern.ppl == pytest.approx(2.0)


def test_no_loss_is_burst_ratio_1():
    pattern = loss_pattern(500, 0, {3: 2})
    assert (pattern.burst_r, pattern.p, pattern.q, pattern.ppl, pattern.runs) == (1.0, 0.0, None, 0.0, 0)


def test_loss_without_runs_is_taken_as_random():
    pattern = loss_pattern(100, 5)
    assert pattern.burst_r == 1.0 and pattern.p == pytest.approx(0.05) and pattern.q == pytest.approx(0.95)


def test_isolated_losses_are_held_at_burst_ratio_1():
    pattern = loss_pattern(1000, 20, {1: 20})
    assert pattern.burst_r_raw == pytest.approx(0.98)
    assert pattern.burst_r == 1.0


def test_every_packet_lost():
    pattern = loss_pattern(50, 50, {50: 1})
    assert pattern.ppl == 100 and pattern.p == 1.0 and pattern.q == 0.0 and pattern.burst_r == 1.0


@pytest.mark.parametrize(("expected", "unplayed"), [(0, 0), (10, -1), (10, 11)])
def test_impossible_counts_are_refused(expected, unplayed):
    with pytest.raises(ValueError):
        loss_pattern(expected, unplayed)


def test_bursty_loss_scores_below_random_loss_at_the_same_rate():
    random = rated("PCMU", 1000, 30, {1: 30})
    bursty = rated("PCMU", 1000, 30, {6: 5})
    assert random.ppl == bursty.ppl == pytest.approx(3.0)
    assert bursty.burst_r > 1 == random.burst_r
    assert bursty.ie_eff > random.ie_eff
    assert bursty.mos < random.mos


@pytest.mark.parametrize("codec", ["PCMU", "PCMA", "G729", "G723", "GSM-EFR"])
def test_more_loss_lowers_the_score(codec):
    scores = [rated(codec, 1000, lost).mos for lost in (0, 5, 10, 20, 50, 100, 200, 400)]
    assert all(a > b for a, b in pairwise(scores)), scores


@pytest.mark.parametrize("codec", ["PCMU", "G729"])
def test_more_delay_lowers_the_score(codec):
    scores = [rated(codec, 1000, 10, network_delay_ms=d).mos for d in (0, 50, 100, 150, 200, 300, 500)]
    assert all(a > b for a, b in pairwise(scores)), scores


def test_g711_without_plc_suffers_more_from_the_same_loss():
    assert rated("PCMA", 1000, 20, plc=False).mos < rated("PCMA", 1000, 20, plc=True).mos


# --- codecs -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "row"), [
    ("PCMU", "G.711 with PLC"), ("pcma/8000", "G.711 with PLC"), ("G.711", "G.711 with PLC"),
    ("G729", "G.729A+VAD"), ("G729AB", "G.729A+VAD"), ("G723", "G.723.1+VAD 6.3 kbit/s"),
    ("GSM", "GSM 06.10 full rate"), ("GSM-EFR", "GSM-EFR"), ("G726-32", "G.726 32 kbit/s"),
])
def test_rtp_encoding_names_find_their_g113_row(name, row):
    values = codec_values(name)
    assert not isinstance(values, NotRated) and values.name == row and "G.113" in values.source


def test_g113_values_as_cited():
    assert (emodel.G711_PLC.ie, emodel.G711_PLC.bpl) == (0, 25.1)
    assert (emodel.G711_NO_PLC.ie, emodel.G711_NO_PLC.bpl) == (0, 4.3)
    assert (emodel.G729A_VAD.ie, emodel.G729A_VAD.bpl) == (11, 19.0)
    assert (emodel.G723_VAD.ie, emodel.G723_VAD.bpl) == (15, 16.1)


@pytest.mark.parametrize("codec", ["iLBC", "AMR", "L16", "speex-nb-unknown"])
def test_a_codec_without_g113_values_is_said_not_guessed(codec):
    result = rate_stream(codec, 1000, 0)
    assert isinstance(result, NotRated)
    assert result.explain() == f"no MOS: no G.113 values for codec {codec}"


@pytest.mark.parametrize("codec", ["G722", "AMR-WB", "opus"])
def test_wideband_codecs_are_not_put_on_the_narrowband_scale(codec):
    result = rate_stream(codec, 1000, 0)
    assert isinstance(result, NotRated) and "wideband" in result.reason


def test_telephone_events_are_not_rated():
    result = rate_stream("telephone-event", 100, 0)
    assert isinstance(result, NotRated) and "not a speech codec" in result.reason


def test_an_ie_without_bpl_rates_a_clean_stream_but_not_a_lossy_one():
    assert rated("GSM", 1000, 0).ie == 20
    lossy = rate_stream("GSM", 1000, 10)
    assert isinstance(lossy, NotRated) and "no Bpl" in lossy.reason


# --- delay and the jitter buffer ----------------------------------------------


def test_delay_is_network_plus_packetisation_plus_lookahead_plus_buffer():
    rating = rated("G729", 1000, 0, ptime_ms=20, network_delay_ms=70)
    assert rating.codec_delay_ms == 25  # two 10 ms frames + 5 ms look-ahead
    assert rating.delay_ms == 70 + 25 + 60
    assert rating.delay_measured and rating.network_delay_ms == 70
    assert rating.idd == pytest.approx(delay_impairment(155))
    assert rating.id_ == pytest.approx(rating.idte + rating.idle + rating.idd)


def test_unmeasured_network_delay_is_an_assumption_that_is_said():
    rating = rated("PCMU", 1000, 0)
    assert not rating.delay_measured and rating.network_delay_ms == emodel.ASSUMED_NETWORK_DELAY_MS
    assert "assumed, not measured" in rating.explain()


def test_the_whole_r_is_the_g107_model_on_the_streams_inputs():
    rating = rated("PCMU", 1000, 0, network_delay_ms=100)
    terms = rate(G107Inputs(t=180, tr=360, ta=180, bpl=25.1))
    assert rating.r == pytest.approx(terms.r)
    assert rating.r == pytest.approx(rating.ro - rating.is_ - rating.id_ - rating.ie_eff + rating.a)


def test_late_packets_are_picked_for_the_buffer_in_use():
    counts = {20: 40, 60: 6, 200: 0}
    assert late_packets(counts, 60) == (6, 60)
    assert late_packets(counts, 100) == (6, 60)  # the largest measured depth below: an upper bound
    assert late_packets(counts, 10) == (40, 20)  # nothing below: the smallest above
    assert late_packets(None, 60) == (0, None)


def test_late_packets_count_as_lost():
    on_time = rated("PCMU", 1000, 10, {1: 10})
    with_late = rated("PCMU", 1000, 10, {1: 10}, late_by_buffer_ms={60: 15})
    assert with_late.late == 15 and with_late.ppl == pytest.approx(2.5)
    assert with_late.mos < on_time.mos
    assert "15 late for the buffer" in with_late.explain()


def test_a_bigger_fixed_buffer_trades_late_packets_for_delay():
    late = {50: 40, 200: 0}
    small = rated("PCMU", 1000, 0, buffer=FixedBuffer(50), late_by_buffer_ms=late)
    big = rated("PCMU", 1000, 0, buffer=FixedBuffer(200), late_by_buffer_ms=late)
    assert (small.late, big.late) == (40, 0)
    assert big.delay_ms - small.delay_ms == 150 and big.id_ > small.id_


def test_the_adaptive_buffer_follows_the_jitter_within_its_range():
    buffer = AdaptiveBuffer()
    assert buffer.size(15) == 30
    assert buffer.size(1) == 20 and buffer.size(400) == 500
    assert rated("PCMU", 1000, 0, buffer=buffer, jitter_ms=35).buffer_ms == 70
    with pytest.raises(ValueError):
        buffer.size(None)


def test_negative_loss_from_duplicates_reads_as_none():
    assert rated("PCMU", 100, -2).ppl == 0


def test_nothing_expected_is_not_rated():
    assert isinstance(rate_stream("PCMU", 0, 0), NotRated)


# --- the explanation ----------------------------------------------------------


def test_explain_names_each_costly_term_and_its_cause():
    rating = rated("PCMA", 1000, 21, {3: 5, 2: 3}, network_delay_ms=100, late_by_buffer_ms={60: 4})
    assert rating.explain() == (
        "MOS 3.98 (R 78.8): Ie,eff 9.0 from 2.5 % loss in bursts (BurstR 2.0, Bpl 25.1, G.711 with PLC, Ie 0; "
        "4 late for the buffer), Id 5.5 from 180 ms one-way delay (network 100 ms; 20 ms packetisation; "
        "60 ms fixed jitter buffer)")


def test_explain_says_random_loss_and_no_loss():
    assert "% random loss (BurstR 1.0" in rated("PCMU", 1000, 20, {1: 20}).explain()
    assert "no loss (G.711 with PLC, Ie 0)" in rated("PCMU", 1000, 0).explain()


def test_ratings_are_frozen():
    rating = rated("PCMU", 1000, 0)
    with pytest.raises(AttributeError):
        rating.mos = 5  # type: ignore[misc]


@pytest.mark.parametrize("late", [
    ((20, 1), (40, 0), (60, 0), (80, 0), (100, 0), (150, 0), (200, 0), (300, 0), (500, 0)),
    ((20, 40), (40, 40), (60, 12), (80, 12), (100, 3), (150, 3), (200, 0), (300, 0), (500, 0)),
    ((20, 9), (40, 9), (60, 9), (80, 9), (100, 9), (150, 9), (200, 9), (300, 9), (500, 9)),
    ((20, 300), (40, 120), (60, 60), (80, 30), (100, 15), (150, 5), (200, 2), (300, 1), (500, 0)),
])
@pytest.mark.parametrize("network", [None, 40.0, 180.0])
def test_the_settled_buffer_rated_only_where_the_late_count_changes_is_the_best_of_every_depth(
        late: tuple[tuple[int, int], ...], network: float | None) -> None:
    from sipdiag_post.analysis.quality import _depths_worth_rating

    def best(depths: tuple[int, ...]) -> emodel.Rating:
        ratings = [emodel.rate_stream("PCMU", 1000, 4, {1: 2, 2: 1}, network_delay_ms=network,
                                      buffer=emodel.SettledBuffer(d), late_by_buffer_ms=dict(late)) for d in depths]
        return max(ratings, key=lambda r: r.r if isinstance(r, emodel.Rating) else -1e9)

    chosen = _depths_worth_rating(late)
    assert len(chosen) < len(late) or len(set(c for _, c in late)) == len(late)
    assert best(chosen) == best(tuple(d for d, _ in late))
