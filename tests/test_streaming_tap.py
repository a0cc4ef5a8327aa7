"""The tap writes each call as soon as it is over (schema 1.8): real tshark, the real tap, fixture captures.

With short timers the calls leave the tap mid-capture; what is read back is the same as when
they are written at the end, and what comes for a call after it was written is counted. The
reader takes documents with the capture record first (1.7 and before) or last (1.8) alike.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sipdiag_post import pdml
from sipdiag_post.tshark import TsharkError, find_tshark, tap_script

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="module")
def tshark() -> str:
    try:
        return find_tshark().path
    except TsharkError as exc:
        pytest.skip(str(exc))


def tap(tshark: str, name: str, out: Path, *timers: str) -> bytes:
    command = [tshark, "-q", "-n", "-r", str(FIXTURES / name / "capture.pcap"), "-X", f"lua_script:{tap_script()}",
               "-X", f"lua_script1:out={out}"] + [w for t in timers for w in ("-X", f"lua_script1:{t}")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def call_ids_in_order(document: bytes) -> list[str]:
    return [m.decode() for m in re.findall(rb'<field name="sipdiag.call.id" show="([^"]*)"/>', document)]


def test_the_capture_record_comes_last(tshark, tmp_path):
    document = tap(tshark, "healthy-call", tmp_path / "out.pdml")
    packets = re.findall(rb'<proto name="(sipdiag\.\w+)"', document)
    assert packets[-1] == b"sipdiag.capture" and packets.count(b"sipdiag.capture") == 1
    assert pdml.read_facts(tmp_path / "out.pdml").calls == 1


@pytest.mark.parametrize("name", ["concurrent-calls", "refer-notify-ok", "auth-challenge-ok", "cancel-487"])
def test_calls_written_early_read_back_as_calls_written_at_the_end(tshark, tmp_path, name):
    early = tmp_path / "early.pdml"
    tap(tshark, name, early, "linger=0", "idle=1")
    whole = pdml.read_summary(FIXTURES / name / "expected.pdml")
    streamed = pdml.read_summary(early)
    assert streamed.calls == whole.calls  # in first-frame order, whatever order the file has
    assert replace(streamed.facts, late_sip_messages=0, late_rtp_packets=0) == whole.facts


def test_calls_are_written_in_the_order_they_end(tshark, tmp_path):
    out = tmp_path / "out.pdml"
    document = tap(tshark, "concurrent-calls", out, "linger=0")
    whole = pdml.read_summary(FIXTURES / "concurrent-calls" / "expected.pdml")
    def end(call):
        return max(m.time for m in call.messages)
    by_end = [c.call_id for c in sorted(whole.calls, key=end)]
    assert call_ids_in_order(document) == by_end


def test_traffic_after_a_call_was_written_is_counted_not_lost(tshark, tmp_path):
    # media-no-rtp: answered, then 6.5 s with no SIP and no RTP (only RTCP) before the BYE; with a 2 s idle
    # timer the call is written during that silence, and its BYE and the BYE's 200 are late traffic
    out = tmp_path / "out.pdml"
    tap(tshark, "media-no-rtp", out, "idle=2")
    summary = pdml.read_summary(out)
    assert summary.facts.calls == 1 and len(summary.calls) == 1
    assert summary.facts.late_sip_messages == 2
    assert not any(m.method == "BYE" for m in summary.calls[0].messages)
    # the default timers keep it whole
    whole = pdml.read_summary(FIXTURES / "media-no-rtp" / "expected.pdml")
    assert whole.facts.late_sip_messages == 0 and any(m.method == "BYE" for m in whole.calls[0].messages)


def test_the_reader_takes_the_capture_record_first_or_last(tmp_path):
    last = (FIXTURES / "media-loss" / "expected.pdml").read_bytes()
    capture = re.search(rb"<packet>\n  <proto name=\"sipdiag\.capture\".*?</packet>\n", last, re.S)
    assert capture is not None and last.index(capture[0]) > last.index(b'name="sipdiag.call"')
    first = last.replace(capture[0], b"")
    root_end = first.index(b">", first.index(b"<pdml")) + 2
    first = first[:root_end] + capture[0] + first[root_end:]
    (tmp_path / "first.pdml").write_bytes(first)
    (tmp_path / "last.pdml").write_bytes(last)
    assert pdml.read_summary(tmp_path / "first.pdml") == pdml.read_summary(tmp_path / "last.pdml")
    assert pdml.read_facts(tmp_path / "first.pdml") == pdml.read_facts(tmp_path / "last.pdml")
    for name in ("first.pdml", "last.pdml"):
        pdml.add_capture_field(tmp_path / name, "link_type", "Ethernet <&>")
        assert pdml.read_facts(tmp_path / name).link_type == "Ethernet <&>"
        assert pdml.read_summary(tmp_path / name).calls == pdml.read_summary(FIXTURES / "media-loss" /
                                                                             "expected.pdml").calls


def test_a_document_with_no_capture_record_or_two_is_refused(tmp_path):
    whole = (FIXTURES / "media-loss" / "expected.pdml").read_bytes()
    capture = re.search(rb"<packet>\n  <proto name=\"sipdiag\.capture\".*?</packet>\n", whole, re.S)
    assert capture is not None
    with pytest.raises(pdml.PdmlError, match=r"no sipdiag\.capture record"):
        pdml.parse_summary(whole.replace(capture[0], b""))
    with pytest.raises(pdml.PdmlError, match=r"more than one sipdiag\.capture record"):
        pdml.parse_summary(whole.replace(capture[0], capture[0] * 2))


def one_after_the_other(first: Path, then: Path, gap_s: float, out: Path) -> Path:
    """Two captures merged into one, the second starting gap_s after the first starts (editcap -t, mergecap)."""
    def start(capture: Path) -> float:
        done = subprocess.run(["capinfos", "-a", "-S", "-T", "-r", str(capture)], capture_output=True, text=True,
                              check=True)
        return float(done.stdout.split("\t")[-1])

    later = out.with_suffix(".later.pcap")
    subprocess.run(["editcap", "-t", f"{start(first) - start(then) + gap_s:.6f}", str(then), str(later)], check=True)
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(out), str(first), str(later)], check=True)
    return out


@pytest.fixture(scope="module")
def two_calls_a_minute_apart(tmp_path_factory) -> Path:
    """A busy call (486, acknowledged), then a healthy call a minute later: real fixture captures merged."""
    return one_after_the_other(FIXTURES / "486-busy-inbound" / "capture.pcap",
                               FIXTURES / "healthy-call" / "capture.pcap", 60,
                               tmp_path_factory.mktemp("apart") / "merged.pcap")


def test_a_call_written_while_the_capture_is_read_says_every_earlier_call_is_written(
        tshark, tmp_path, two_calls_a_minute_apart):
    out = tmp_path / "out.pdml"
    command = [tshark, "-q", "-n", "-r", str(two_calls_a_minute_apart), "-X", f"lua_script:{tap_script()}",
               "-X", f"lua_script1:out={out}"]
    subprocess.run(command, capture_output=True, check=True)
    reader = pdml.iter_summary(out)
    said = [(call.call_id, reader.complete_before) for call in reader]
    # the busy call is over 5 s (settle) after its ACK; the tap looks when the next packet comes, the
    # healthy call's first, a minute in: nothing else had begun before then. The healthy call is written
    # at the end, where nothing needs saying
    assert [c for c, _ in said] == [c.call_id for c in pdml.read_summary(out).calls]
    assert said[0][1] is not None and 5 < said[0][1] <= 60
    assert said[1][1] is None


def test_each_call_is_judged_as_soon_as_its_context_is_written(tshark, tmp_path, two_calls_a_minute_apart):
    from sipdiag_post import render
    from sipdiag_post.engine import LiveJudge, evaluate
    from sipdiag_post.pipeline import STREAM_HOLD_S
    from sipdiag_post.rules.base import Settings

    out = tmp_path / "out.pdml"
    subprocess.run([tshark, "-q", "-n", "-r", str(two_calls_a_minute_apart), "-X", f"lua_script:{tap_script()}",
                    "-X", f"lua_script1:out={out}"], capture_output=True, check=True)
    judge = LiveJudge(Settings(), hold_s=STREAM_HOLD_S, wait_for_overlap=True, keep_flows=True)
    reader = pdml.iter_summary(out)
    released = [judge.add(call, reader.complete_before) for call in reader]
    summary = pdml.read_summary(out)
    busy, healthy = (c.call_id for c in summary.calls)
    assert [[r.call_id for r in got] for got in released] == [[busy], []]  # the busy call at once, not at the end
    at_end = judge.finish(reader.facts)
    assert [r.call_id for r in at_end] == [healthy]
    streamed = judge.capture_report("x", summary, [*released[0], *at_end])
    # the same report as judging the whole capture at the end
    assert render.report_json([streamed], with_summary=False) == \
        render.report_json([evaluate("x", summary, Settings())], with_summary=False)
