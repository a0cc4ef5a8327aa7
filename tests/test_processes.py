"""Stopping sipdiag: Ctrl-C, SIGTERM and SIGKILL end the whole process tree at once.

The batch is made provably long, so that "it ended within BOUND_S" can only
mean the interruption worked: N captures whose tshark alone needs C CPU
seconds each cannot finish, two at a time, in less than N * C / 2 seconds
(tshark dissects in one thread), and the fixture asserts that this is at
least RATIO times the bound. CPU time, unlike wall time, does not shrink when
the machine is idle, so the argument holds on a loaded or an idle machine.

Every process of a run carries a marker in its environment (inherited by the
workers and by tshark), so that what outlives sipdiag is found in /proc even
after it has been re-parented.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipdiag_post.tshark import tap_command

ROOT = Path(__file__).resolve().parent.parent
LOSS = ROOT / "fixtures" / "media-loss" / "capture.pcap"
BOUND_S = 5.0  # Ctrl-C or SIGTERM: sipdiag has exited, and nothing of it is left, within this
KILL_BOUND_S = 5.0  # SIGKILL: the workers and tshark are gone within this
RATIO = 4.0  # the batch run normally takes at least this many times BOUND_S
CAPTURES = 48
COPIES = 250  # the media-loss fixture this many times over in each capture (148,250 packets)
MARK = "SIPDIAG_TEST_RUN"


@dataclass(frozen=True)
class SlowBatch:
    folder: Path
    one_capture_cpu_s: float

    @property
    def least_batch_s(self) -> float:
        return CAPTURES * self.one_capture_cpu_s / 2


@pytest.fixture(scope="module")
def slow_batch(tshark, tmp_path_factory) -> SlowBatch:
    base = tmp_path_factory.mktemp("slow")
    plain = base / "media.pcap"
    subprocess.run(["editcap", "-F", "pcap", str(LOSS), str(plain)], check=True, capture_output=True)
    big = base / "big.pcap"
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(big), *[str(plain)] * COPIES], check=True)
    folder = base / "batch"
    folder.mkdir()
    for i in range(CAPTURES):
        os.link(big, folder / f"capture-{i:02}.pcap")  # one file on disk, CAPTURES captures to analyse
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(tap_command(tshark, big, base / "one.pdml"), check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    batch = SlowBatch(folder, cpu)
    assert batch.least_batch_s >= RATIO * BOUND_S, (
        f"the batch is not provably long: {CAPTURES} x {cpu:.2f} CPU s / 2 = {batch.least_batch_s:.1f} s")
    print(f"\none capture: {cpu:.2f} CPU s; the batch needs at least {batch.least_batch_s:.1f} s uninterrupted")
    return batch


@dataclass(frozen=True)
class Proc:
    command: list[str]
    started: float  # CLOCK_BOOTTIME seconds


_TICK = os.sysconf("SC_CLK_TCK")


def _marked(token: str) -> dict[int, Proc]:
    """Live processes that carry this run's marker."""
    found = {}
    needle = f"{MARK}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone, or a zombie
        if needle in environ.split(b"\0"):
            started = int(stat.rsplit(")", 1)[1].split()[19]) / _TICK
            found[int(entry)] = Proc([a.decode(errors="replace") for a in command.split(b"\0")], started)
    return found


def _tsharks(token: str) -> dict[int, Proc]:
    """This run's tshark processes running the tap (not `tshark -v` or the like)."""
    return {pid: p for pid, p in _marked(token).items()
            if Path(p.command[0]).name == "tshark" and any(a.startswith("lua_script:") for a in p.command)}


def _now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass
class Run:
    proc: subprocess.Popen[str]
    token: str
    tmp: Path


def _start(args: list[str], tmp: Path) -> Run:
    token = uuid.uuid4().hex
    (tmp / "t").mkdir()
    (tmp / "home").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp / "t"), HOME=str(tmp / "home"), **{MARK: token})
    # as from a terminal: Ctrl-C not ignored, even when the tests run in a background job (which ignores it)
    proc = subprocess.Popen([sys.executable, "-m", "sipdiag_post", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return Run(proc, token, tmp)


def _wait_for_tsharks(run: Run, count: int) -> None:
    """Until `count` tshark processes of this run are at work."""
    deadline = time.monotonic() + 60
    while len(_tsharks(run.token)) < count:
        assert run.proc.poll() is None, run.proc.stderr.read() if run.proc.stderr else ""
        assert time.monotonic() < deadline, "tshark never started"
        time.sleep(0.01)
    time.sleep(0.3)  # well into the captures


def _until(condition, deadline: float) -> bool:
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("jobs", [2, 1])
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_batch_ends_at_once_and_leaves_nothing(slow_batch, tmp_path, jobs, how):
    run = _start(["analyze", str(slow_batch.folder), "--jobs", str(jobs)], tmp_path)
    _wait_for_tsharks(run, jobs)
    sent = time.monotonic()
    if how == "ctrl-c":
        os.killpg(run.proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    else:
        run.proc.send_signal(signal.SIGTERM)  # what a supervisor does: sipdiag alone
    try:
        _, stderr = run.proc.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        run.proc.kill()
        pytest.fail(f"sipdiag still running {BOUND_S} s after {how} (the batch needs {slow_batch.least_batch_s:.0f} s)")
    took = time.monotonic() - sent
    assert run.proc.returncode == 130, stderr
    assert stderr.splitlines() == ["sipdiag: interrupted"], stderr
    assert _until(lambda: not _marked(run.token), sent + BOUND_S), f"left running: {_marked(run.token)}"
    assert list((tmp_path / "t").iterdir()) == []
    assert list((tmp_path / "home").iterdir()) == []
    print(f"\n{how}, --jobs {jobs}: exited {took:.2f} s after the signal "
          f"(uninterrupted: at least {slow_batch.least_batch_s:.0f} s)")


@pytest.mark.parametrize("jobs", [2, 1])
def test_a_killed_sipdiag_takes_its_workers_and_tshark_with_it(slow_batch, tmp_path, jobs):
    """SIGKILL to sipdiag alone, as `docker stop` ends: nothing of it keeps running or starts afterwards."""
    run = _start(["analyze", str(slow_batch.folder), "--jobs", str(jobs)], tmp_path)
    _wait_for_tsharks(run, jobs)
    sent, killed_at = time.monotonic(), _now()
    run.proc.kill()
    run.proc.wait()
    late: dict[int, Proc] = {}

    def gone() -> bool:
        late.update({pid: p for pid, p in _tsharks(run.token).items() if p.started > killed_at + 0.05})
        return not _marked(run.token)

    assert _until(gone, sent + KILL_BOUND_S), f"left running: {_marked(run.token)}"
    took = time.monotonic() - sent
    watch_until = time.monotonic() + 2  # and nothing new starts afterwards
    while time.monotonic() < watch_until:
        assert not _marked(run.token), f"started after the kill: {_marked(run.token)}"
        time.sleep(0.05)
    assert not late, f"tshark started after the kill: {late}"
    if jobs > 1:  # the workers remove their files, the last one out the batch's folder (alone, nothing can)
        assert _until(lambda: not list((tmp_path / "t").iterdir()), sent + KILL_BOUND_S), \
            list((tmp_path / "t").iterdir())
    print(f"\nSIGKILL, --jobs {jobs}: workers and tshark gone {took:.2f} s after the kill")


def test_an_interrupted_export_leaves_no_files_and_no_tshark(slow_batch, tmp_path):
    capture = next(slow_batch.folder.iterdir())
    out = tmp_path / "out.pdml"
    run = _start(["export", str(capture), "-o", str(out)], tmp_path)
    _wait_for_tsharks(run, 1)
    os.killpg(run.proc.pid, signal.SIGINT)
    _, stderr = run.proc.communicate(timeout=BOUND_S)
    assert run.proc.returncode == 130 and stderr.splitlines() == ["sipdiag: interrupted"]
    assert not _marked(run.token)
    assert list((tmp_path / "t").iterdir()) == [] and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "t"]


def test_a_worker_that_dies_loses_only_its_own_capture(tshark, tmp_path):
    """A worker killed from outside (the OOM killer, say): its capture is an error, the others are analysed."""
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("486-busy-inbound", "healthy-call", "cancel-487", "603-decline"):
        os.link(ROOT / "fixtures" / name / "capture.pcap", folder / f"{name}.pcap")
    token = uuid.uuid4().hex
    env = dict(os.environ, **{MARK: token})
    proc = subprocess.Popen([sys.executable, "-m", "sipdiag_post", "analyze", str(folder), "--jobs", "2",
                             "--format", "json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        for pid in _tsharks(token):  # the worker running this tshark
            try:
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue  # that tshark has finished
            if parent != proc.pid:
                victim = parent
                break
        time.sleep(0.005)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=60)
    report = json.loads(stdout)
    statuses = [c["status"] for c in report["captures"]]
    assert statuses.count("error") == 1 and statuses.count("ok") == 3, statuses
    lost = next(c for c in report["captures"] if c["status"] == "error")
    assert "killed by signal 9" in lost["error"]
    assert proc.returncode == 1 and len(stderr.splitlines()) == 1  # the others' fails; the lost one is its error


def test_the_early_tshark_version_probe_is_ended_when_sipdiag_exits_without_asking_it(tmp_path):
    # a tshark that never answers -v: sipdiag begins the probe as it starts, then stops at a usage error
    # before it needs tshark; the probe does not outlive it
    fake = tmp_path / "tshark"
    fake.write_text("#!/bin/sh\necho started >> \"$0.log\"\nexec sleep 600\n")
    fake.chmod(0o755)
    token = uuid.uuid4().hex
    env = dict(os.environ, SIPDIAG_TSHARK=str(fake), **{MARK: token})
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", "analyze", str(LOSS), "--format", "nonsense"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert _marked(token) == {}, "a process of the run outlived sipdiag"
