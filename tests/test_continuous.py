"""--continuous: rotating files read as one capture, a call crossing files analysed whole and reported once.

A fixture with two overlapping calls is cut into three files the way a ring
buffer rotates (every packet in exactly one file): the first call starts in
the first file and ends in the third, the second starts in the second. Each
call must come back once, with the file it starts in, and with every check
as the whole capture gives it (frame numbers aside: they count from each
file's first packet).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sipdiag_post.continuous import Window, plan

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "concurrent-calls" / "capture.pcap"  # calls at 0.0-7.9 s and 0.3-8.2 s
CUTS_S = (0.2, 4.0)  # after the capture's first packet: call 1 starts before the first cut, call 2 after it
FRAMES = re.compile(r"\b(frames?) \d[\d, -]*")


def sipdiag(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def rotated(folder: Path) -> list[Path]:
    """The fixture cut at CUTS_S into part-0, part-1, part-2 (editcap -A/-B; no packet sits on a cut)."""
    start = float(subprocess.run(["capinfos", "-a", "-S", "-T", "-r", str(FIXTURE)], capture_output=True, text=True,
                                 check=True).stdout.splitlines()[-1].split("\t")[-1])
    edges = [None, *(f"{start + cut:.6f}" for cut in CUTS_S), None]
    parts = []
    for i in range(3):
        part = folder / f"part-{i}.pcap"
        bounds = (["-A", edges[i]] if edges[i] else []) + (["-B", edges[i + 1]] if edges[i + 1] else [])
        subprocess.run(["editcap", *bounds, str(FIXTURE), str(part)], check=True, capture_output=True)
        parts.append(part)
    counts = [int(subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(p)], capture_output=True, text=True,
                                 check=True).stdout.split("\t")[-1]) for p in parts]
    whole = int(subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(FIXTURE)], capture_output=True, text=True,
                               check=True).stdout.split("\t")[-1])
    assert sum(counts) == whole and all(counts), counts  # a partition, as a ring buffer writes it
    return parts


def checks_by_call(report: dict) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """Call-ID -> (the file it is reported with, rule -> (status, summary without frame numbers))."""
    out: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    for capture in report["captures"]:
        for call in capture["calls"]:
            assert call["call_id"] not in out, f"{call['call_id']} reported twice"
            out[call["call_id"]] = (Path(capture["path"]).name, {
                c["id"]: (c["status"], FRAMES.sub(r"\1 N", c["summary"])) for c in call["checks"]})
    return out


@pytest.fixture(scope="module")
def parts(tshark, tmp_path_factory) -> list[Path]:
    return rotated(tmp_path_factory.mktemp("rotated"))


def whole_run() -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    return checks_by_call(json.loads(sipdiag("analyze", str(FIXTURE), "--format", "json").stdout))


def continuous_args(parts: list[Path], overlap: str) -> list[str]:
    return ["analyze", *map(str, parts), "--continuous", "--overlap", overlap, "--format", "json"]


def test_each_call_once_whole_with_the_file_it_starts_in(parts):
    done = sipdiag(*continuous_args(parts, "20"), "--jobs", "2")
    assert done.returncode == 1, done.stderr
    got = checks_by_call(json.loads(done.stdout))
    whole = whole_run()
    assert sorted(got) == sorted(whole) and len(got) == 2
    assert got["concurrent-calls-1@sipdiag.test"][0] == "part-0.pcap"
    assert got["concurrent-calls-2@sipdiag.test"][0] == "part-1.pcap"
    assert {call: checks for call, (_, checks) in got.items()} == {call: checks for call, (_, checks) in whole.items()}
    report = json.loads(done.stdout)
    assert [len(c["calls"]) for c in report["captures"]] == [1, 1, 0]  # the last file holds only fragments
    # capture-level checks are judged per file (until the tap carries calls across files): the last file,
    # with no INVITE of its own, fails CAP001, and nothing else fails
    assert report["summary"]["fails_by_rule"] == {"CAP001": 1}
    assert [c["status"] for c in report["captures"][2]["capture_checks"] if c["id"] == "CAP001"] == ["fail"]


def test_an_overlap_shorter_than_a_call_cuts_it(parts):
    got = checks_by_call(json.loads(sipdiag(*continuous_args(parts, "1")).stdout))
    whole = whole_run()
    assert sorted(got) == sorted(whole)  # still once each
    first = "concurrent-calls-1@sipdiag.test"
    assert got[first][1] != whole[first][1]  # but the first call lost its answer and its end


def test_without_continuous_the_crossing_call_is_fragments(parts):
    report = json.loads(sipdiag("analyze", *map(str, parts), "--format", "json").stdout)
    ids = [call["call_id"] for capture in report["captures"] for call in capture["calls"]]
    assert ids.count("concurrent-calls-1@sipdiag.test") == 3


def test_the_plan_of_windows():
    a, b, c, d = (Path(n) for n in "abcd")
    windows = plan([a, b, c, d], [100.0, 160.0, None, 220.0], overlap=70.0)
    assert windows == [
        Window(a, 160.0, 230.0, (b, d)),  # reaches 70 s past b's start: into d, which starts at 220
        Window(b, 220.0, 290.0, (d,)),
        Window(c, None, None),  # no time (empty, unreadable): analysed alone, to report its error
        Window(d, None, None),  # the last file: nothing after it
    ]
