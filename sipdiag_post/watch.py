"""`sipdiag watch`: live capture, each call judged as soon as the tap writes it.

tshark captures on the interfaces with a capture filter for SIP and RTP and runs the tap, which
writes each call to tshark's standard output once it is over: `settle` seconds of capture time
(default 5) with no message and no RTP after a clean end (BYE answered, failed INVITE
acknowledged), `linger` seconds (default 32) with no message after a failure never acknowledged,
or `idle` seconds of silence (the tap's sweep runs when a packet arrives: on a silent link a
finished call waits for the next packet). SummaryReader reads the PDML from the pipe as it
comes; LiveJudge judges each call when it arrives (hold 0: the tap's settle and linger are the
wait; the calls written so far that overlap it are its capture).

With --follow DIR, tshark reads its standard input (`-r -`) instead of capturing: a feeder thread
(follow.Feeder) writes the files of dumpcap's ring buffer in DIR into it, oldest first, the newest as
it grows, whole records only, as one stream (see follow.py); the tap and the judging are the same.

Stopping (SIGINT or SIGTERM, once; --duration; --follow's --idle-exit): tshark is sent SIGINT (with
--follow: the feeder stops and closes tshark's standard input), so the tap writes the calls still
open and closes the document; those whose signalling is over are judged, the others listed as
in progress (a call the tap wrote for going idle just before is judged: the capture's last packet
time tells them apart). A second signal kills tshark. tshark runs in its own process group, so a
terminal's Ctrl-C reaches it only through sipdiag, once. A --follow file that cannot be joined to
the stream ends the watch the same way, then Outcome.input_error says why (exit code 3).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .engine import LiveJudge, finished
from .follow import Feeder, FollowError
from .metrics import Metrics
from .model import Call
from .pdml import PdmlError, SummaryReader
from .pipeline import RuleOptions
from .render.jsonl import call_record
from .render.live import Unfinished, call_line, in_progress_line, in_progress_record, summary_record, summary_text
from .render.live import unfinished as unfinished_call
from .report import CallReport, CaptureReport
from .tshark import TAP_PREFERENCES, Tshark, TsharkError, tap_script
from .verdict import Status
from .workers import child_setup

DEFAULT_SIP_PORTS = (5060, 5061)
DEFAULT_RTP_PORTS = (10000, 60000)
DEFAULT_SETTLE_S = 5.0  # the tap's own default after a clean end: SIP's T4
DEFAULT_LINGER_S = 32.0  # the tap's own default after an unacknowledged failure: SIP's 64*T1
DEFAULT_IDLE_S = 600.0
HOOK_WAIT_S = 10.0  # how long the end waits for --on-fail commands still running

# tshark's words when it cannot capture on an interface
_NO_DEVICE = ("no device named", "no such device", "doesn't exist", "not a valid interface", "no interfaces")
_NO_RIGHTS = ("permission", "operation not permitted", "couldn't run", "not permitted")
_CANNOT_CAPTURE = (*_NO_DEVICE, *_NO_RIGHTS, "capture session could not be initiated", "invalid capture filter",
                   "can't get list of interfaces", "syntax error")
RIGHTS_HINT = ("run as root, or give dumpcap capture rights (Debian: dpkg-reconfigure wireshark-common, "
               "then add the user to the wireshark group)")


def parse_port_range(text: str) -> tuple[int, int]:
    """`LOW-HIGH` (or one port) as a pair of UDP ports; ValueError with one line when wrong."""
    low, sep, high = text.strip().partition("-")
    try:
        pair = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise ValueError(f"--rtp-ports {text!r}: expected LOW-HIGH, e.g. 10000-60000") from None
    if not (1 <= pair[0] <= pair[1] <= 65535):
        raise ValueError(f"--rtp-ports {text!r}: ports run from 1 to 65535, the low one first")
    return pair


def capture_filter(sip_ports: Sequence[int], rtp_ports: tuple[int, int]) -> str:
    """The BPF filter of a watch: SIP on its ports (UDP and TCP, TLS on 5061), RTP and RTCP in the range,
    and IPv4 fragments after the first (a large SIP message over UDP; the first carries the ports)."""
    sip = " or ".join(f"port {p}" for p in sorted(set(sip_ports)))
    low, high = rtp_ports
    return f"{sip} or udp portrange {low}-{high} or (ip[6:2] & 0x1fff != 0)"


@dataclass(frozen=True)
class LiveOptions:
    """How tshark captures for a watch."""

    tshark: Tshark
    interfaces: tuple[str, ...]
    capture_filter: str
    linger_s: float = DEFAULT_LINGER_S
    settle_s: float = DEFAULT_SETTLE_S
    idle_s: float = DEFAULT_IDLE_S
    duration_s: float | None = None  # stop after this long (wall clock), as a first signal does
    decode_as: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # tshark -o preferences
    follow: Path | None = None  # a dumpcap ring buffer's folder, read instead of the interfaces
    from_newest: bool = False  # --follow: begin at the newest file, not the oldest
    idle_exit_s: float | None = None  # --follow: stop once no new packet came for this long

    @property
    def source(self) -> str:
        """What the reports name as their capture: the interfaces, or the folder followed."""
        return str(self.follow) if self.follow is not None else ",".join(self.interfaces)


def live_command(live: LiveOptions) -> list[str]:
    """tshark capturing (or reading its standard input, for --follow) with the tap writing to its standard
    output (-l: flushed as it goes)."""
    command = [live.tshark.path]
    if live.follow is not None:
        command += ["-r", "-"]
    else:
        for interface in live.interfaces:
            command += ["-i", interface]
        command += ["-f", live.capture_filter]
    command += ["-l", "-q", "-n", "-X", f"lua_script:{tap_script()}",
                "-X", f"lua_script1:settle={live.settle_s:g}", "-X", f"lua_script1:linger={live.linger_s:g}",
                "-X", f"lua_script1:idle={live.idle_s:g}"]
    for preference in (*TAP_PREFERENCES, *live.options):
        command += ["-o", preference]
    for rule in live.decode_as:
        command += ["-d", rule]
    return command


def capture_failure(lines: Sequence[str], interfaces: Sequence[str]) -> str | None:
    """tshark's reason for not capturing, as one line (with what to do about rights); None when it gave none."""
    for index, line in enumerate(lines):
        lowered = line.lower()
        if not any(p in lowered for p in _CANNOT_CAPTURE) or "permission to read the file" in lowered:
            continue
        detail = lines[index + 1] if index + 1 < len(lines) and lines[index + 1].startswith("(") else ""
        message = f"cannot capture on {','.join(interfaces)}: {line} {detail}".strip()
        return f"{message}; {RIGHTS_HINT}" if any(p in lowered for p in _NO_RIGHTS) else message
    return None


class OnFail:
    """--on-fail: a shell command run for each failing call, the call's JSON object on its standard input.

    Each runs in a thread of its own (written to, then waited for: reaped), so the watch goes on while it
    runs; its standard output goes to sipdiag's standard error, keeping sipdiag's own output clean."""

    def __init__(self, command: str) -> None:
        self._command = command
        self._threads: list[threading.Thread] = []
        self.failures: list[str] = []  # one line per command that could not run or exited non-zero

    def __call__(self, record: bytes) -> None:
        thread = threading.Thread(target=self._run, args=(record,), daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _run(self, record: bytes) -> None:
        try:
            process = subprocess.Popen(self._command, shell=True, stdin=subprocess.PIPE, stdout=sys.stderr.fileno(),
                                       start_new_session=True)
        except OSError as exc:
            self.failures.append(f"--on-fail could not run: {exc}")
            return
        with contextlib.suppress(BrokenPipeError):  # a command that does not read its input
            process.communicate(record)
        if process.wait() != 0:
            self.failures.append(f"--on-fail command exited with status {process.returncode}")

    def wait(self, timeout: float = HOOK_WAIT_S) -> None:
        """Wait (up to timeout, all told) for the commands still running."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        for thread in self._threads:
            while thread.is_alive() and not deadline.is_set():
                thread.join(0.1)
        timer.cancel()


@dataclass
class Outcome:
    """What a watch saw: the reports as they came (through the callbacks) and, at the end, these."""

    start_epoch: float | None = None  # the capture's first packet (s since 1970)
    opened: bool = False  # the tap's document began
    judged: int = 0
    in_progress: list[Unfinished] = field(default_factory=list)
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)  # tshark's complaints after a capture that did run
    input_error: str | None = None  # --follow: a file that could not be joined ended the watch (exit code 3)


class _Stopper:
    """Stopping a watch: the first SIGINT/SIGTERM (or --duration running out) asks tshark to stop (SIGINT:
    the tap writes what is open and closes its document; with --follow the feeder stops and closes
    tshark's standard input, which ends the same way), a later signal kills it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.feeder: Feeder | None = None
        self.signals = 0  # SIGINT/SIGTERM received
        self.timed_out = False  # --duration ran out

    @property
    def stopping(self) -> bool:
        return bool(self.signals) or self.timed_out

    def __call__(self, signum: int, frame: object) -> None:
        self.signals += 1
        self._send()

    def time_up(self) -> None:
        self.timed_out = True
        self._send()

    def _send(self) -> None:
        if self.process is None or self.process.poll() is not None or not self.stopping:
            return
        if self.feeder is not None and self.signals <= 1:
            self.feeder.stop()
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL if self.signals > 1 else signal.SIGINT)

    def attach(self, process: subprocess.Popen[bytes], feeder: Feeder | None = None) -> None:
        self.process, self.feeder = process, feeder
        self._send()  # a signal that came while tshark was starting


@contextlib.contextmanager
def _handling(stopper: _Stopper) -> Iterator[None]:
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, stopper)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _collect(stream: IO[bytes], into: list[str], limit: int = 200) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").strip()
        if line and not line.startswith("Running as user") and len(into) < limit:
            into.append(line.removeprefix("tshark: "))


def watch(live: LiveOptions, rules: RuleOptions, on_call: Callable[[CallReport, float | None], None],
          warn: Callable[[str], None] = lambda line: None) -> Outcome:
    """Capture (or follow a ring buffer's folder) until stopped (a signal, --duration, --idle-exit); on_call
    gets each judged call with the capture's start epoch as it is judged, warn the feeder's warnings as they
    happen (files skipped or cut short). TsharkError when tshark cannot capture."""
    judge = LiveJudge(rules.settings, rules.selected, hold_s=0.0, unfinished_at_end=False)
    outcome = Outcome()
    stopper = _Stopper()
    lines: list[str] = []
    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    feeder: Feeder | None = None
    with _handling(stopper):
        try:
            # unbuffered: a buffered pipe's read(n) waits for n bytes, holding back the calls written so far
            process = subprocess.Popen(live_command(live),
                                       stdin=subprocess.DEVNULL if live.follow is None else subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, process_group=0,
                                       bufsize=0, preexec_fn=child_setup(os.getpid()))
        except OSError as exc:
            raise TsharkError(f"cannot run tshark: {exc}") from None
        assert process.stdout is not None and process.stderr is not None
        errors = threading.Thread(target=_collect, args=(process.stderr, lines), daemon=True)
        errors.start()
        if live.follow is not None and process.stdin is not None:
            feed = os.dup(process.stdin.fileno())  # the feeder's own: closing it ends tshark's input
            process.stdin.close()
            feeder = Feeder(live.follow, feed, from_newest=live.from_newest, idle_exit_s=live.idle_exit_s,
                            warn=warn, on_end=stopper.time_up)
            feeder.start()
        stopper.attach(process, feeder)
        timer = threading.Timer(live.duration_s, stopper.time_up) if live.duration_s is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        read_error: PdmlError | None = None
        try:
            _read(process.stdout, live.source, judge, stopper, outcome, on_call, live.idle_s)
        except PdmlError as exc:  # judged once tshark's own messages are known (they say more)
            read_error = exc
        finally:
            if timer is not None:
                timer.cancel()
            if feeder is not None:
                feeder.stop()
            if process.poll() is None and not stopper.stopping:  # the reading failed: stop tshark cleanly
                process.send_signal(signal.SIGINT)
            process.wait()
            errors.join(5)
            if feeder is not None:
                feeder.join(5)
    outcome.interrupted = stopper.signals > 0
    if feeder is not None:
        outcome.input_error = feeder.state.error
        if feeder.state.skipped:
            outcome.warnings.append(f"{feeder.state.skipped} capture file(s) of {live.follow} were deleted by the "
                                    "ring buffer before they were read: their calls are missing or cut short")
    failure = capture_failure(lines, live.interfaces) if live.follow is None else None
    if failure is not None:
        raise TsharkError(failure)
    if read_error is not None and feeder is not None and not outcome.opened:
        if feeder.state.error is not None:  # the first file could not be read: nothing went to tshark
            raise FollowError(feeder.state.error)
        if not feeder.state.written:  # stopped before the first record: nothing to say
            return outcome
    if read_error is not None and stopper.signals < 2:  # a second signal kills tshark mid-document
        if not outcome.opened:
            raise TsharkError(f"tshark wrote no summary (status {process.returncode}): "
                              f"{lines[0] if lines else 'no message'}")
        raise read_error
    if process.returncode not in (0, -signal.SIGINT, -signal.SIGKILL):
        outcome.warnings.append(f"tshark exited with status {process.returncode}"
                                + (f": {lines[-1]}" if lines else ""))
    return outcome


def _read(stream: IO[bytes], source: str, judge: LiveJudge, stopper: _Stopper, outcome: Outcome,
          on_call: Callable[[CallReport, float | None], None], idle_s: float) -> None:
    """The tap's document as it comes, each call judged as it arrives; then those the judge still holds.

    A call whose signalling is not over that arrives once the watch is stopping was written either at the
    end (open: in progress) or, just before, because it had gone idle (judged as it stands, as it would
    have been had it been read sooner): which one is known at the end of the document, from the capture's
    last packet time."""
    reader = SummaryReader(stream, source)
    outcome.opened, outcome.start_epoch = True, reader.start_epoch
    held: list[Call] = []  # arrived once stopping, not finished
    for call in reader:
        outcome.start_epoch = reader.start_epoch
        if stopper.stopping and not finished(call):
            held.append(call)
            continue
        _judged(judge.add(call), outcome, on_call)
    for call in held:
        if went_idle(call, reader.facts.duration, idle_s):
            _judged(judge.add(call), outcome, on_call)
        else:
            outcome.in_progress.append(unfinished_call(call))
    _judged(judge.finish(reader.facts), outcome, on_call)


def went_idle(call: Call, capture_end: float, idle_s: float) -> bool:
    """Whether the tap wrote a call for being silent (no SIP message, no RTP) for idle_s before the capture's
    last packet (times in s since the capture's first packet)."""
    last = max([m.time for m in call.messages] + [s.last_time for s in call.streams], default=0.0)
    return capture_end - last >= idle_s


def _judged(reports: list[CallReport], outcome: Outcome, on_call: Callable[[CallReport, float | None], None]) -> None:
    for report in reports:
        outcome.judged += 1
        on_call(report, outcome.start_epoch)


def _json_line(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class Printer:
    """What watch does with each judged call: its line (or jsonl object) on write, the --on-fail command for a
    fail, the metrics; and the counts its closing summary gives."""

    def __init__(self, source: str, write: Callable[[str], None], *, jsonl: bool = False,
                 on_fail: OnFail | None = None, metrics: Metrics | None = None) -> None:
        self._source, self._write, self._jsonl = source, write, jsonl
        self._on_fail, self._metrics = on_fail, metrics
        self.verdicts: Counter[str] = Counter()
        self.fails: Counter[str] = Counter()  # rule id -> failed checks (as the batch summaries count)
        self.warns: Counter[str] = Counter()

    def __call__(self, call: CallReport, epoch: float | None) -> None:
        self.verdicts[call.verdict.status.value] += 1
        for check in call.checks:
            if check.status is Status.FAIL:
                self.fails[check.id] += 1
            elif check.status is Status.WARN:
                self.warns[check.id] += 1
        if self._metrics is not None:
            self._metrics.add(call)
        failed = call.verdict.status is Status.FAIL and self._on_fail is not None
        record = call_record(CaptureReport(path=self._source, status="ok", error=None, start_epoch=epoch), call) \
            if self._jsonl or failed else None
        self._write(_json_line(record) if self._jsonl and record else call_line(epoch, call) + "\n")
        if failed and self._on_fail is not None and record is not None:
            self._on_fail(_json_line(record).encode("utf-8"))

    def finish(self, outcome: Outcome) -> None:
        """The calls still in progress, then the summary."""
        if self._metrics is not None:
            self._metrics.in_progress(len(outcome.in_progress))
        epoch = outcome.start_epoch
        if self._jsonl:
            self._write(_json_line(summary_record(self._source, self.verdicts, self.fails, self.warns,
                                                  [in_progress_record(epoch, c) for c in outcome.in_progress])))
            return
        self._write("".join(in_progress_line(epoch, c) + "\n" for c in outcome.in_progress)
                    + summary_text(self.verdicts, [c.call_id for c in outcome.in_progress]) + "\n")

    def failed(self, warn_too: bool = False) -> bool:
        """Whether a call's verdict failed (or warned, when warn_too)."""
        return bool(self.verdicts["fail"] or (warn_too and self.verdicts["warn"]))
