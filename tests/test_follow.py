"""`sipdiag watch --follow DIR`: a dumpcap ring buffer followed as one capture.

A capture made of fixture captures (mergecap) is split into ring-buffer-named parts (editcap -c,
pcap or pcapng) and the parts dropped into a folder while watch follows it, the newest written in
pieces cut in the middle of records: the calls judged must be those `sipdiag analyze --format jsonl`
finds in the whole capture, with the same verdicts and frame numbers. The feeder's framing (whole
records only, a later pcap file's header dropped, files deleted unread counted) is tested in-process,
step by step, without tshark; then a later pcap file with another link type, a missing or empty
folder, and -i with --follow.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipdiag_post.follow import (
    Feeder,
    FollowError,
    Kind,
    capture_files,
    kind_of,
    missed_between,
    order_key,
    pcap_header,
    whole_pcap_records,
    whole_pcapng_blocks,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SIPDIAG = [sys.executable, "-m", "sipdiag_post"]
# several calls, pass and fail, one of them (the healthy call's 615 packets) across several parts
PARTS_OF = ("healthy-call", "486-busy-inbound", "cancel-487", "ack-missing")
PART_PACKETS = 200
# generous: a line that never comes fails the test, a slow one does not
WAIT_S = float(os.environ.get("SIPDIAG_TEST_WAIT_S", "120"))

needs_wireshark_tools = pytest.mark.skipif(shutil.which("mergecap") is None or shutil.which("editcap") is None,
                                           reason="mergecap and editcap (Wireshark) are not installed")


def run(*command: str | Path) -> None:
    subprocess.run([str(c) for c in command], check=True, capture_output=True)


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    if shutil.which("mergecap") is None or shutil.which("editcap") is None:
        pytest.skip("mergecap and editcap (Wireshark) are not installed")
    path = tmp_path_factory.mktemp("whole") / "whole.pcap"
    run("mergecap", "-F", "pcap", "-w", path, *(FIXTURES / name / "capture.pcap" for name in PARTS_OF))
    return path


@pytest.fixture(scope="module")
def expected(whole: Path) -> dict[str, tuple[str, str | None, int]]:
    """Each call of the whole capture as analyze judges it: verdict status, rule, first frame."""
    done = subprocess.run([*SIPDIAG, "analyze", "--format", "jsonl", str(whole)], cwd=ROOT, capture_output=True,
                          text=True, timeout=WAIT_S)
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    found = {c["call_id"]: (c["verdict"]["status"], c["verdict"]["rule"], c["first_frame"])
             for c in calls if c["type"] == "call"}
    assert len(found) == len(PARTS_OF), done.stdout
    return found


def split(whole: Path, folder: Path, fmt: str) -> list[Path]:
    """The capture in ring-buffer-named parts of PART_PACKETS packets (NAME_NNNNN_YYYYMMDDHHMMSS.ext)."""
    folder.mkdir(parents=True, exist_ok=True)
    run("editcap", "-F", fmt, "-c", str(PART_PACKETS), whole, folder / f"ring.{fmt}")
    parts = sorted(folder.iterdir())
    assert len(parts) >= 3 and all(p.name.startswith("ring_0000") for p in parts), parts
    return parts


def calls_of(jsonl: str) -> dict[str, tuple[str, str | None, int]]:
    records = [json.loads(line) for line in jsonl.splitlines()]
    assert records[-1]["type"] == "summary", records[-1]
    return {r["call_id"]: (r["verdict"]["status"], r["verdict"]["rule"], r["first_frame"])
            for r in records if r["type"] == "call"}


def read_to_end(pid: int, path: Path) -> bool:
    """Whether the process holds path open at its end (the feeder keeps the file it tails open)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) != str(path):
                continue
            pos = next(line for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines()
                       if line.startswith("pos:"))
        except (OSError, StopIteration):
            continue
        if int(pos.split()[1]) == path.stat().st_size:
            return True
    return False


@pytest.mark.tshark
def test_pcapng_parts_dropped_while_following_are_one_capture(whole, expected, tmp_path):
    parts = split(whole, tmp_path / "parts", "pcapng")
    ring = tmp_path / "ring"
    ring.mkdir()
    shutil.copy(parts[0], ring / parts[0].name)  # dumpcap's first file
    watch = subprocess.Popen([*SIPDIAG, "watch", "--follow", str(ring), "--linger", "0", "--format", "jsonl"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for part in parts[1:]:  # dumpcap rotating: each new file written as it grows, cut mid-record
            data = part.read_bytes()
            cuts = [0, 7, len(data) // 3 + 5, 2 * len(data) // 3 + 3, len(data)]
            with open(ring / part.name, "wb") as out:
                for start, end in itertools.pairwise(cuts):
                    out.write(data[start:end])
                    out.flush()
                    time.sleep(0.05)
        last = ring / parts[-1].name
        deadline = time.monotonic() + WAIT_S
        while not read_to_end(watch.pid, last) and watch.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=WAIT_S)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert watch.returncode == 130, err
    assert "Traceback" not in err and "skipped" not in err and "dropped" not in err, err
    assert calls_of(out) == expected, out.splitlines()[-1]
    assert json.loads(out.splitlines()[-1])["in_progress"] == []


@pytest.mark.tshark
def test_pcap_parts_followed_to_the_end_with_idle_exit(whole, expected, tmp_path):
    parts = split(whole, tmp_path / "ring", "pcap")
    done = subprocess.run([*SIPDIAG, "watch", "--follow", str(parts[0].parent), "--linger", "0", "--idle-exit",
                           "1"], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 1, done.stderr  # some calls fail; not interrupted
    lines = done.stdout.splitlines()
    judged = {f[2]: (f[1], None if f[6] == "-" else f[6]) for f in (line.split(" ") for line in lines[:-1])}
    assert judged == {call_id: (status, rule) for call_id, (status, rule, _) in expected.items()}
    assert lines[-1].startswith(f"watched {len(expected)} finished call(s)") and lines[-1].endswith(
        "0 still in progress"), lines[-1]
    assert done.stderr == ""


@pytest.mark.tshark
def test_a_later_pcap_file_with_another_link_type_is_exit_3(whole, tmp_path):
    parts = split(whole, tmp_path / "ring", "pcap")
    raw = tmp_path / "raw.pcap"
    run("editcap", "-F", "pcap", "-T", "rawip", parts[1], raw)
    raw.replace(parts[1])
    done = subprocess.run([*SIPDIAG, "watch", "--follow", str(parts[0].parent), "--linger", "0", "--idle-exit",
                           "1"], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"sipdiag: error: {parts[1]}: cannot follow the files before it: its link type "
                                  "101 differs from the first file's (1)"), done.stderr
    assert done.stdout.splitlines()[-1].startswith("watched "), done.stdout  # the summary of what was read


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_folder_that_is_missing_empty_or_a_file_is_exit_3(tmp_path, make):
    folder = tmp_path / "ring"
    if make == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("not a capture")
    elif make == "file":
        folder.write_bytes(b"")
    done = subprocess.run([*SIPDIAG, "watch", "--follow", str(folder)], cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT_S)
    assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"sipdiag: error: {folder}: ") and "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("words", [["-i", "lo", "--follow", "."], [], ["-i", "lo", "--idle-exit", "3"],
                                   ["--follow", ".", "--sip-port", "5062"]])
def test_follow_goes_without_i_and_its_options(words):
    done = subprocess.run([*SIPDIAG, "watch", *words], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


# --- the feeder, step by step --------------------------------------------------------------------------


def record_starts(pcap: bytes) -> list[int]:
    """Where each record of a pcap file begins."""
    order = pcap_header(pcap[:24]).order
    starts, at = [], 24
    while at < len(pcap):
        starts.append(at)
        at += 16 + struct.unpack_from(f"{order}I", pcap, at + 8)[0]
    return starts


class Sink:
    """What the feeder writes (a file, as tshark's pipe would get it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def read(self) -> bytes:
        return self.path.read_bytes()


@pytest.fixture
def pcap_parts(whole, tmp_path) -> list[Path]:
    return split(whole, tmp_path / "parts", "pcap")


def test_the_feeder_writes_whole_records_only_and_joins_pcap_files(whole, pcap_parts, tmp_path):
    ring, sink = tmp_path / "ring", Sink(tmp_path / "stream")
    ring.mkdir()
    feeder = Feeder(ring, sink.fd)
    first = pcap_parts[0].read_bytes()
    record = record_starts(first)[1]  # the first record's end
    (ring / pcap_parts[0].name).write_bytes(first[:30])  # the header and a piece of the first record
    assert not feeder.pump() and sink.read() == first[:24]  # a header is written, but no packet yet
    record -= 24
    with open(ring / pcap_parts[0].name, "ab") as out:
        out.write(first[30:24 + record + 3])
    assert feeder.pump() and sink.read() == first[:24 + record]  # the second record waits for its end
    assert not feeder.pump()
    with open(ring / pcap_parts[0].name, "ab") as out:
        out.write(first[24 + record + 3:])
    assert feeder.pump() and sink.read() == first
    for part in pcap_parts[1:]:  # the next files: the first is over, their headers are dropped
        shutil.copy(part, ring / part.name)
    assert feeder.pump() and not feeder.pump()
    assert sink.read() == whole.read_bytes()
    assert feeder.state.files == len(pcap_parts) and feeder.state.skipped == 0 and feeder.state.warnings == []


def test_files_deleted_unread_are_counted_and_a_cut_record_dropped(pcap_parts, tmp_path):
    ring, sink = tmp_path / "ring", Sink(tmp_path / "stream")
    ring.mkdir()
    said: list[str] = []
    feeder = Feeder(ring, sink.fd, warn=said.append)
    first = pcap_parts[0].read_bytes()
    (ring / pcap_parts[0].name).write_bytes(first[:-5])  # dumpcap stopped in the middle of the last record
    assert feeder.pump()
    shutil.copy(pcap_parts[-1], ring / pcap_parts[-1].name)  # the ones between were deleted unread
    assert feeder.pump()
    last = pcap_parts[-1].read_bytes()
    record = len(first) - record_starts(first)[-1]  # the last record's length
    assert sink.read() == first[:len(first) - record] + last[24:]
    assert feeder.state.skipped == len(pcap_parts) - 2 and feeder.state.dropped_bytes == record - 5
    assert said == [f"{ring / pcap_parts[0].name} ends in the middle of a record: its last {record - 5} byte(s) "
                    "dropped",
                    f"skipped {len(pcap_parts) - 2} capture file(s) before {ring / pcap_parts[-1].name}: the ring "
                    "buffer deleted them before they were read"]


def test_a_pcapng_file_after_pcap_files_cannot_be_joined(pcap_parts, whole, tmp_path):
    ring, sink = tmp_path / "ring", Sink(tmp_path / "stream")
    ring.mkdir()
    shutil.copy(pcap_parts[0], ring / pcap_parts[0].name)
    run("editcap", "-F", "pcapng", pcap_parts[1], ring / pcap_parts[1].name)
    feeder = Feeder(ring, sink.fd)
    with pytest.raises(FollowError, match="a pcapng file after pcap files"):
        feeder.pump()
    assert sink.read() == pcap_parts[0].read_bytes()


def test_from_newest_begins_at_the_newest_file(pcap_parts, tmp_path):
    sink = Sink(tmp_path / "stream")
    feeder = Feeder(pcap_parts[0].parent, sink.fd, from_newest=True)
    assert feeder.pump() and sink.read() == pcap_parts[-1].read_bytes()


def test_ring_names_and_framing():
    names = ["cap_100000_20261201120000.pcapng", "cap_99999_20261201115959.pcapng", "notes.txt", ".hidden.pcap",
             "cap_00002_20261201113000"]
    assert sorted((n for n in names if not n.endswith(".txt") and not n.startswith(".")), key=order_key) == \
        ["cap_00002_20261201113000", "cap_99999_20261201115959.pcapng", "cap_100000_20261201120000.pcapng"]
    assert missed_between("cap_00002_20261201113000.pcapng", "cap_00005_20261201113300.pcapng") == 2
    assert missed_between("a_00002_20261201113000.pcapng", "b_00005_20261201113300.pcapng") == 0
    assert missed_between(None, "cap_00005_20261201113300.pcapng") == 0
    assert kind_of(bytes.fromhex("d4c3b2a1")) is Kind.PCAP and kind_of(bytes.fromhex("0a0d0d0a")) is Kind.PCAPNG
    assert kind_of(b"GIF8") is None
    # a Section Header Block (28 bytes, little-endian) and the first 8 bytes of the next block
    shb = bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000")
    assert whole_pcapng_blocks(shb + bytes.fromhex("0100000014000000"), ">") == (len(shb), "<", 0)
    spb = bytes.fromhex("03000000100000000000000010000000")  # a Simple Packet Block, no data
    assert whole_pcapng_blocks(shb + spb, "<") == (len(shb) + len(spb), "<", 1)
    record = bytes(8) + (5).to_bytes(4, "little") + bytes(4) + b"12345"  # a pcap record of 5 bytes
    assert whole_pcap_records(record + record[:-1], "<") == len(record)
    with pytest.raises(ValueError):
        whole_pcapng_blocks(bytes.fromhex("0100000005000000") + bytes(8), "<")


def test_capture_files_of_a_folder(tmp_path):
    for name in ("b_00002_20261201113000.pcap", "b_00001_20261201112900.pcap", "x.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.pcap").mkdir()
    assert capture_files(tmp_path) == ["b_00001_20261201112900.pcap", "b_00002_20261201113000.pcap"]
    with pytest.raises(FollowError, match="no such folder"):
        capture_files(tmp_path / "none")
