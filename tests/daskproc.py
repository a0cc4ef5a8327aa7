"""A real Dask scheduler and workers on 127.0.0.1, each a process of its own (`dask scheduler`, `dask worker`).

Used by tests/test_cluster.py and bench/cluster.py. Every process starts in a
session of its own (so it is stopped with everything it started: nanny, worker,
tshark) and is tied to this process with PR_SET_PDEATHSIG, so nothing outlives
the test run even when it is killed; ports are chosen by the operating system
(the scheduler writes its address to a file, workers take a random port).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sipdiag_post.workers import child_setup

DASK = str(Path(sys.executable).with_name("dask"))
START_LIMIT_S = 120.0  # a process that has not started by then is reported, not waited for (a hang guard)


@dataclass
class DaskProcesses:
    folder: Path
    address: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _start(self, command: list[str], env: Mapping[str, str] | None = None, log: str = "dask") -> \
            subprocess.Popen[bytes]:
        out = open(self.folder / f"{log}.log", "ab")  # noqa: SIM115 - kept open for the process's life
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(env or os.environ), start_new_session=True,
                                   preexec_fn=child_setup(os.getpid()))
        out.close()
        self.processes.append(process)
        return process

    def start_scheduler(self) -> str:
        info = self.folder / "scheduler.json"
        process = self._start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--dashboard-address", "127.0.0.1:0",  # its HTTP server: not on a fixed port
                               "--scheduler-file", str(info)], log="scheduler")
        deadline = time.monotonic() + START_LIMIT_S
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.address = json.loads(info.read_text())["address"]
                return self.address
            time.sleep(0.05)
        raise RuntimeError(f"the dask scheduler did not start: {self.log('scheduler')}")

    def start_worker(self, name: str, env: Mapping[str, str] | None = None, nanny: bool = True) -> \
            subprocess.Popen[bytes]:
        command = [DASK, "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                   "--name", name, "--death-timeout", "60", "--nanny" if nanny else "--no-nanny"]
        return self._start(command, env, log=name)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def wait_for_workers(self, count: int) -> None:
        """Until exactly `count` workers are connected to the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            deadline = time.monotonic() + START_LIMIT_S
            while len(client.nthreads()) != count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(client.nthreads())} workers, not {count}")
                time.sleep(0.1)

    @staticmethod
    def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        """The process and everything in its session: sig, then SIGKILL if it lingers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(ProcessLookupError):  # what the process left behind in its session
            os.killpg(process.pid, signal.SIGKILL)

    def close(self) -> None:
        for process in reversed(self.processes):  # workers first, the scheduler last
            self.stop(process)
        self.processes.clear()


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int, nanny: bool = True) -> Iterator[DaskProcesses]:
    """A scheduler and `workers` single-threaded workers, stopped on leaving (on errors too)."""
    procs = DaskProcesses(folder)
    try:
        procs.start_scheduler()
        for i in range(workers):
            procs.start_worker(f"worker-{i}", nanny=nanny)
        procs.wait_for_workers(workers)
        yield procs
    finally:
        procs.close()


def session_of(pid: int) -> int | None:
    """The session id of a process (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[3])


def tsharks_in_session(session: int) -> list[tuple[int, str]]:
    """(pid, command line) of the tshark processes in a session."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command and command[0].endswith(b"tshark") and session_of(int(entry.name)) == session:
            found.append((int(entry.name), b" ".join(command).decode("utf-8", "replace")))
    return found
