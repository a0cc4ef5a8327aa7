"""From a capture (or a PDML summary) to a report, one input at a time."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from . import pdml
from .engine import LiveJudge, evaluate
from .inputs import PACKET_LIMIT_REACHED, Limits, decompressed, packet_limit_message
from .model import Call, Summary
from .output import OutputError, write_file
from .remote import expand_url, fetch, is_url
from .report import CallReport, CaptureReport
from .rules.base import Rule, Settings
from .tshark import CaptureError, Tshark, capture_format, check_capture_file, packet_count, run_tap
from .workers import Lost, run_all

__all__ = ["OutputError"]  # raised by export; defined beside the writer

T = TypeVar("T")

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")

# what a call's report is given to as soon as it is judged: the report, the capture's start (s since 1970)
OnReport = Callable[[CallReport, float | None], None]

# What a capture argument names: a local path (a shared filesystem's, on a cluster), or a URL (str)
# read through fsspec by whoever analyses it (sipdiag_post/remote.py).
Source = Path | str


def source_of(argument: str) -> Source:
    """A capture argument as a Source: a URL stays text, anything else is a path."""
    return argument if is_url(argument) else Path(argument)


@dataclass(frozen=True)
class TapOptions:
    """How tshark is run: which tshark, extra dissector rules, TLS keys, limits for compressed captures."""

    tshark: Tshark
    decode_as: tuple[str, ...] = ()
    tls_keylog: Path | None = None
    limits: Limits = field(default_factory=Limits)
    options: tuple[str, ...] = ()  # tshark -o NAME:VALUE preferences


@dataclass(frozen=True)
class RuleOptions:
    """Which rules run on which calls, and with which settings."""

    settings: Settings
    selected: tuple[Rule, ...] | None = None
    call_ids: tuple[str, ...] = ()


def expand_inputs(paths: Iterable[Source]) -> list[Source]:
    """Files as given; directories replaced by the captures inside them (recursively, sorted), folder URLs
    by the captures under them.

    A directory with no capture in it stays in the list, so it is reported as an error."""
    out: list[Source] = []
    for path in paths:
        if isinstance(path, str):
            out.extend(expand_url(path, CAPTURE_SUFFIXES))
        elif path.is_dir():
            # every entry named like a capture, readable or not: an unreadable one is reported, not skipped
            found = sorted(p for p in path.rglob("*")
                           if not p.is_dir() and p.name.lower().endswith(CAPTURE_SUFFIXES))
            out.extend(found or [path])
        else:
            out.append(path)
    return out


def _summarise(tap: TapOptions, capture: Path, workdir: Path,
               follow: Callable[[Path, Callable[[], bool]], None] | None = None) -> Path:
    """Run the tap over a capture; the PDML it wrote, with what the runner learnt added to its capture
    record. Only the capture record is read here (pdml.read_facts): the calls are left to the caller,
    who may read them while tshark writes them (follow: given the file and whether tshark still runs)."""
    check_capture_file(capture)
    readable = decompressed(capture, workdir, tap.limits)
    max_packets = tap.limits.max_packets if readable.compression else 0
    out = workdir / "summary.pdml"
    run = run_tap(tap.tshark, capture, out, decode_as=tap.decode_as, tls_keylog=tap.tls_keylog, options=tap.options,
                  source=readable.path, max_packets=max_packets,
                  follow=None if follow is None else functools.partial(follow, out))
    if run.lua_errors:
        pdml.add_tap_errors(out, list(run.lua_errors))
    facts = pdml.read_facts(out)
    # what stopped the read first: the packet limit, else damaged compressed data (which says more
    # than tshark on the copy), else what tshark said
    read_error = readable.read_error or run.read_error
    if max_packets and facts.packets >= max_packets:
        total = packet_count(tap.tshark, readable.path)
        if total is None or total > max_packets:  # not a file of exactly that many packets
            read_error = packet_limit_message(tap.limits, total)
    if read_error:
        pdml.add_capture_field(out, "read_error", read_error)
    if facts.packets == 0:
        raise CaptureError(f"{capture}: no packets read (empty, or not a capture format tshark reads)")
    if facts.sip_messages == 0:
        found = capture_format(tap.tshark, readable.path)
        if found and not found.is_network:
            raise CaptureError(f"{capture}: not a packet capture (tshark reads it as {found.file_type} data)")
        if found:  # said beside "no SIP": a link type tshark cannot decode is the usual reason
            pdml.add_capture_field(out, "link_type", found.link_type)
    return out


# Reading a file, a call is judged once every call that began up to this long after its last message
# is written (the tap says when: schema 1.9's complete_before): SIP's T4, the time the network takes
# to clear a transaction's messages. A B2BUA's other leg, a transfer's new call and a shared stream
# overlap the call in time, so they are in its context however long they last.
STREAM_HOLD_S = 5.0

# what a call is given to, as the tap writes it: the call, and what the reader knows then
OnCall = Callable[[Call, "pdml.SummaryReader"], None]


def summarise(tap: TapOptions, capture: Path, workdir: Path | None = None,
              on_call: OnCall | None = None) -> Summary:
    """Run the tap over a capture and read its summary back, each call as soon as the tap writes it
    (given to on_call then, with the reader: its start_epoch, complete_before); temporary files
    (made in workdir, else the system's temporary folder) are removed."""
    if capture.is_dir():
        raise CaptureError(f"{capture}: no captures (*.pcap, *.pcapng, *.cap) in this folder")
    with tempfile.TemporaryDirectory(prefix="sipdiag-", dir=workdir) as tmp:
        return _follow_and_read(tap, capture, Path(tmp), on_call)


def _follow_and_read(tap: TapOptions, capture: Path, workdir: Path, on_call: OnCall | None = None) -> Summary:
    """The tap's summary of a capture, its calls read while tshark writes them (each given to on_call as
    it arrives, in the order the tap wrote them: as they ended), the capture record once tshark is done."""
    calls: list[Call] = []
    readers: list[pdml.SummaryReader] = []

    def follow(out: Path, writing: Callable[[], bool]) -> None:
        reader = pdml.follow_summary(out, writing)
        readers.append(reader)
        for call in reader:
            calls.append(call)
            if on_call is not None:
                on_call(call, reader)

    out = _summarise(tap, capture, workdir, follow)
    facts = pdml.read_facts(out)  # with what the runner added once tshark was done
    return Summary(facts=facts, calls=tuple(sorted(calls, key=lambda call: call.first_frame)),
                   unlinked_streams=readers[0].unlinked_streams)


def export(tap: TapOptions, capture: Path, output: Path) -> Summary:
    """Write the tap's PDML for a capture to output (replaced only when complete)."""
    with tempfile.TemporaryDirectory(prefix="sipdiag-") as tmp:
        written = _summarise(tap, capture, Path(tmp))
        summary = pdml.read_summary(written)
        write_file(output, written)
    return summary


def limit_reached(read_error: str | None) -> bool:
    """Whether a capture was stopped by the packet limit for compressed captures."""
    return bool(read_error and read_error.startswith(PACKET_LIMIT_REACHED))


def error_report(path: str, message: str) -> CaptureReport:
    return CaptureReport(path=path, status="error", error=message)


def analyse_capture(tap: TapOptions, rules: RuleOptions, capture: Source, workdir: Path | None = None,
                    on_report: OnReport | None = None) -> CaptureReport:
    """A report for one capture (a path, or a URL copied here first); unreadable input becomes a report with
    status error. Each call's report is given to on_report as soon as it is judged (while tshark runs),
    unless --call names calls. Temporary files are made in workdir (else the system's temporary folder)
    and removed."""
    if isinstance(capture, str):
        with tempfile.TemporaryDirectory(prefix="sipdiag-", dir=workdir) as tmp:
            try:
                local = fetch(capture, Path(tmp))
            except CaptureError as exc:
                return error_report(capture, str(exc))
            report = analyse_capture(tap, rules, local, Path(tmp), on_report)
        # messages name the copy: name the URL instead
        return replace(report, path=capture, error=report.error.replace(str(local), capture) if report.error else None)
    try:
        if rules.call_ids:  # which calls are wanted is known once all are read
            summary = summarise(tap, capture, workdir)
            return evaluate(str(capture), summary, rules.settings, selected=rules.selected, call_ids=rules.call_ids)
        return judged_while_read(tap, rules, capture, workdir, on_report)
    except (CaptureError, pdml.PdmlError) as exc:
        return error_report(str(capture), str(exc))


def judged_while_read(tap: TapOptions, rules: RuleOptions, capture: Path, workdir: Path | None = None,
                      on_report: OnReport | None = None) -> CaptureReport:
    """A capture's report, each call judged while tshark still runs, as soon as its context is written
    (engine.LiveJudge; the same report as judging the whole summary at the end), and given to on_report
    then (with the capture's start time); the capture's checks once tshark is done."""
    judge = LiveJudge(rules.settings, rules.selected, hold_s=STREAM_HOLD_S, wait_for_overlap=True, keep_flows=True)
    reports: list[CallReport] = []
    epoch: list[float | None] = [None]

    def judged(done: list[CallReport]) -> None:
        reports.extend(done)
        if on_report is not None:
            for report in done:
                on_report(report, epoch[0])

    def arrived(call: Call, reader: pdml.SummaryReader) -> None:
        epoch[0] = reader.start_epoch
        judged(judge.add(call, reader.complete_before))

    summary = summarise(tap, capture, workdir, on_call=arrived)
    epoch[0] = summary.facts.start_epoch if epoch[0] is None else epoch[0]
    judged(judge.finish(summary.facts))
    return judge.capture_report(str(capture), summary, reports)


def lost_report(capture: object, message: str) -> CaptureReport:
    """The report of a capture (or a task with a path) whose analysis ended without a result (its worker died)."""
    return error_report(str(getattr(capture, "path", capture)), f"analysis failed: {message}")


Work = Callable[[TapOptions, RuleOptions, T], CaptureReport]


def analyse_many(tap: TapOptions, rules: RuleOptions, captures: Sequence[T], jobs: int = 1,
                 on_done: Callable[[CaptureReport], None] | None = None,
                 work: Work[T] = analyse_capture) -> list[CaptureReport]:  # type: ignore[assignment]
    """Reports for many captures, in their order, `jobs` at a time in separate processes.

    A capture that cannot be read, or a worker that dies, gives a report with
    status error; the others are unaffected. Ctrl-C or SIGTERM stops every
    worker and its tshark at once (sipdiag_post/workers.py). on_done is given
    each report as it is ready (in the order they finish). work is what makes
    a report of one item (analyse_capture: a capture's)."""
    if jobs <= 1 or len(captures) <= 1:
        reports = []
        for capture in captures:
            reports.append(work(tap, rules, capture))
            if on_done:
                on_done(reports[-1])
        return reports

    def report(index: int, result: CaptureReport | Lost) -> CaptureReport:
        return lost_report(captures[index], result.message) if isinstance(result, Lost) else result

    def done(index: int, result: CaptureReport | Lost) -> None:
        if on_done:
            on_done(report(index, result))

    results = run_all(functools.partial(work, tap, rules), captures, jobs, on_done=done)
    return [report(index, result) for index, result in enumerate(results)]


def check_pdml(rules: RuleOptions, path: Path) -> CaptureReport:
    """A report from a PDML summary the tap already wrote."""
    try:
        summary = pdml.read_summary(path)
    except pdml.PdmlError as exc:
        return error_report(str(path), str(exc))
    return evaluate(str(path), summary, rules.settings, selected=rules.selected, call_ids=rules.call_ids)


def select_rules(select: Sequence[str], ignore: Sequence[str]) -> tuple[Rule, ...] | None:
    """The rules named by --select minus those named by --ignore; None means all.

    Raises ValueError naming an unknown rule."""
    from .rules import RULES, find

    def resolve(keys: Sequence[str]) -> list[Rule]:
        rules = []
        for key in (k for value in keys for k in value.split(",") if k.strip()):
            rule = find(key)
            if rule is None:
                raise ValueError(f"unknown rule {key.strip()!r} (see `sipdiag rules`)")
            rules.append(rule)
        return rules

    if not select and not ignore:
        return None
    chosen = resolve(select) if select else list(RULES)
    dropped = set(resolve(ignore))
    return tuple(r for r in RULES if r in chosen and r not in dropped)
