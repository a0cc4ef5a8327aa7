"""`sipdiag streams` on the media fixtures: real tshark, the real tap, real captures.

The view's packets, lost and max jitter are tshark's own `-z rtp,streams`
figures; healthy G.711 calls score MOS 4.2 or more; the same 2 % loss scores
lower in bursts than spread out; the DTMF fixtures show their digits in order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import scenarios as sc

from sipdiag_post.tshark import TsharkError, find_tshark
from tests.test_rtp_agreement import tshark_streams

ROOT = Path(__file__).resolve().parent.parent
MEDIA = [s for s in sc.SCENARIOS if s.name.startswith(("media-", "dtmf-", "healthy-call", "rtcp-", "rtp-"))]
G711 = frozenset({"PCMA", "PCMU"})


@pytest.fixture(scope="module")
def tshark_path() -> str:
    try:
        return find_tshark().path
    except TsharkError as exc:
        pytest.skip(str(exc))


@cache
def view(name: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", "streams", "--format", "json",
                           str(ROOT / "fixtures" / name / "capture.pcap")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def streams_of(name: str) -> list[dict]:
    report = view(name)
    return [s for call in report["calls"] for s in call["streams"]] + report["unlinked_streams"]


def test_the_view_covers_the_media_fixtures():
    assert {"media-loss-random-2pct", "media-loss-bursty-2pct", "dtmf-rfc4733", "healthy-call"} <= {
        s.name for s in MEDIA}


@pytest.mark.parametrize("scenario", MEDIA, ids=[s.name for s in MEDIA])
def test_packets_lost_and_max_jitter_match_tshark(scenario, tshark_path):
    ours = {(s["src"], s["dst"], s["ssrc"]): (str(s["packets"]), str(s["lost"]), f"{s['max_jitter_ms']:.3f}")
            for s in streams_of(scenario.name)}
    decode = tuple(a for rule in scenario.decode_as for a in ("-d", rule))
    theirs = {(f"{k[0]}:{k[1]}", f"{k[2]}:{k[3]}", f"0x{k[4]:08X}"): (v["packets"], v["lost"], v["max_jitter"])
              for k, v in tshark_streams(tshark_path, ROOT / "fixtures" / scenario.name / "capture.pcap",
                                         decode).items()}
    if not theirs:
        pytest.skip("tshark decodes no RTP stream here")
    assert {k: v for k, v in ours.items() if k in theirs} == theirs


@pytest.mark.parametrize("scenario", [s for s in MEDIA if s.verdict == "pass"],
                         ids=[s.name for s in MEDIA if s.verdict == "pass"])
def test_healthy_g711_streams_score_at_least_4_2(scenario):
    rated = [s for s in streams_of(scenario.name) if s["codec"] in G711 and s["quality"]["mos"] is not None]
    if not rated:
        pytest.skip("no G.711 stream rated")
    assert min(s["quality"]["mos"] for s in rated) >= 4.2


def test_bursty_loss_scores_lower_than_the_same_loss_spread_out():
    def worst(name: str) -> float:
        return min(s["quality"]["mos"] for s in streams_of(name) if s["quality"]["mos"] is not None)

    random_loss, bursty = worst("media-loss-random-2pct"), worst("media-loss-bursty-2pct")
    assert bursty < random_loss
    assert all(s["quality"]["burst_r"] > 3 for s in streams_of("media-loss-bursty-2pct"))
    assert all(s["quality"]["burst_r"] == 1.0 for s in streams_of("media-loss-random-2pct"))


@pytest.mark.parametrize(("name", "digits", "method"), [
    ("dtmf-rfc4733", "123#", "RFC 4733"),
    ("media-dtmf", "51", "RFC 4733"),
    ("dtmf-not-negotiated", "42", "RFC 4733"),
    ("dtmf-sip-info", "519", "SIP INFO"),
])
def test_dtmf_fixtures_show_their_digits_in_order(name, digits, method):
    found = [d for call in view(name)["calls"] for d in call["dtmf"]]
    assert "".join(d["key"] for d in found) == digits
    assert {d["method"] for d in found} == {method}


def test_rfc4733_end_packets_sent_three_times_count_once_with_the_event_duration():
    found = [d for call in view("dtmf-rfc4733")["calls"] for d in call["dtmf"]]
    assert [d["duration_ms"] for d in found] == [100, 100, 100, 100]


def test_the_table_names_the_mos_and_what_lowers_it():
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", "streams", "--call", "1",
                           str(ROOT / "fixtures" / "media-poor-quality" / "capture.pcap")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "MOS fixed 60 ms" in done.stdout and "Ie,eff" in done.stdout and "G.729" in done.stdout
