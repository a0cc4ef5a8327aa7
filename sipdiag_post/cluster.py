"""Many captures on a Dask cluster: one task per capture, the reports gathered on the client.

`--cluster tcp://HOST:8786` connects to a running scheduler (`dask scheduler`
and `dask worker --nthreads 1` on each machine); `--cluster local:N` starts a
LocalCluster of N single-threaded worker processes on this machine. Dask is
optional (`pip install 'sipdiag[cluster]'`) and imported only here, only when
a cluster is asked for.

What each side does:

- The client expands folders (local ones, and folder URLs by listing them),
  submits one task per capture and gathers the reports as they finish. It
  never reads a capture, and needs no tshark.
- A worker finds its own tshark (the client's --tshark path when given, else
  as `sipdiag doctor` would), reads the capture from the shared filesystem or
  copies its URL to its local disk (sipdiag_post/remote.py), runs the tap and
  the rules, removes its files, and sends back the report (the per-call
  analysis is dropped unless the HTML report needs it). A worker runs one
  task per thread (`--nthreads 1`: one tshark at a time); `--jobs` does not
  apply. tshark is tied to the worker thread that starts it
  (PR_SET_PDEATHSIG fires when that thread ends); Dask's pool threads live
  as long as the worker, so tshark ends with the worker process.
- A worker without a usable tshark (or with another sipdiag version) gets
  no more of the run's tasks; what it was given goes to the other workers.
- A worker that dies mid-task: the scheduler gives its task to another worker
  (Dask's own resilience; after `distributed.scheduler.allowed-failures`
  deaths, 3 by default, the capture is reported as an error). A capture that
  fails is reported with its error; the rest complete.
- Ctrl-C or SIGTERM: the tasks are cancelled (those not yet started never
  start), every worker stops the tshark of this run's running tasks (found
  by the run's mark in their temporary folder's name; the task then ends and
  removes its files), the client disconnects (a local cluster is shut down)
  and sipdiag exits 130.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import __version__
from .continuous import Window, analyse_window, first_packet_time, plan, without_fragments
from .inputs import Limits
from .pipeline import RuleOptions, Source, TapOptions, analyse_capture, error_report
from .report import CaptureReport
from .tshark import Tshark, TsharkError, find_tshark

ENV_CLUSTER = "SIPDIAG_CLUSTER"
NEEDS_DASK = "--cluster needs Dask: pip install 'sipdiag[cluster]'"
CONNECT_TIMEOUT_S = 20  # to reach the scheduler
WORKERS_TIMEOUT_S = 60  # for a first worker to join
_LOCAL = re.compile(r"local(?::(\d+))?")
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


class ClusterError(Exception):
    """The cluster cannot be used: Dask is not installed, the scheduler cannot be reached, no worker joins
    (exit code 4, as for a missing tshark)."""


class WorkerUnfit(Exception):
    """A worker cannot analyse like the client would: no usable tshark, or another sipdiag version."""

    def __init__(self, worker: str, message: str) -> None:
        super().__init__(worker, message)
        self.worker = worker  # its address
        self.message = message

    def __str__(self) -> str:
        return f"worker {self.worker}: {self.message}"


@dataclass(frozen=True)
class Cluster:
    """Where the work goes: a scheduler's address, or a LocalCluster of `workers` processes."""

    address: str | None  # tcp://host:8786; None for a local cluster
    workers: int = 0  # local cluster: worker processes (one thread each)

    def __str__(self) -> str:
        return self.address or f"local:{self.workers}"


def parse_cluster(text: str, cores: int = 1) -> Cluster:
    """tcp://HOST:PORT (tls://, ws://, wss://, ucx:// too), HOST:PORT, or local:N (local: one per core).

    ValueError with one line when it is none of these."""
    text = text.strip()
    local = _LOCAL.fullmatch(text)
    if local:
        workers = int(local[1]) if local[1] else cores
        if workers < 1:
            raise ValueError(f"--cluster {text}: a local cluster needs at least 1 worker")
        return Cluster(None, workers)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    host, colon, port = rest.rpartition(":")
    if scheme not in _SCHEMES or not colon or not host or not port.isdigit():
        raise ValueError(f"--cluster {text!r}: expected tcp://HOST:PORT (the scheduler's address) or local:N")
    return Cluster(f"{scheme}://{rest}")


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(NEEDS_DASK) from None
    return distributed


@contextlib.contextmanager
def connect(cluster: Cluster) -> Iterator[Any]:
    """A Dask client for the cluster, with a worker ready; closed (a local cluster shut down) on leaving."""
    distributed = _distributed()
    for name in ("distributed", "distributed.client", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # sipdiag says what went wrong, in one line
    with contextlib.ExitStack() as stack:
        if cluster.address is None:
            import dask

            # its profiler's sampling costs CPU; Ctrl-C is for sipdiag, which stops the cluster (the workers
            # share its terminal's process group, and keep SIGINT ignored through exec)
            with dask.config.set({"distributed.worker.profile.enabled": False}), _sigint_ignored():
                local = stack.enter_context(distributed.LocalCluster(
                    n_workers=cluster.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},  # no fixed port 8787
                    silence_logs=logging.CRITICAL))
            address: Any = local
        else:
            address = cluster.address
            _reachable(cluster.address)
        try:
            client = stack.enter_context(distributed.Client(address, timeout=CONNECT_TIMEOUT_S,
                                                            set_as_default=False))
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {cluster}: {_one_line(exc)}") from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise ClusterError(f"no Dask worker joined the scheduler at {cluster} within {WORKERS_TIMEOUT_S} s "
                               "(start some: dask worker ADDRESS --nthreads 1)") from None
        yield client


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while processes are started (they keep it so); the handler restored afterwards."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _reachable(address: str) -> None:
    """A tcp:// scheduler refusing connections is said at once (Dask's client would retry until its timeout)."""
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp":
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or _one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --- the worker's side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerTap:
    """TapOptions as the client gives them: each worker finds its own tshark, and gets the TLS keys' content."""

    tshark: str | None  # an explicit path (--tshark, the config file); None: each worker's own search
    decode_as: tuple[str, ...] = ()
    tls_keys: bytes | None = None  # the --tls-keylog file's content
    limits: Limits = field(default_factory=Limits)
    options: tuple[str, ...] = ()  # --tshark-option NAME:VALUE preferences


@functools.lru_cache(maxsize=4)
def _worker_tshark(explicit: str | None) -> Tshark:
    return find_tshark(explicit)


def _where() -> str:
    """This worker's address, for messages ('' outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


class RunStopped(Exception):
    """The run this task belongs to was stopped (Ctrl-C on the client)."""


_STOPPED: set[str] = set()  # runs stopped on this worker: a task of theirs that starts still ends at once


def _run_mark(run: str) -> str:
    """What the name of a run's temporary folders starts with, on every worker (and so tshark's command line)."""
    return f"sipdiag-run-{run}-"


def first_time_task(spec: WorkerTap, path: Path) -> float | None:
    """A capture's first packet time, on a worker (the first pass of --continuous)."""
    return first_packet_time(_worker_tshark(spec.tshark), path)


def analyse_task(spec: WorkerTap, rules: RuleOptions, capture: Source | Window, client_version: str,
                 keep_analysis: bool, run: str = "") -> CaptureReport:
    """One capture (or one window of rotating files) on a worker (the task the client submits); its files go in
    a folder marked with the run."""
    if run in _STOPPED:  # cancelled while it waited on this worker
        raise RunStopped(f"run {run} was stopped")
    if __version__ != client_version:
        raise WorkerUnfit(_where(), f"sipdiag {__version__} here, {client_version} on the client")
    try:
        tshark = _worker_tshark(spec.tshark)
    except TsharkError as exc:
        raise WorkerUnfit(_where(), str(exc)) from None
    tap = TapOptions(tshark=tshark, decode_as=spec.decode_as, limits=spec.limits, options=spec.options)
    with tempfile.TemporaryDirectory(prefix=_run_mark(run)) as tmp:
        if spec.tls_keys is not None:
            keys = Path(tmp) / "keylog.txt"
            keys.write_bytes(spec.tls_keys)
            tap = replace(tap, tls_keylog=keys)
        if isinstance(capture, Window):
            report = analyse_window(tap, rules, capture, Path(tmp))
        else:
            report = analyse_capture(tap, rules, capture, Path(tmp))
    if not keep_analysis:
        report = replace(report, calls=tuple(replace(call, analysis=None) for call in report.calls))
    return report


def stop_run(run: str, grace_s: float = 2.0) -> int:
    """On a worker: SIGTERM to every process whose command line names this run's folders (its tshark), a grace
    period for the tasks to remove their folders, then what is left is removed; how many processes were found.
    A task of the run that starts afterwards (its cancellation not yet arrived) ends at once."""
    _STOPPED.add(run)
    mark = _run_mark(run)
    stopped = 0
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGTERM)
                stopped += 1
        except OSError:
            continue
    folders = Path(tempfile.gettempdir()).glob(f"{mark}*")
    deadline = time.monotonic() + grace_s
    while (left := list(folders)) and time.monotonic() < deadline:
        time.sleep(0.05)
        folders = Path(tempfile.gettempdir()).glob(f"{mark}*")
    for folder in left:
        shutil.rmtree(folder, ignore_errors=True)
    return stopped


# --- the client's side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterRun:
    reports: list[CaptureReport]  # in the order of the captures
    unfit: tuple[str, ...] = ()  # the workers that could not analyse, and why (no usable tshark, another sipdiag)
    stranded: bool = False  # some capture found no fit worker left: it is reported as an error


def _failed(capture: Source | Window, exc: BaseException) -> CaptureReport:
    name = capture.path if isinstance(capture, Window) else capture
    return error_report(str(name), f"analysis failed on the cluster: {type(exc).__name__}: {_one_line(exc)}")


def analyse_continuous_on(client: Any, spec: WorkerTap, rules: RuleOptions, paths: Sequence[Path], overlap: float,
                          on_done: Callable[[CaptureReport], None] | None = None) -> ClusterRun:
    """--continuous on the cluster: each file's first packet time (a small task each), then a task per window."""
    distributed = _distributed()
    futures = client.map(first_time_task, [spec] * len(paths), list(paths), pure=False)
    try:
        for _ in distributed.as_completed(futures, loop=client.loop):
            pass
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        raise
    starts = [f.result() if f.status == "finished" else None for f in futures]  # a file without a time: its error
    windows = plan(paths, starts, overlap)
    run = analyse_on(client, spec, rules, windows, on_done=on_done)
    return replace(run, reports=without_fragments(run.reports))


def analyse_on(client: Any, spec: WorkerTap, rules: RuleOptions, captures: Sequence[Source | Window], *,
               keep_analysis: bool = False,
               on_done: Callable[[CaptureReport], None] | None = None) -> ClusterRun:
    """One task per capture on the client's cluster; reports in the captures' order, on_done as each finishes.

    A worker found unfit (no usable tshark, another sipdiag) gets no more of
    the run's tasks: what it was given goes to the other workers, and only
    when none is left is a capture reported as an error for it. An
    interruption cancels every task and is re-raised."""
    distributed = _distributed()
    run = uuid.uuid4().hex

    def submit(capture: Source | Window, workers: list[str] | None = None) -> Any:
        return client.submit(analyse_task, spec, rules, capture, __version__, keep_analysis, run, pure=False,
                             workers=workers, allow_other_workers=False)

    futures = [submit(capture) for capture in captures]
    index_of = {future.key: index for index, future in enumerate(futures)}
    reports: list[CaptureReport | None] = [None] * len(captures)
    unfit: dict[str, str] = {}  # worker address -> why
    stranded = False
    pending = distributed.as_completed(futures, loop=client.loop)
    try:
        for future in pending:
            index = index_of[future.key]
            try:
                report = future.result()
            except WorkerUnfit as exc:
                unfit.setdefault(exc.worker, str(exc))
                fit = [w for w in client.nthreads() if w not in unfit]
                if fit:
                    again = submit(captures[index], fit)
                    index_of[again.key] = index
                    futures.append(again)
                    pending.add(again)
                    future.release()
                    continue
                stranded = True
                report = _failed(captures[index], exc)
            except Exception as exc:  # the task raised, or its workers kept dying (KilledWorker)
                report = _failed(captures[index], exc)
            reports[index] = report
            future.release()
            if on_done:
                on_done(report)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
            client.run(stop_run, run)
        raise
    return ClusterRun([r for r in reports if r is not None], tuple(unfit.values()), stranded)


def doctor_lines(client: Any, tshark: str | None) -> tuple[list[str], bool]:
    """One line per worker of what it has and what it misses for sipdiag, and whether all are fit."""
    import cloudpickle

    from . import probe

    cloudpickle.register_pickle_by_value(probe)  # runs where sipdiag is missing too
    try:
        found = client.run(probe.probe, __version__, tshark)
    finally:
        cloudpickle.unregister_pickle_by_value(probe)
    lines, fit = [], bool(found)
    for address, facts in sorted(found.items()):
        problems = facts.get("problems") or []
        have = ", ".join(f"{key} {facts[key]}" for key in ("sipdiag", "tshark", "tap", "fsspec") if facts.get(key))
        state = "MISSING: " + "; ".join(problems) if problems else "ok"
        lines.append(f"worker {address} ({facts.get('host')}, Python {facts.get('python')}): {state}"
                     + (f" [{have}]" if have else ""))
        fit = fit and not problems
    return lines, fit
