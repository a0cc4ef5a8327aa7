"""--format jsonl and --format parquet: the contract's objects a line (or a row) at a time, a file per capture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sipdiag_post import render
from sipdiag_post.render.jsonl import report_jsonl
from sipdiag_post.sink import file_stems

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("486-busy-inbound", "concurrent-calls", "media-loss")


def sipdiag(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_lines_carry_the_json_formats_objects(fixture_runs):
    reports = [fixture_runs[name].report for name in NAMES]
    lines = [json.loads(line) for line in report_jsonl(reports).splitlines()]
    document = json.loads(render.report_json(reports, with_summary=True))
    calls = [line for line in lines if line["type"] == "call"]
    captures = [line for line in lines if line["type"] == "capture"]
    assert [line["type"] for line in lines][-1] == "summary" and len(captures) == len(NAMES)
    expected_calls = [(c["path"], call) for c in document["captures"] for call in c["calls"]]
    assert len(calls) == len(expected_calls) > len(NAMES)
    for line, (path, call) in zip(calls, expected_calls, strict=True):
        extra = {k: line.pop(k) for k in ("type", "capture", "start_time", "duration_s")}
        assert line == call and extra["capture"] == path
        assert extra["start_time"].startswith("20") and extra["start_time"].endswith("Z")
    for line, capture in zip(captures, document["captures"], strict=True):
        assert {k: v for k, v in line.items() if k not in ("type", "start_time")} == \
            {k: v for k, v in capture.items() if k != "calls"}
    summary = lines[-1]
    assert {k: summary[k] for k in document["summary"]} == document["summary"]
    assert summary["report_schema"] == document["report_schema"]


def test_parquet_one_row_per_call_and_per_check(fixture_runs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    captures = [str(ROOT / "fixtures" / name / "capture.pcap") for name in NAMES]
    out = tmp_path / "out"
    done = sipdiag("analyze", *captures, "--format", "parquet", "-o", str(out))
    assert done.returncode == 1 and done.stdout == ""
    for name in NAMES:
        report = fixture_runs[name].report
        calls = pq.read_table(out / f"{name}__capture.pcap.calls.parquet").to_pylist()
        checks = pq.read_table(out / f"{name}__capture.pcap.checks.parquet").to_pylist()
        capture = pq.read_table(out / f"{name}__capture.pcap.capture.parquet").to_pylist()
        assert [c["call_id"] for c in calls] == [c.call_id for c in report.calls]
        assert [c["verdict_rule"] for c in calls] == [c.verdict.rule for c in report.calls]
        assert len(checks) == len(report.all_checks())
        assert sum(c["call_id"] is None for c in checks) == len(report.capture_checks)
        assert capture[0]["calls"] == len(report.calls) and capture[0]["status"] == "ok"
        assert capture[0]["fails"] == sum(c.status.value == "fail" for c in report.all_checks())


def test_parquet_needs_a_folder(tmp_path):
    capture = str(ROOT / "fixtures/healthy-call/capture.pcap")
    done = sipdiag("analyze", capture, "--format", "parquet")
    assert done.returncode == 2 and done.stderr == ("sipdiag: error: --format parquet writes files: name their "
                                                    "folder with -o DIR\n")
    (tmp_path / "file").write_text("")
    done = sipdiag("analyze", capture, "--format", "jsonl", "-o", str(tmp_path / "file"))
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_file_names_below_the_shared_folder_and_unique():
    assert file_stems(["/a/b/x.pcap", "/a/c/x.pcap"]) == {"/a/b/x.pcap": "b__x.pcap", "/a/c/x.pcap": "c__x.pcap"}
    assert file_stems(["/data/day/one.pcap"]) == {"/data/day/one.pcap": "one.pcap"}
    assert file_stems(["s3://bkt/d/1.pcap", "s3://bkt/d/2.pcap"]) == {"s3://bkt/d/1.pcap": "1.pcap",
                                                                     "s3://bkt/d/2.pcap": "2.pcap"}
    clash = file_stems(["/d/a b.pcap", "/d/a_b.pcap"])  # the same once made safe: told apart by a hash
    assert len(set(clash.values())) == 2 and all(v.startswith("a_b.pcap-") for v in clash.values())
    assert file_stems(["/d/..hidden\\xff.pcap"])["/d/..hidden\\xff.pcap"] == "hidden_xff.pcap"


def test_call_lines_go_out_as_each_call_is_judged_and_match_the_json_report(tmp_path):
    from tests.test_streaming_tap import one_after_the_other

    # a busy call, then a healthy call a minute later: the busy call is judged while tshark reads on
    merged = one_after_the_other(ROOT / "fixtures/486-busy-inbound/capture.pcap",
                                 ROOT / "fixtures/healthy-call/capture.pcap", 60, tmp_path / "merged.pcap")
    lines = [json.loads(line) for line in sipdiag("analyze", str(merged), "--format", "jsonl").stdout.splitlines()]
    document = json.loads(sipdiag("analyze", str(merged), "--format", "json").stdout)
    assert [line["type"] for line in lines] == ["call", "call", "capture", "summary"]
    calls = [{k: v for k, v in line.items() if k not in ("type", "capture", "start_time", "duration_s")}
             for line in lines[:2]]
    capture = document["captures"][0]
    assert calls == capture["calls"]  # here the order they ended is also first-frame order
    assert {k: v for k, v in lines[2].items() if k not in ("type", "start_time")} == \
        {k: v for k, v in capture.items() if k != "calls"}
