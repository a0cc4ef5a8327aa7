"""`analyze --continuous`: rotating capture files read as one capture, one task per file.

A stand-in until the tap itself carries calls across files (the streaming
issue): each file is analysed with the beginning of the files after it
appended, cut with editcap and joined with mergecap, so that a call which
starts in one file and ends in the next is analysed whole, exactly once.

The rules (docs/scaling.md says why):

- Files are taken in the order given (folders: by name, which is time order
  for dumpcap's ring buffer names); file i covers [s_i, s_(i+1)), s being
  each file's first packet time.
- Task i reads file i, then the packets of the following files up to
  s_(i+1) + overlap. The overlap must be at least the longest call plus the
  longest a rule waits after a call's last message (invite_timeout_s, 32 s:
  SIP's 64*T1 for INVITE and ACK timeouts). Default 632 s: calls up to 10 min.
- A task keeps the calls whose first message is before s_(i+1) (the earlier
  file owns a call that starts in it). A call crossing s_(i+1) also shows in
  task i+1 (and later ones) as a fragment without its beginning; it is
  dropped there by its Call-ID, which an earlier task kept (a Call-ID is
  unique to a call, RFC 3261 8.1.1.4; a device that reuses one within a run
  loses the later call).

Frame numbers count from file i's first packet; past its last packet they
run on into the appended packets. The report's path is file i's. Capture-level
checks are judged per window: a file that holds only the ends of earlier
files' calls has no INVITE of its own, and CAP001 says so.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .pipeline import RuleOptions, TapOptions, analyse_capture, analyse_many, error_report
from .report import CaptureReport
from .tshark import CaptureError, Tshark, check_capture_file
from .workers import child_setup, run_all

DEFAULT_OVERLAP_S = 632.0  # calls up to 600 s, plus invite_timeout_s (32 s) for the rules that wait after them


@dataclass(frozen=True)
class Window:
    """One task of a continuous run: a file, and what it needs from the files after it."""

    path: Path  # the file whose calls this task reports
    own_until: float | None  # epoch s: calls starting before this are the file's (the next file's start); None: last
    until: float | None  # epoch s: packets of the following files up to this are appended
    following: tuple[Path, ...] = ()  # the files whose beginnings are appended, in order


def plan(paths: Sequence[Path], starts: Sequence[float | None], overlap: float) -> list[Window]:
    """The windows of rotating files given each file's first packet time (None: unreadable or empty).

    A file without a time gets a window of its own, reported as an error when analysed."""
    known = [(p, s) for p, s in zip(paths, starts, strict=True) if s is not None]
    windows: dict[Path, Window] = {p: Window(p, None, None) for p, s in zip(paths, starts, strict=True) if s is None}
    for i, (path, _) in enumerate(known):
        if i + 1 == len(known):
            windows[path] = Window(path, None, None)
            continue
        next_start = known[i + 1][1]
        assert next_start is not None
        until = next_start + overlap
        following = tuple(p for p, s in known[i + 1:] if s is not None and s <= until)
        windows[path] = Window(path, next_start, until, following)
    return [windows[p] for p in paths]


def _tool(tshark: Tshark, name: str) -> str:
    return str(Path(tshark.path).with_name(name))


def first_packet_time(tshark: Tshark, path: Path) -> float | None:
    """The epoch time of a capture's first packet (tshark reads one packet); None when it has none."""
    try:
        check_capture_file(path)
    except CaptureError:
        return None
    done = subprocess.run([tshark.path, "-n", "-r", str(path), "-c", "1", "-T", "fields", "-e", "frame.time_epoch"],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                          preexec_fn=child_setup(os.getpid()))
    try:
        return float(done.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def _joined(tshark: Tshark, window: Window, folder: Path) -> Path:
    """File i with the following files' packets up to the window's end appended (editcap, mergecap)."""
    parts = [str(window.path)]
    for index, path in enumerate(window.following):
        head = folder / f"head-{index}.pcapng"
        subprocess.run([_tool(tshark, "editcap"), "-F", "pcapng", "-B", f"{window.until:.6f}", str(path), str(head)],
                       capture_output=True, check=True, stdin=subprocess.DEVNULL, preexec_fn=child_setup(os.getpid()))
        parts.append(str(head))
    joined = folder / "window.pcapng"
    subprocess.run([_tool(tshark, "mergecap"), "-a", "-F", "pcapng", "-w", str(joined), *parts],
                   capture_output=True, check=True, stdin=subprocess.DEVNULL, preexec_fn=child_setup(os.getpid()))
    return joined


def analyse_window(tap: TapOptions, rules: RuleOptions, window: Window, workdir: Path | None = None) -> CaptureReport:
    """The report of a window's file: the calls that start in it, each analysed whole."""
    if not window.following:
        return analyse_capture(tap, rules, window.path, workdir)
    with tempfile.TemporaryDirectory(prefix="sipdiag-window-", dir=workdir) as tmp:
        try:
            joined = _joined(tap.tshark, window, Path(tmp))
        except (subprocess.CalledProcessError, OSError) as exc:
            message = exc.stderr.decode("utf-8", "replace").strip() if isinstance(exc, subprocess.CalledProcessError) \
                else str(exc)
            return error_report(str(window.path), f"{window.path}: cannot join it with the next files: "
                                f"{message.splitlines()[-1] if message else exc}")
        report = analyse_capture(tap, rules, joined, Path(tmp))
    origin = report.start_epoch or 0.0
    owned = tuple(c for c in report.calls if window.own_until is None or origin + c.start < window.own_until)
    error = report.error.replace(str(joined), str(window.path)) if report.error else None
    return replace(report, path=str(window.path), error=error, calls=owned)


def without_fragments(reports: Sequence[CaptureReport]) -> list[CaptureReport]:
    """Each call once: a call an earlier window kept is dropped from the later files (it is a fragment there:
    the same Call-ID, without its beginning)."""
    kept: set[str] = set()
    out = []
    for report in reports:
        calls = tuple(c for c in report.calls if c.call_id not in kept)
        kept.update(c.call_id for c in calls)
        out.append(replace(report, calls=calls))
    return out


def analyse_continuous(tap: TapOptions, rules: RuleOptions, paths: Sequence[Path], overlap: float, jobs: int = 1,
                       on_done: Callable[[CaptureReport], None] | None = None) -> list[CaptureReport]:
    """Rotating files as one capture on this machine, `jobs` windows at a time; a report per file."""
    found = run_all(functools.partial(first_packet_time, tap.tshark), paths, jobs) if jobs > 1 and len(paths) > 1 \
        else [first_packet_time(tap.tshark, p) for p in paths]
    starts = [s if isinstance(s, float) else None for s in found]
    windows = plan(paths, starts, overlap)
    reports = analyse_many(tap, rules, windows, jobs, on_done=on_done, work=analyse_window)
    return without_fragments(reports)
