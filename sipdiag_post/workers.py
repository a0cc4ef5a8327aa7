"""Child processes that end with sipdiag: the batch's workers and every tshark.

Three guarantees, whatever stops sipdiag:

- Ctrl-C (SIGINT to the terminal's process group) or SIGTERM (to sipdiag
  alone) stops the batch at once: no new capture is started, running workers
  are told to stop (SIGTERM, then SIGKILL after a grace period), each stops its
  tshark and removes its temporary files, and the batch's temporary folder is
  removed before sipdiag exits.
- SIGKILL to sipdiag (what `docker stop` ends with) cannot be caught, so on
  Linux the kernel does it: every worker asks for SIGTERM when sipdiag dies
  (`PR_SET_PDEATHSIG`), and every tshark for SIGKILL when its worker dies. A
  worker stopped that way still stops its tshark and removes its files.
- A worker that dies (a crash, the OOM killer) loses only its own capture.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 2.0  # how long stopping workers may take to remove their files before they are killed
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once, before any fork (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(signum: int, parent: int) -> None:
    """Have the kernel send signum to this process when its parent ends (Linux; elsewhere nothing).

    parent is the pid the caller expects as its parent: when that parent ended
    before the request was made, this process is already an orphan, and ends now."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def child_setup(parent: int) -> Callable[[], None] | None:
    """A preexec_fn for tools sipdiag runs (tshark, capinfos): killed when the process that started them
    ends. None where there is no PR_SET_PDEATHSIG (preexec_fn does not exist on Windows)."""
    if _PRCTL is None:
        return None

    def setup() -> None:
        die_with_parent(signal.SIGKILL, parent)
    return setup


def _ignore(signum: int, frame: object) -> None:
    """A handler that does nothing (SIG_IGN instead would make a signal already pending raise OSError)."""


def stop_once(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM: unwind once (tshark stopped, files removed); another one while that runs is
    ignored rather than cutting the clean-up short."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _ignore)
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered on leaving), where an interruption would lose track of a child."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass(frozen=True)
class Lost:
    """A worker ended without a result (it crashed, or was killed); the message says how."""

    message: str


def _worker(work: Callable[[T], R], item: T, writer: Connection, folder: str, parent: int) -> None:
    """The body of one worker process: one item, its result sent back through writer."""
    tempfile.tempdir = folder  # everything the worker makes goes inside the batch's folder
    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop_once)
    try:
        die_with_parent(signal.SIGTERM, parent)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # held back since the fork
        result: object = work(item)
    except KeyboardInterrupt:
        if os.getppid() != parent:  # sipdiag is gone: the last worker out removes the batch's folder
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        os._exit(130)
    except BaseException as exc:
        result = Lost(f"{type(exc).__name__}: {exc}")
    try:
        writer.send(result)
    except KeyboardInterrupt:
        os._exit(130)
    except Exception as exc:  # a result that cannot be sent back (pickling): say so instead
        writer.send(Lost(f"cannot return the result: {type(exc).__name__}: {exc}"))
    writer.close()


@dataclass
class _Running:
    index: int
    process: multiprocessing.process.BaseProcess
    reader: Connection


def _context() -> multiprocessing.context.BaseContext:
    # fork on Linux: the worker's parent is sipdiag itself, so PR_SET_PDEATHSIG ties it to sipdiag
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _start(work: Callable[[T], R], item: T, index: int, folder: str) -> _Running:
    """A worker for one item; call with SIGINT and SIGTERM held back (the worker starts with them so)."""
    reader, writer = _context().Pipe(duplex=False)
    process = _context().Process(target=_worker, args=(work, item, writer, folder, os.getpid()), daemon=True)
    process.start()
    writer.close()
    return _Running(index, process, reader)


_NOTHING = object()


def _collect(running: _Running) -> object:
    """The result a finished (or finishing) worker sent, or Lost."""
    result: object = _NOTHING
    try:
        if running.reader.poll():
            result = running.reader.recv()
    except (EOFError, OSError):  # it died while sending
        pass
    running.process.join()
    running.reader.close()
    if result is _NOTHING:
        code = running.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return Lost(f"the worker process ended without a result ({how})")
    return result


def _stop(running: Sequence[_Running]) -> None:
    """Stop the running workers: SIGTERM, a grace period to clean up, then SIGKILL."""
    for run in running:
        if run.process.is_alive():
            run.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for run in running:
        run.process.join(max(0.0, deadline - time.monotonic()))
    for run in running:
        if run.process.is_alive():
            run.process.kill()
            run.process.join()
        run.reader.close()


def run_all(work: Callable[[T], R], items: Sequence[T], jobs: int,
            on_done: Callable[[int, R | Lost], None] | None = None) -> list[R | Lost]:
    """work(item) for every item, `jobs` at a time, each in a process of its own; results in item order.

    An interruption (KeyboardInterrupt, which SIGTERM raises too) stops every
    worker, removes the temporary folder the workers share, and is re-raised."""
    results: list[R | Lost | None] = [None] * len(items)
    pending = deque(range(len(items)))
    running: dict[int, _Running] = {}
    folder = tempfile.mkdtemp(prefix="sipdiag-")
    try:
        while pending or running:
            while pending and len(running) < jobs:
                with signals_blocked():  # a worker is never running without being in `running`
                    run = _start(work, items[pending[0]], pending.popleft(), folder)
                    running[run.index] = run
            handles: dict[object, _Running] = {}
            for run in running.values():
                handles[run.reader] = handles[run.process.sentinel] = run
            for ready in wait(list(handles)):
                run = handles[ready]
                if run.index not in running:
                    continue  # both its pipe and its process were ready: collected once
                result = _collect(run)
                del running[run.index]
                results[run.index] = result  # type: ignore[assignment]
                if on_done:
                    on_done(run.index, result)  # type: ignore[arg-type]
    except BaseException:
        with signals_blocked():
            _stop(list(running.values()))
            shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return [r for r in results if r is not None]
