"""The --format json contract (../shared/cli-contract.md), as an executable check."""

from __future__ import annotations

from typing import Any

from sipdiag_post.rules import CALL_RULES, CAPTURE_RULES, RULES

STATUSES = {"pass", "warn", "fail", "info", "n/a"}
_RULES = {r.id: r for r in RULES}


def _keys(obj: dict[str, Any], expected: set[str], where: str) -> None:
    assert isinstance(obj, dict), f"{where}: not an object"
    assert expected <= set(obj), f"{where}: missing {sorted(expected - set(obj))}"


def check_check(check: dict[str, Any], where: str, *, capture_level: bool = False) -> None:
    _keys(check, {"id", "name", "status", "summary", "evidence", "frames", "display_filter", "remedy"}, where)
    rule = _RULES.get(check["id"])
    assert rule is not None, f"{where}: unknown rule {check['id']}"
    assert check["name"] == rule.name, f"{where}: {check['id']} named {check['name']}"
    assert check["status"] in STATUSES, f"{where}: status {check['status']}"
    if "explained_by" not in check:  # an explained finding is info (or n/a) whatever the rule returns
        allowed = {s.value for s in rule.statuses}
        assert check["status"] in allowed, f"{where}: {check['id']} cannot be {check['status']}"
    assert isinstance(check["summary"], str) and check["summary"] and "\n" not in check["summary"]
    assert all(isinstance(e, dict) and set(e) == {"label", "value"} and isinstance(e["value"], str)
               for e in check["evidence"]), f"{where}: evidence"
    assert all(isinstance(f, int) and f > 0 for f in check["frames"]), f"{where}: frames"
    assert check["frames"] == sorted(set(check["frames"])), f"{where}: frames not sorted/unique"
    assert check["display_filter"] is None or isinstance(check["display_filter"], str)
    assert check["remedy"] is None or isinstance(check["remedy"], str)
    if "explained_by" in check:  # v2: a finding that restates another's cause
        assert check["explained_by"] in _RULES and check["explained_by"] != check["id"], where
        assert check["status"] in ("info", "n/a") and f"explained by {check['explained_by']}" in check["summary"]
    if check["status"] in ("fail", "warn"):
        assert check["remedy"], f"{where}: {check['id']} {check['status']} without remedy"
        assert check["display_filter"], f"{where}: {check['id']} without a display filter"
        # a capture-level absence (no SIP at all) may have no frame to point at
        assert check["frames"] or capture_level, f"{where}: {check['id']} without frames"


def check_report(doc: dict[str, Any], *, selected: set[str] | None = None) -> None:
    """Assert that a parsed --format json document keeps the contract."""
    _keys(doc, {"tool", "version", "report_schema", "captures"}, "report")
    assert doc["tool"] == "sipdiag" and doc["report_schema"] == 1 and isinstance(doc["version"], str)
    for i, capture in enumerate(doc["captures"]):
        where = f"captures[{i}]"
        _keys(capture, {"path", "status", "error", "capture_checks", "calls"}, where)
        assert capture["status"] in ("ok", "truncated", "error")
        if capture["status"] == "error":
            assert isinstance(capture["error"], str) and "\n" not in capture["error"]
            continue
        ids = [c["id"] for c in capture["capture_checks"]]
        want = [r.id for r in CAPTURE_RULES if selected is None or r.id in selected]
        assert ids == want, f"{where}: capture checks {ids}"
        for check in capture["capture_checks"]:
            check_check(check, f"{where}.capture_checks", capture_level=True)
        for j, call in enumerate(capture["calls"]):
            cw = f"{where}.calls[{j}]"
            _keys(call, {"call_id", "direction", "from", "to", "first_frame", "final_status", "checks"}, cw)
            assert call["direction"] in ("inbound", "outbound", "unknown")
            assert call["final_status"] is None or isinstance(call["final_status"], int)
            assert isinstance(call["first_frame"], int)
            ids = [c["id"] for c in call["checks"]]
            want = [r.id for r in CALL_RULES if selected is None or r.id in selected]
            assert ids == want, f"{cw}: checks {ids}"
            for check in call["checks"]:
                check_check(check, cw)
            _check_verdict(call, cw)


def _check_verdict(call: dict[str, Any], where: str) -> None:
    """v2: exactly one primary finding per call, the worst unexplained check."""
    verdict = call["verdict"]
    _keys(verdict, {"status", "rule", "summary"}, f"{where}.verdict")
    assert verdict["status"] in ("pass", "warn", "fail"), where
    assert isinstance(verdict["summary"], str) and verdict["summary"] and "\n" not in verdict["summary"]
    statuses = {c["status"] for c in call["checks"]}
    worst = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    assert verdict["status"] == worst, f"{where}: verdict {verdict['status']}, worst check {worst}"
    if worst == "pass":
        assert verdict["rule"] is None, where
    else:
        primary = [c for c in call["checks"] if c["id"] == verdict["rule"]]
        assert primary and primary[0]["status"] == worst and primary[0]["summary"] == verdict["summary"], where
