"""Inputs and outputs as files: compressed captures within limits, hostile names, whole-or-nothing writes."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sipdiag_post import inputs
from sipdiag_post.output import encoded, shown_name
from tests.test_cli import one_line_error

ROOT = Path(__file__).resolve().parent.parent
BUSY = ROOT / "fixtures" / "486-busy-inbound" / "capture.pcap"
HEALTHY = ROOT / "fixtures" / "healthy-call" / "capture.pcap"
LOSS = ROOT / "fixtures" / "media-loss" / "capture.pcap"
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def sipdiag(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
            stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, check=False, env=dict(os.environ, **(env or {})))
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr, done.stderr
    return done


def text(done: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    """The run with its output as text, strictly UTF-8 (a byte that is not UTF-8 fails the test)."""
    return subprocess.CompletedProcess(done.args, done.returncode, (done.stdout or b"").decode("utf-8"),
                                       done.stderr.decode("utf-8"))


def _bomb(path: Path, members: int, member_size: int, lying_trailer: bool = False) -> Path:
    """A pcap header and zeros, gzip-compressed as `members` members of member_size bytes each.

    With lying_trailer, every member's ISIZE field claims 100 bytes."""
    member = gzip.compress(PCAP_HEADER + bytes(member_size), compresslevel=9)
    if lying_trailer:
        member = member[:-4] + struct.pack("<I", 100)
    path.write_bytes(member * members)
    return path


# --- decompression bombs and the packet limit ---------------------------------------------------

def test_the_limits_have_their_documented_defaults_and_can_be_changed():
    assert inputs.Limits() == inputs.Limits(max_decompressed=2 * 1024**3, max_packets=10_000_000)
    assert inputs.limits_from(None, None, {}) == inputs.Limits()
    assert inputs.limits_from("512M", "1_000", {}) == inputs.Limits(512 * 1024**2, 1000)
    env = {inputs.ENV_MAX_DECOMPRESSED: "4GiB", inputs.ENV_MAX_PACKETS: "0"}
    assert inputs.limits_from(None, None, env) == inputs.Limits(4 * 1024**3, 0)
    assert inputs.limits_from("1k", None, env).max_decompressed == 1024  # the command line wins
    with pytest.raises(ValueError, match="SIPDIAG_MAX_PACKETS"):
        inputs.limits_from(None, None, {inputs.ENV_MAX_PACKETS: "many"})


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_decompression_bomb_is_refused_in_one_line(tmp_path, how):
    bomb = _bomb(tmp_path / "bomb.pcap.gz", members=4, member_size=8 * 1024**2)  # 32 MiB from 130 KB
    assert bomb.stat().st_size < 200_000
    if how == "option":
        done = text(sipdiag("analyze", str(bomb), "--max-decompressed", "1M"))
    else:
        done = text(sipdiag("analyze", str(bomb), env={"SIPDIAG_MAX_DECOMPRESSED": "1M"}))
    assert done.returncode == 3
    assert "decompresses to more than 1 MiB" in one_line_error(done)
    assert "--max-decompressed or SIPDIAG_MAX_DECOMPRESSED" in done.stderr


def test_a_lying_gzip_trailer_does_not_fool_the_limit(tmp_path):
    """Each member's trailer claims 100 bytes; the bytes are counted as they come out."""
    bomb = _bomb(tmp_path / "liar.pcap.gz", members=2, member_size=4 * 1024**2, lying_trailer=True)
    assert struct.unpack("<I", bomb.read_bytes()[-4:]) == (100,)
    done = text(sipdiag("analyze", str(bomb), "--max-decompressed", "1M"))
    assert done.returncode == 3 and "decompresses to more than 1 MiB" in one_line_error(done)
    # under the limit, zlib finds the lie at the member's end: damaged data, what came before is analysed
    liar = tmp_path / "busy.pcap.gz"
    liar.write_bytes(gzip.compress(BUSY.read_bytes())[:-4] + struct.pack("<I", 100))
    capture = json.loads(text(sipdiag("analyze", str(liar), "--format", "json")).stdout)["captures"][0]
    assert capture["status"] == "truncated" and capture["calls"][0]["final_status"] == 486
    assert capture["error"].startswith("gzip data damaged after") and "incorrect length check" in capture["error"]


def test_a_compressed_capture_is_known_by_its_bytes_not_its_name(tmp_path):
    bomb = _bomb(tmp_path / "innocent.pcap", members=2, member_size=4 * 1024**2)
    done = text(sipdiag("analyze", str(bomb), "--max-decompressed", "1M"))
    assert done.returncode == 3 and "decompresses to more than 1 MiB" in one_line_error(done)


def test_a_bomb_in_a_batch_is_that_capture_s_error_only(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    _bomb(folder / "bomb.pcap.gz", members=4, member_size=8 * 1024**2)
    shutil.copy(BUSY, folder / "busy.pcap")
    (folder / "healthy.pcap.gz").write_bytes(gzip.compress(HEALTHY.read_bytes()))
    done = text(sipdiag("analyze", str(folder), "--jobs", "2", "--format", "json", "--max-decompressed", "1M"))
    assert done.returncode == 1  # what the busy call earned: the bomb's own error does not change it
    by_name = {Path(c["path"]).name: c for c in json.loads(done.stdout)["captures"]}
    assert by_name["bomb.pcap.gz"]["status"] == "error"
    assert by_name["busy.pcap"]["status"] == by_name["healthy.pcap.gz"]["status"] == "ok"
    assert len(done.stderr.splitlines()) == 1


def test_the_packet_limit_truncates_and_says_so(tmp_path):
    packed = tmp_path / "healthy.pcap.gz"
    packed.write_bytes(gzip.compress(HEALTHY.read_bytes()))
    whole = json.loads(text(sipdiag("analyze", str(HEALTHY), "--format", "json")).stdout)["captures"][0]
    packets = int(next(c for c in whole["capture_checks"] if c["id"] == "CAP003")["summary"].split()[1])

    done = text(sipdiag("analyze", str(packed), "--format", "json", "--max-packets", "50"))
    assert done.returncode == 3
    capture = json.loads(done.stdout)["captures"][0]
    assert capture["status"] == "truncated"
    assert capture["error"].startswith(f"packet limit reached: read the first 50 packets of {packets}")
    assert "--max-packets or SIPDIAG_MAX_PACKETS" in capture["error"]
    cap003 = next(c for c in capture["capture_checks"] if c["id"] == "CAP003")
    assert cap003["status"] == "fail" and "first 50 packets" in cap003["summary"]
    assert "packet limit reached" in one_line_error(done)

    # exactly as many packets as the limit: nothing was left unread
    exact = text(sipdiag("analyze", str(packed), "--format", "json", env={"SIPDIAG_MAX_PACKETS": str(packets)}))
    assert exact.returncode == 0 and json.loads(exact.stdout)["captures"][0]["status"] == "ok"
    # a plain capture is read as it is
    assert text(sipdiag("analyze", str(HEALTHY), "--max-packets", "50")).returncode == 0


def test_export_stopped_by_the_packet_limit_writes_the_part_and_exits_3(tmp_path):
    packed = tmp_path / "busy.pcap.gz"
    packed.write_bytes(gzip.compress(BUSY.read_bytes()))
    done = text(sipdiag("export", str(packed), "-o", str(tmp_path / "out.pdml"), "--max-packets", "2"))
    assert done.returncode == 3 and "packet limit reached" in one_line_error(done)
    assert b"packet limit reached" in (tmp_path / "out.pdml").read_bytes()


def test_a_cut_gzip_capture_keeps_what_came_before_the_cut(tmp_path):
    packed = gzip.compress(LOSS.read_bytes())
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    capture = json.loads(text(sipdiag("analyze", str(cut), "--format", "json")).stdout)["captures"][0]
    assert capture["status"] == "truncated" and capture["calls"]
    assert capture["error"].startswith("gzip data damaged after") and "cut short" in capture["error"]


@pytest.mark.parametrize("tool", ["zstd", "lz4"])
def test_zstd_and_lz4_captures_are_held_to_the_same_limits(tmp_path, tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    packed = tmp_path / f"busy.pcap.{tool}"
    subprocess.run([tool, "-q", "-c", str(BUSY)], stdout=packed.open("wb"), check=True)
    ok = text(sipdiag("analyze", str(packed), "--format", "json"))
    assert ok.returncode == 1 and json.loads(ok.stdout)["captures"][0]["calls"][0]["final_status"] == 486
    refused = text(sipdiag("analyze", str(packed), "--max-decompressed", "1k"))
    assert refused.returncode == 3 and "decompresses to more than 1 KiB" in one_line_error(refused)


# --- names that are options, and names that are not UTF-8 -----------------------------------------

def test_a_capture_named_like_an_option_is_read_as_a_file(tmp_path):
    shutil.copy(BUSY, tmp_path / "-H.pcap")
    done = text(sipdiag("analyze", "--format", "json", "--", "-H.pcap", cwd=tmp_path))
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["captures"][0]["calls"][0]["final_status"] == 486
    # without SIP, capinfos names the link type: it too reads -H.pcap as a file
    nosip = tmp_path / "nosip"
    nosip.mkdir()
    subprocess.run(["editcap", "-F", "pcap", "-r", str(LOSS), str(nosip / "-H.pcap"), "20-40"], check=True)
    done = text(sipdiag("analyze", "--", "-H.pcap", cwd=nosip))
    assert "no SIP found in 21 packets (link type ether)" in done.stdout, done.stdout + done.stderr
    # and a capture named "-" is not standard input
    shutil.copy(BUSY, tmp_path / "-")
    done = text(subprocess.run([sys.executable, "-m", "sipdiag_post", "analyze", "--", "-"], cwd=tmp_path,
                               capture_output=True, stdin=subprocess.DEVNULL, check=False))
    assert done.returncode == 1 and "486 Rejected" in done.stdout


def test_names_that_are_not_utf8_survive_every_format(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    odd = os.fsencode(folder) + b"/call-\xff\xfe.pcap"
    shutil.copy(BUSY, odd)
    Path(os.fsdecode(os.fsencode(folder) + b"/empty-\xe9.pcap")).write_bytes(b"")
    for fmt in ("json", "table", "csv", "markdown", "junit", "html"):
        out = tmp_path / f"report.{fmt}"
        done = text(sipdiag("analyze", str(folder), "--format", fmt, "-o", str(out)))
        assert done.returncode == 1, (fmt, done.stderr)  # the busy call fails; the empty file is its own error
        written = out.read_bytes().decode("utf-8")  # valid UTF-8
        assert "call-\\xff\\xfe.pcap" in written or "call-\\\\xff\\\\xfe.pcap" in written, fmt
        assert done.stderr.splitlines() == [f"sipdiag: {folder}/empty-\\xe9.pcap: empty file (0 bytes), not a capture"]
    report = json.loads((tmp_path / "report.json").read_bytes())
    paths = [c["path"] for c in report["captures"]]
    assert paths == [f"{folder}/call-\\xff\\xfe.pcap", f"{folder}/empty-\\xe9.pcap"]  # the text \xff\xfe
    assert report["captures"][0]["calls"][0]["final_status"] == 486
    stdout = text(sipdiag("analyze", str(folder), "--format", "json"))  # and on standard output
    assert json.loads(stdout.stdout) == report


def test_a_name_is_carried_losslessly_until_it_is_shown():
    name = os.fsdecode(b"/captures/\xff-\xc3\xa9-\xe2\x82.pcap")  # bad byte, good UTF-8, a cut sequence
    assert os.fsencode(name) == b"/captures/\xff-\xc3\xa9-\xe2\x82.pcap"
    assert shown_name(name) == "/captures/\\xff-\u00e9-\\xe2\\x82.pcap"
    assert json.loads(encoded(json.dumps({"p": name}, ensure_ascii=False), json=True)) == {"p": shown_name(name)}


# --- writing: whole or not at all ----------------------------------------------------------------

def test_a_link_at_the_destination_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for command in (["analyze", str(BUSY), "--format", "json"], ["export", str(BUSY)]):
        link = tmp_path / "report.out"
        link.unlink(missing_ok=True)
        link.symlink_to(victim)
        done = sipdiag(*command, "-o", str(link))
        assert done.returncode in (0, 1), done.stderr
        assert victim.read_text() == "precious\n"
        assert not link.is_symlink() and link.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.out", "victim.txt"]  # no temporary left


def test_install_plugin_replaces_a_link_rather_than_writing_through_it(tmp_path):
    victim = tmp_path / "victim.lua"
    victim.write_text("-- precious\n")
    env = {"HOME": str(tmp_path / "home")}
    first = text(sipdiag("install-plugin", env=env))
    assert first.returncode == 0, first.stderr
    target = Path(first.stdout.split()[1])
    target.unlink()
    target.symlink_to(victim)
    assert text(sipdiag("install-plugin", env=env)).returncode == 0
    assert victim.read_text() == "-- precious\n"
    assert not target.is_symlink() and target.read_bytes() == (ROOT / "lua" / "sipdiag.lua").read_bytes()


def test_the_replaced_report_keeps_its_mode(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    out.chmod(0o640)
    assert sipdiag("analyze", str(BUSY), "--format", "json", "-o", str(out)).returncode == 1
    assert oct(out.stat().st_mode & 0o777) == "0o640" and json.loads(out.read_bytes())["captures"]


def test_a_full_device_is_one_line_exit_2(tmp_path):
    done = text(sipdiag("analyze", str(BUSY), "-o", "/dev/full"))
    assert done.returncode == 2 and "No space left on device" in one_line_error(done)
    with open("/dev/full", "wb") as full:  # standard output on a full device
        done = text(sipdiag("analyze", str(BUSY), "--format", "json", stdout=full))
    assert done.returncode == 2
    assert one_line_error(done) == "sipdiag: error: standard output: cannot write: No space left on device"
    with open("/dev/full", "wb") as full:
        done = text(sipdiag("export", str(BUSY), "-o", "/dev/full", stdout=full))
    assert done.returncode == 2 and "No space left on device" in one_line_error(done)


def test_a_device_or_a_pipe_is_written_in_place():
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", "analyze", str(BUSY), "--format", "json",
                           "-o", "/dev/stdout"], cwd=ROOT, capture_output=True, check=False)
    assert done.returncode == 1 and json.loads(done.stdout)["captures"]
    assert sipdiag("analyze", str(BUSY), "-o", "/dev/null").returncode == 1
    assert Path("/dev/stdout").is_symlink()  # still the link it was


@contextlib.contextmanager
def _tiny_disk(where: Path, size: str):
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_leaves_the_old_report_whole(tmp_path):
    with _tiny_disk(tmp_path / "disk", "16k") as disk:
        out = disk / "report.html"
        out.write_text("the previous report\n")
        done = text(sipdiag("analyze", str(BUSY), str(HEALTHY), str(LOSS), "--format", "html", "-o", str(out)))
        assert done.returncode == 2 and "No space left on device" in one_line_error(done)
        assert out.read_text() == "the previous report\n"
        assert [p.name for p in disk.iterdir()] == ["report.html"]  # the partial copy is gone
        pdml = text(sipdiag("export", str(LOSS), "-o", str(disk / "out.pdml")))
        assert pdml.returncode == 2 and "No space left on device" in one_line_error(pdml)
        assert [p.name for p in disk.iterdir()] == ["report.html"]
