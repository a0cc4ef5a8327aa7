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
# healthy: no check fails (a warn-only call such as slow-first-response counts)
HEALTHY = sorted({"slow-first-response"} | {s.name for s in sc.SCENARIOS if s.verdict == "pass"})
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


def _skip_if_pending(scenario) -> None:
    if scenario.pending:
        pytest.skip(f"pending {scenario.pending}")


@pytest.mark.parametrize("name", NAMES)
def test_targeted_verdicts(runs, name: str) -> None:
    _skip_if_pending(runs[name].scenario)
    capture = runs[name].json["captures"][0]
    assert len(capture["calls"]) == sc.expected_calls(runs[name].scenario)
    for rule, status in runs[name].scenario.targets.items():
        checks = [c for c in capture["capture_checks"] if c["id"] == rule]
        checks += [c for call in capture["calls"] for c in call["checks"] if c["id"] == rule]
        assert checks, f"{rule} missing"
        assert {c["status"] for c in checks} == {status}, [(c["id"], c["status"], c["summary"]) for c in checks]
    calls = {call["call_id"]: call for call in capture["calls"]}
    for call_id, targets in runs[name].scenario.call_targets.items():
        assert call_id in calls, f"no call {call_id}"
        for rule, status in targets.items():
            statuses = {c["status"] for c in calls[call_id]["checks"] if c["id"] == rule}
            assert statuses == {status}, (call_id, rule, statuses)


WITH_VERDICTS = [s.name for s in sc.SCENARIOS if s.verdict or s.call_verdicts]


@pytest.mark.parametrize("name", WITH_VERDICTS)
def test_verdicts(runs, name: str) -> None:
    """Each call's verdict is the scenario's: its rule (and the status the targets give that rule)."""
    scenario = runs[name].scenario
    _skip_if_pending(scenario)
    calls = runs[name].json["captures"][0]["calls"]
    assert calls, "no call to judge"
    if any("verdict" not in call for call in calls):
        pytest.skip("the report carries no calls[].verdict yet (issue-13)")
    for call in calls:
        expected, verdict = sc.verdict_of(scenario, call["call_id"]), call["verdict"]
        assert expected, f"{call['call_id']}: the scenario states no verdict for this call"
        if expected == "pass":
            assert verdict["status"] == "pass", (call["call_id"], verdict)
            continue
        assert verdict["rule"] == expected, (call["call_id"], verdict)
        if expected in scenario.targets:
            assert verdict["status"] == scenario.targets[expected], (call["call_id"], verdict)


def test_pending_scenarios_wait_for_a_known_issue() -> None:
    unknown = {s.name: s.pending for s in sc.SCENARIOS if s.pending is not None and s.pending not in sc.ISSUES}
    assert not unknown, f"pending must name one of {sc.ISSUES}"


def test_verdicts_name_rules_and_local_options_parse() -> None:
    from sipdiag_post.analysis.direction import parse_local
    from sipdiag_post.rules import RULES

    known = {rule.id for rule in RULES} | {"pass"}
    for scenario in sc.SCENARIOS:
        stated = {v for v in (scenario.verdict, *scenario.call_verdicts.values()) if v}
        stated |= set(scenario.targets) | {rule for t in scenario.call_targets.values() for rule in t}
        # a pending scenario may name a rule its issue adds (catalog v2: CAP005, RTP009, ...)
        ids = {i for i in stated if re.fullmatch(r"(CAP|SIP|SDP|RTP|CID)\d{3}|pass", i)} if scenario.pending else known
        assert stated <= ids, (scenario.name, stated - ids)
        parse_local(scenario.local)  # raises on a bad value


_PENDING = {issue: sorted(s.name for s in sc.SCENARIOS if s.pending == issue) for issue in sc.ISSUES}


@pytest.mark.parametrize("issue", sc.ISSUES, ids=[f"{i}-{len(_PENDING[i])}-pending" for i in sc.ISSUES])
def test_pending_scenarios_by_issue(issue: str) -> None:
    """Lists, in the test id, how many scenarios wait for each issue; each of them still has its folder."""
    for name in _PENDING[issue]:
        assert (ROOT / "fixtures" / name / "capture.pcap").is_file(), name


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_fixtures_have_no_fail(runs, name: str) -> None:
    _skip_if_pending(runs[name].scenario)
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
