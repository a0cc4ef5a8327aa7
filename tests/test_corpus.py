"""The tap over every public capture in ../shared/corpus (skipped when absent).

The tap alone, exactly as a user runs it without Python, must write
well-formed PDML with zero Lua errors; its calls must agree with tshark's own
SIP dissector; and the report built from it must keep the JSON contract.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from sipdiag_post import pdml, render
from sipdiag_post.engine import evaluate
from sipdiag_post.rules.base import Settings
from sipdiag_post.tshark import TsharkError, find_tshark, tap_script
from tests.contract import check_report

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SIPDIAG_CORPUS", ROOT.parent / "shared" / "corpus"))
MANIFEST = CORPUS / "MANIFEST.tsv"


def _entries() -> list[dict[str, str]]:
    if not MANIFEST.exists():
        return []
    with MANIFEST.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ENTRIES = _entries()
pytestmark = pytest.mark.skipif(not ENTRIES, reason=f"{CORPUS} is not here")


def _decode_as(entry: dict[str, str]) -> list[str]:
    """The manifest notes say when tshark needs -d to see SIP."""
    return [arg for rule in re.findall(r"-d ([\w.=,]+)", entry["notes"]) for arg in ("-d", rule)]


@pytest.fixture(scope="module")
def tshark_path() -> str:
    try:
        return find_tshark().path
    except TsharkError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_tap_alone_writes_wellformed_pdml_without_lua_errors(entry, tshark_path, tmp_path):
    capture = CORPUS / entry["file"]
    out = tmp_path / "summary.pdml"
    done = subprocess.run(
        [tshark_path, "-q", "-n", "-r", str(capture), *_decode_as(entry),
         "-X", f"lua_script:{tap_script()}", "-X", f"lua_script1:out={out}"],
        capture_output=True, text=True, check=False,
    )
    assert not re.search(r"(?i)lua.*error|\[string |stack traceback", done.stderr), done.stderr
    summary = pdml.read_summary(out)  # the hardened parser: well-formed, schema 1.x
    assert summary.facts.tap_errors == 0, summary.facts.tap_error_samples
    assert summary.facts.packets == int(entry["packets"])

    # the calls agree with tshark's own SIP dissector
    fields = subprocess.run(
        [tshark_path, "-n", "-r", str(capture), *_decode_as(entry), "-Y", 'sip.Method == "INVITE"',
         "-T", "fields", "-e", "sip.Call-ID", "-e", "sip.to.tag", "-E", "occurrence=f"],
        capture_output=True, text=True, check=False,
    ).stdout
    initial = {line.split("\t")[0] for line in fields.splitlines() if line.split("\t")[1:] == [""]}
    captured = {c.call_id for c in summary.calls
                if any(m.method == "INVITE" and m.to_tag is None for m in c.messages)}
    assert captured == initial

    report = json.loads(render.report_json([evaluate(entry["file"], summary, Settings())]))
    check_report(report)


def test_the_sctp_capture_is_read_as_sctp(tshark_path, tmp_path):
    out = tmp_path / "sctp.pdml"
    subprocess.run([tshark_path, "-q", "-n", "-r", str(CORPUS / "heplify__sip_sctp.pcap"),
                    "-X", f"lua_script:{tap_script()}", "-X", f"lua_script1:out={out}"],
                   capture_output=True, check=False)
    (call,) = pdml.read_summary(out).calls
    assert {m.transport for m in call.messages} == {"SCTP"}
    assert [m.status for m in call.messages if m.status] == [100, 403]


def test_the_cli_reports_the_corpus_with_the_documented_exit_codes():
    files = [str(CORPUS / e["file"]) for e in ENTRIES]
    done = subprocess.run([str(ROOT / ".venv/bin/sipdiag"), "analyze", *files, "--format", "json"],
                          capture_output=True, text=True, check=False)
    report = json.loads(done.stdout)
    check_report(report)
    by_name = {Path(c["path"]).name: c for c in report["captures"]}
    assert by_name["voipshark__DTMF.pcap"]["status"] == "error"  # the 0-byte file
    assert "empty file" in by_name["voipshark__DTMF.pcap"]["error"]
    assert done.returncode == 1  # what the readable captures earned; the one unreadable input is its own error
    assert sum(c["status"] == "ok" for c in report["captures"]) == len(files) - 1


def test_direct_media_that_tshark_leaves_as_udp_still_counts_as_audio(tshark_path, tmp_path):
    """Asterisk re-INVITEs both phones to send media to each other. Wireshark
    4.0 does not decode one direction as RTP; the tap reads it from the UDP to
    the address the re-INVITE's SDP advertised, so no one-way audio is reported."""
    out = tmp_path / "isa.pdml"
    subprocess.run([tshark_path, "-q", "-n", "-r", str(CORPUS / "isa__real_sip_call.pcap"),
                    "-X", f"lua_script:{tap_script()}", "-X", f"lua_script1:out={out}"],
                   capture_output=True, check=False)
    summary = pdml.read_summary(out)
    directions = {(s.src.addr, s.dst.addr): s for c in summary.calls for s in c.streams}
    phone_to_phone = directions[("10.0.2.4", "10.0.2.5")]
    assert (phone_to_phone.packets, phone_to_phone.lost, phone_to_phone.setup_frame) == (744, 0, 80)
    assert ("10.0.2.5", "10.0.2.4") in directions
    report = evaluate("isa", summary, Settings())
    assert {c.status.value for call in report.calls for c in call.checks if c.id == "RTP002"} == {"pass"}
