"""Hostile and broken input: never crash, never lie, never lose a result.

The fuzz sample runs the mutations of tests/mutate.py through the real tshark,
the real tap and the CLI (tests/fuzz.py; `make fuzz` runs 5,000 cases).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from tests import fuzz, mutate
from tests.test_cli import one_line_error, sipdiag

ROOT = Path(__file__).resolve().parent.parent
BUSY = ROOT / "fixtures" / "486-busy-inbound" / "capture.pcap"
HEALTHY = ROOT / "fixtures" / "healthy-call" / "capture.pcap"
LOSS = ROOT / "fixtures" / "media-loss" / "capture.pcap"
SAMPLE = 100  # make fuzz runs 5,000; this sample still covers every mutation kind five times


def test_a_fixed_seed_fuzz_sample_ends_in_reports_or_clean_errors(tshark):
    outcomes = fuzz.run(SAMPLE, fuzz.DEFAULT_SEED, jobs=os.cpu_count() or 1)
    failed = [o for o in outcomes if o.result.startswith("FAIL")]
    assert not failed, fuzz.summary(outcomes, fuzz.DEFAULT_SEED, 0)
    assert len(outcomes) == SAMPLE
    assert {o.case.kind for o in outcomes} == set(mutate.MUTATIONS)
    assert {o.result for o in outcomes} <= {"report", "clean-error"}
    assert sum(o.result == "report" for o in outcomes) > SAMPLE // 2


def _sip_fields(capture: Path, field: str) -> list[bytes]:
    done = subprocess.run(["tshark", "-n", "-r", str(capture), "-Y", "sip", "-T", "fields", "-e", field],
                          capture_output=True, check=True)
    return [line for line in done.stdout.split(b"\n") if line]


@pytest.mark.parametrize("kind", ["huge-header", "missing-crlf", "content-length", "bogus-sdp", "non-utf8",
                                  "hostile-text", "hostile-call-id", "control-call-id", "duplicate-call-id"])
def test_text_mutations_reach_the_sip_dissector(tshark, tmp_path, kind):
    """A mutation that broke the IP/UDP framing would only test tshark's IP checks."""
    case = tmp_path / "case.pcap"
    case.write_bytes(mutate.mutate(HEALTHY.read_bytes(), kind, seed=7))
    before, after = _sip_fields(HEALTHY, "frame.number"), _sip_fields(case, "frame.number")
    assert len(after) == len(before)
    assert case.read_bytes() != HEALTHY.read_bytes()


def test_rtp_mutations_keep_the_packets_rtp(tshark, tmp_path):
    case = tmp_path / "case.pcap"
    case.write_bytes(mutate.mutate(LOSS.read_bytes(), "rtp-chaos", seed=3))
    done = subprocess.run(["tshark", "-n", "-r", str(case), "-Y", "rtp", "-T", "fields", "-e", "rtp.seq"],
                          capture_output=True, text=True, check=True)
    original = subprocess.run(["tshark", "-n", "-r", str(LOSS), "-Y", "rtp", "-T", "fields", "-e", "rtp.seq"],
                              capture_output=True, text=True, check=True)
    assert done.stdout != original.stdout and len(done.stdout.split()) > 100


HOSTILE_CALL_ID = b'</field></proto><x a="&amp;">\x1b[31m=cmd|calc\x07'


def _with_call_id(tmp_path: Path, new: bytes) -> Path:
    """The 486 fixture with its Call-ID replaced by hostile text in every message."""
    head, packets = mutate.read_pcap(BUSY.read_bytes())
    old = b"486-busy-inbound-1@sipdiag.test"
    out = []
    for p in packets:
        t = mutate.transport(p.data)
        payload = p.data[t.payload:] if t else b""
        if t and old in payload:
            p = mutate.Packet(p.header, mutate.with_payload(p.data, t, payload.replace(old, new)))
        out.append(p)
    case = tmp_path / "hostile.pcap"
    case.write_bytes(mutate.write_pcap(head, out))
    return case


def test_a_hostile_call_id_survives_exactly_where_it_can_and_safely_everywhere(tmp_path):
    case = _with_call_id(tmp_path, HOSTILE_CALL_ID)
    pdml_path = tmp_path / "summary.pdml"
    assert sipdiag("export", str(case), "-o", str(pdml_path)).returncode == 0
    root = etree.parse(str(pdml_path)).getroot()  # well-formed
    ids = [f.get("show") for f in root.iter("field") if f.get("name") == "sipdiag.call.id"]
    text = HOSTILE_CALL_ID.decode()
    # XML 1.0 cannot hold ESC or BEL: the tap escapes them (\xNN, reversibly), the rest is exact
    assert ids == [text.replace("\x1b", "\\x1b").replace("\x07", "\\x07")]

    report = json.loads(sipdiag("check", str(pdml_path), "--format", "json").stdout)
    call = report["captures"][0]["calls"][0]
    assert call["call_id"] == ids[0]
    assert [c["status"] for c in call["checks"] if c["id"] == "SIP005"] == ["fail"]

    table = sipdiag("check", str(pdml_path)).stdout
    assert "\x1b" not in table and "\x07" not in table and "</field></proto>" in table
    junit = sipdiag("check", str(pdml_path), "--format", "junit").stdout
    etree.fromstring(junit.encode())
    csv_text = sipdiag("check", str(pdml_path), "--format", "csv").stdout
    assert "\x1b" not in csv_text and "\x07" not in csv_text


def test_a_large_capture_without_sip_says_so_with_its_link_type(tmp_path):
    media = tmp_path / "media.pcap"
    subprocess.run(["tshark", "-n", "-r", str(LOSS), "-Y", "!sip", "-F", "pcap", "-w", str(media)], check=True,
                   capture_output=True)
    nosip = tmp_path / "nosip.pcap"  # 100 copies one after the other: 59,300 RTP packets, no SIP
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(nosip), *[str(media)] * 100], check=True)
    done = sipdiag("analyze", str(nosip), "--format", "json")
    assert done.returncode == 1
    checks = {c["id"]: c for c in json.loads(done.stdout)["captures"][0]["capture_checks"]}
    assert checks["CAP001"]["status"] == "fail"
    assert checks["CAP001"]["summary"] == "no SIP found in 59300 packets (link type ether)"
    assert checks["CAP005"]["status"] == "warn"  # each copy starts where the first did: time goes back


def test_an_unknown_link_type_is_named(tmp_path):
    user0 = tmp_path / "user0.pcap"
    subprocess.run(["editcap", "-T", "user0", str(BUSY), str(user0)], check=True)
    report = json.loads(sipdiag("analyze", str(user0), "--format", "json").stdout)
    check = report["captures"][0]["capture_checks"][0]
    assert check["id"] == "CAP001" and check["status"] == "fail"
    assert "(link type user0)" in check["summary"] and "DLT_USER" in check["remedy"]


def test_a_pcapng_with_several_interfaces_keeps_every_call(tmp_path):
    merged = tmp_path / "two-interfaces.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-I", "none", "-w", str(merged), str(BUSY), str(HEALTHY)],
                   check=True)
    info = subprocess.run(["capinfos", str(merged)], capture_output=True, text=True, check=True).stdout
    assert "Number of interfaces in file: 2" in info
    report = json.loads(sipdiag("analyze", str(merged), "--format", "json").stdout)
    calls = {c["call_id"]: c["final_status"] for c in report["captures"][0]["calls"]}
    assert calls == {"486-busy-inbound-1@sipdiag.test": 486, "healthy-call-1@sipdiag.test": 200}


@pytest.mark.parametrize("cut", [0.35, 0.7])
def test_a_capture_cut_mid_packet_keeps_every_complete_call(tmp_path, cut):
    whole = ROOT / "fixtures" / "concurrent-calls" / "capture.pcap"
    data = whole.read_bytes()
    case = tmp_path / "cut.pcap"
    case.write_bytes(data[:int(len(data) * cut)])
    capture = json.loads(sipdiag("analyze", str(case), "--format", "json").stdout)["captures"][0]
    assert capture["status"] == "truncated"
    full = json.loads(sipdiag("analyze", str(whole), "--format", "json").stdout)["captures"][0]
    # every call that ended before the cut is reported exactly as from the whole capture
    ended = [c for c in capture["calls"] if c["final_status"] is not None]
    assert ended
    by_id = {c["call_id"]: c for c in full["calls"]}
    for call in ended:
        assert call["final_status"] == by_id[call["call_id"]]["final_status"]


def test_tshark_without_lua_is_one_line_exit_4(tmp_path):
    # a stand-in for a tshark built without Lua: it answers -v as such a build does
    fake = tmp_path / "tshark"
    fake.write_text("#!/bin/sh\necho 'TShark (Wireshark) 4.0.17.'\n"
                    "echo 'Compiled (64-bit) with GLib 2.74.6, without Lua, with GnuTLS 3.7.9'\n")
    fake.chmod(0o755)
    done = sipdiag("analyze", str(BUSY), "--tshark", str(fake))
    assert done.returncode == 4
    assert "built without Lua" in one_line_error(done)


def test_an_unwritable_report_path_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = sipdiag("analyze", str(BUSY), "-o", str(blocker / "report.json"))
    assert done.returncode == 2
    assert "cannot write" in one_line_error(done)


def _start(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, TMPDIR=str(tmp / "t"), HOME=str(tmp / "home"))
    (tmp / "t").mkdir()
    (tmp / "home").mkdir()
    # as from a terminal: Ctrl-C not ignored, even when the tests run in a background job (which ignores it)
    return subprocess.Popen([sys.executable, "-m", "sipdiag_post", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


# interruptions (Ctrl-C, SIGTERM, SIGKILL) and what they leave behind: tests/test_processes.py


def test_a_run_writes_only_where_it_was_told(tmp_path):
    proc = _start(["analyze", str(BUSY), "--format", "json", "-o", str(tmp_path / "report.json")], tmp_path)
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "report.json", "t"]
    assert list((tmp_path / "t").iterdir()) == [] and list((tmp_path / "home").iterdir()) == []


def test_mutations_are_reproducible_from_the_seed():
    data = HEALTHY.read_bytes()
    for kind in mutate.MUTATIONS:
        seed = random.Random(kind).randrange(1000)
        assert mutate.mutate(data, kind, seed) == mutate.mutate(data, kind, seed), kind
