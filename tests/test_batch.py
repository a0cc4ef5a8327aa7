"""Batches: many captures, in parallel, with bad inputs among them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD = ("486-busy-inbound", "healthy-call", "media-loss", "cancel-487", "603-decline", "404-not-found")


def sipdiag(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _batch(tmp_path: Path) -> Path:
    folder = tmp_path / "batch"
    for name in GOOD:
        (folder / name).mkdir(parents=True)
        shutil.copy(ROOT / "fixtures" / name / "capture.pcap", folder / name / "capture.pcap")
    return folder


def test_parallel_results_equal_serial_results(tmp_path):
    folder = _batch(tmp_path)
    serial = sipdiag("analyze", str(folder), "--format", "json", "--jobs", "1")
    parallel = sipdiag("analyze", str(folder), "--format", "json", "--jobs", "2")
    assert serial.returncode == parallel.returncode == 1
    assert json.loads(serial.stdout) == json.loads(parallel.stdout)
    report = json.loads(serial.stdout)
    assert len(report["captures"]) == len(GOOD) and report["summary"]["captures"] == len(GOOD)


def test_bad_inputs_do_not_stop_the_batch(tmp_path):
    folder = _batch(tmp_path)
    (folder / "empty.pcap").write_bytes(b"")
    (folder / "notes.pcap").write_text("not a capture, only words\n" * 4)
    data = (ROOT / "fixtures/healthy-call/capture.pcap").read_bytes()
    (folder / "cut.pcap").write_bytes(data[: len(data) // 2])
    (folder / "gone.pcap").symlink_to(folder / "no-such-file.pcap")  # unreadable (root reads any mode)
    empty_dir = tmp_path / "nothing-here"
    empty_dir.mkdir()
    done = sipdiag("analyze", str(folder), str(empty_dir), "--format", "json", "--jobs", "2")
    assert done.returncode == 1  # what the readable captures earned (they fail checks); errors do not change it
    report = json.loads(done.stdout)
    by_name = {Path(c["path"]).name: c for c in report["captures"]}
    assert by_name["empty.pcap"]["status"] == "error" and "empty file" in by_name["empty.pcap"]["error"]
    assert by_name["notes.pcap"]["status"] == "error"
    assert by_name["gone.pcap"]["status"] == "error" and "no such file" in by_name["gone.pcap"]["error"]
    assert by_name["nothing-here"]["status"] == "error" and "no captures" in by_name["nothing-here"]["error"]
    assert by_name["cut.pcap"]["status"] == "truncated" and by_name["cut.pcap"]["calls"]
    good = [c for c in report["captures"] if c["status"] == "ok"]
    assert len(good) == len(GOOD) and all(c["calls"] and c["capture_checks"] for c in good)
    errors = [line for line in done.stderr.splitlines() if line.startswith("sipdiag: ")]
    assert len(errors) == 4 and len(done.stderr.splitlines()) == 4


def test_gzip_captures_are_found_and_read(tmp_path):
    import gzip

    (tmp_path / "call.pcap.gz").write_bytes(gzip.compress((ROOT / "fixtures/486-busy-inbound/capture.pcap")
                                                          .read_bytes()))
    report = json.loads(sipdiag("analyze", str(tmp_path), "--format", "json").stdout)
    assert [c["status"] for c in report["captures"]] == ["ok"]
    assert report["captures"][0]["calls"][0]["final_status"] == 486


def test_progress_goes_to_stderr_only_on_a_terminal(tmp_path):
    done = sipdiag("analyze", str(_batch(tmp_path)), "--jobs", "2")
    assert "analysing" not in done.stderr  # stderr is a pipe here
    assert "Summary: 6 capture(s) (6 ok)" in done.stdout


def test_an_unreadable_capture_does_not_change_what_the_others_earn(tmp_path):
    healthy = ROOT / "fixtures/healthy-call/capture.pcap"
    busy = ROOT / "fixtures/486-busy-inbound/capture.pcap"
    (tmp_path / "empty.pcap").write_bytes(b"")
    assert sipdiag("analyze", str(healthy), str(tmp_path / "empty.pcap")).returncode == 0
    assert sipdiag("analyze", str(busy), str(tmp_path / "empty.pcap")).returncode == 1
    only_bad = sipdiag("analyze", str(tmp_path / "empty.pcap"), str(tmp_path / "no-such.pcap"))
    assert only_bad.returncode == 3  # nothing could be read at all
