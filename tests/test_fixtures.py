"""Every fixture capture through the real tshark and the real Lua tap.

Compares with the goldens (make golden), checks each scenario's targeted
verdicts, the JSON contract, and that each finding's display filter really
selects its evidence frames in tshark.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import scenarios as sc

from sipdiag_post import render
from sipdiag_post.engine import evaluate
from sipdiag_post.pipeline import TapOptions, export
from sipdiag_post.rules.base import Settings
from tests.contract import check_report

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = ("healthy-call", "auth-challenge-ok", "refer-notify-ok", "twilio-callsid", "concurrent-calls",
           "sip-over-tcp", "tcp-segments", "sip-over-websocket", "ipv6-call", "slow-first-response",
           "media-g722", "media-hold", "media-dtmf", "media-srtp")
_VOLATILE_ROOT_ATTRS = re.compile(rb' (wireshark|lua)="[^"]*"')


@pytest.fixture(scope="session")
def runs(fixture_runs):
    return fixture_runs


def _golden(name: str, file: str) -> Path:
    return ROOT / "fixtures" / name / file


def _normalise(pdml: bytes) -> bytes:
    return _VOLATILE_ROOT_ATTRS.sub(b"", pdml)


NAMES = [s.name for s in sc.SCENARIOS]


@pytest.mark.parametrize("name", NAMES)
def test_tap_output_matches_golden(runs, name: str) -> None:
    golden = _golden(name, "expected.pdml").read_bytes()
    assert _normalise(runs[name].pdml) == _normalise(golden), f"run `make golden` and review the diff of {name}"


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_match_golden(runs, name: str) -> None:
    golden = json.loads(_golden(name, "expected-verdicts.json").read_text())
    assert runs[name].json == golden, f"run `make golden` and review the diff of {name}"


@pytest.mark.parametrize("name", NAMES)
def test_json_keeps_the_contract(runs, name: str) -> None:
    check_report(runs[name].json)


@pytest.mark.parametrize("name", NAMES)
def test_targeted_verdicts(runs, name: str) -> None:
    capture = runs[name].json["captures"][0]
    assert len(capture["calls"]) == sc.expected_calls(runs[name].scenario)
    for rule, status in runs[name].scenario.targets.items():
        checks = [c for c in capture["capture_checks"] if c["id"] == rule]
        checks += [c for call in capture["calls"] for c in call["checks"] if c["id"] == rule]
        assert checks, f"{rule} missing"
        assert {c["status"] for c in checks} == {status}, [(c["id"], c["status"], c["summary"]) for c in checks]


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_fixtures_have_no_fail(runs, name: str) -> None:
    capture = runs[name].json["captures"][0]
    checks = capture["capture_checks"] + [c for call in capture["calls"] for c in call["checks"]]
    assert [c["id"] for c in checks if c["status"] == "fail"] == []


def _frames_matching(tshark, capture: Path, display_filter: str, decode_as: tuple[str, ...]) -> set[int]:
    command = [tshark.path, "-n", "-r", str(capture), "-Y", display_filter, "-T", "fields", "-e", "frame.number"]
    for rule in decode_as:
        command += ["-d", rule]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert "was unexpected" not in done.stderr and "isn't a valid display filter" not in done.stderr, done.stderr
    return {int(line) for line in done.stdout.split()}


@pytest.mark.parametrize("name", NAMES)
def test_display_filters_show_the_evidence(runs, tshark, name: str) -> None:
    run = runs[name]
    capture = run.json["captures"][0]
    checks = capture["capture_checks"] + [c for call in capture["calls"] for c in call["checks"]]
    for check in checks:
        if check["status"] not in ("fail", "warn") or not check["display_filter"]:
            continue
        shown = _frames_matching(tshark, ROOT / capture["path"], check["display_filter"], run.scenario.decode_as)
        assert set(check["frames"]) <= shown, (check["id"], check["display_filter"], check["frames"], shown)


def _messages(run) -> list[dict[str, str]]:
    from lxml import etree

    root = etree.fromstring(run.pdml)
    out = []
    for msg in root.iter("field"):
        if msg.get("name") == "sipdiag.msg":
            out.append({f.get("name").rsplit(".", 1)[1]: f.get("show") for f in msg if f.get("name")})
    return out


def test_two_messages_in_one_tcp_segment_are_both_read(runs) -> None:
    messages = _messages(runs["tcp-segments"])
    in_one = [(m["frame"], m["index"], m["status"]) for m in messages if m.get("status") in ("100", "180")]
    assert in_one == [(in_one[0][0], "1", "100"), (in_one[0][0], "2", "180")]
    assert len(messages) == 7 and all(m["transport"] == "TCP" for m in messages)


def test_a_message_over_two_segments_is_read_once_reassembled(runs) -> None:
    oks = [m for m in _messages(runs["tcp-segments"]) if m.get("status") == "200" and m["cseq_method"] == "INVITE"]
    assert len(oks) == 1 and oks[0]["has_sdp"] == "1"


def test_websocket_and_ipv6_transports(runs) -> None:
    assert {m["transport"] for m in _messages(runs["sip-over-websocket"])} == {"WS"}
    assert {m["src"] for m in _messages(runs["ipv6-call"])} == {"::1"}


def test_retransmissions_are_counted(runs) -> None:
    invites = [m for m in _messages(runs["no-response"]) if m.get("method") == "INVITE"]
    assert len(invites) == 7
    assert [m["retransmission"] for m in invites] == ["0"] + ["1"] * 6


def test_tls_keys_decrypt_the_signalling(tshark, tmp_path: Path) -> None:
    folder = ROOT / "fixtures" / "tls-encrypted"
    tap = TapOptions(tshark=tshark, tls_keylog=folder / "keys.log")
    summary = export(tap, folder / "capture.pcap", tmp_path / "tls.pdml")
    report = json.loads(render.report_json([evaluate("tls", summary, Settings())]))
    capture = report["captures"][0]
    statuses = {c["id"]: c["status"] for c in capture["capture_checks"]}
    assert statuses["CAP002"] == "pass" and statuses["CAP001"] == "pass"
    (call,) = capture["calls"]
    assert call["final_status"] == 486
    assert {m.transport for m in summary.calls[0].messages} == {"TLS"}
