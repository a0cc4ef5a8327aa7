"""The sipdiag command line (a thin layer over pipeline, render and ladder).

Exit codes (the CLI contract):
    0  no check failed
    1  at least one check failed (with --fail-on warn, a warning counts too)
    2  usage error (unknown option or rule, bad --local or config, unwritable output)
    3  unreadable or invalid input (capture, PDML)
    4  tshark missing, too old, or built without Lua; for --cluster: Dask not installed, the scheduler
       unreachable, no worker, or none with a usable tshark; for --format parquet: no pyarrow
  130  interrupted (Ctrl-C or SIGTERM): workers and tshark stopped, temporary files removed; `watch` stopped
       this way (its usual end) prints its summary first
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from . import __version__, pdml, render
from .analysis.direction import parse_local
from .cluster import (
    ENV_CLUSTER,
    ClusterError,
    WorkerTap,
    analyse_continuous_on,
    analyse_on,
    connect,
    doctor_lines,
    parse_cluster,
)
from .config import Config, ConfigError, load, user_config_path
from .continuous import DEFAULT_OVERLAP_S, analyse_continuous
from .engine import analyses
from .follow import check_folder
from .inputs import ENV_MAX_DECOMPRESSED, ENV_MAX_PACKETS, Limits, limits_from
from .metrics import Metrics, MetricsPortError, MetricsUnavailable
from .output import OutputError, encoded, shown_name, write_file, write_output, write_stdout
from .pipeline import (
    RuleOptions,
    Source,
    TapOptions,
    analyse_capture,
    analyse_many,
    check_pdml,
    expand_inputs,
    export,
    limit_reached,
    select_rules,
    source_of,
    summarise,
)
from .render.ladder import ladder_text
from .render.parquet import ParquetUnavailable, report_parquet
from .render.streams import CallStreams, streams_json, streams_text
from .report import CallReport, CaptureReport
from .rules import RULES, THRESHOLDS, check_thresholds, search
from .rules.base import Settings
from .sink import Sink
from .text import display_text
from .tshark import CaptureError, OptionError, TsharkError, check_options, find_tshark, tap_files
from .verdict import Status
from .watch import (
    DEFAULT_IDLE_S,
    DEFAULT_LINGER_S,
    DEFAULT_RTP_PORTS,
    DEFAULT_SETTLE_S,
    DEFAULT_SIP_PORTS,
    LiveOptions,
    OnFail,
    Printer,
    capture_filter,
    parse_port_range,
    watch,
)
from .workers import child_setup, stop_once


class ExitCode(IntEnum):
    OK = 0
    FAIL = 1
    USAGE = 2
    INPUT = 3
    TSHARK = 4
    INTERRUPTED = 130


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    JUNIT = "junit"
    HTML = "html"
    JSONL = "jsonl"
    PARQUET = "parquet"


class FailOn(StrEnum):
    FAIL = "fail"
    WARN = "warn"


class UsageError(Exception):
    """A usage problem found after parsing (exit code 2)."""


app = typer.Typer(
    name="sipdiag",
    help="Tell why a SIP call failed or sounded bad, straight from a packet capture.\n\n"
    "Defaults come from the user's ~/.config/sipdiag/config.toml ($XDG_CONFIG_HOME/sipdiag/config.toml) and "
    "the working directory's sipdiag.toml (or [tool.sipdiag] in pyproject.toml), the command line winning. "
    "The working directory's file never names a program: tshark is taken from --tshark, $SIPDIAG_TSHARK or "
    "the user's file, and a tshark key in the working directory's file is refused (exit code 2).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options shared by the commands, defined once.
FormatOpt = Annotated[Format, typer.Option(
    "--format", "-f", metavar="table|json|csv|markdown|junit|html|jsonl|parquet",
    help="Output format. jsonl: one JSON object per line (calls, then their capture; a summary last), on "
    "standard output or, with -o DIR, one file per capture in DIR; parquet (needs -o DIR): per capture, "
    "tables of its calls, checks and the capture.")]
CallOpt = Annotated[list[str] | None, typer.Option(
    "--call", metavar="CALL",
    help="Only this call (repeatable): its Call-ID, a part of it, or its number in the capture (1 = first).")]
SelectOpt = Annotated[list[str] | None, typer.Option(
    "--select", metavar="RULES", help="Only these rules: ids or names, comma-separated or repeated.")]
IgnoreOpt = Annotated[list[str] | None, typer.Option(
    "--ignore", metavar="RULES", help="Skip these rules: ids or names.")]
LocalOpt = Annotated[list[str] | None, typer.Option(
    "--local", metavar="ADDR|CIDR",
    help="Our side of the calls: ADDR or CIDR (repeatable); sets each call's direction.")]
FailOnOpt = Annotated[FailOn | None, typer.Option(
    "--fail-on", metavar="fail|warn", help="Lowest status that makes the exit code 1 (default: fail).")]
ThresholdOpt = Annotated[list[str] | None, typer.Option(
    "--threshold", "-T", metavar="NAME=VALUE",
    help="Override a threshold (repeatable): " + ", ".join(
        f"{t.name}={t.default:g}" for t in THRESHOLDS.values()) + ".")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Table: add evidence, frames, display filter and remedy under each finding.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Table: list passing and not-applicable checks too.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE|DIR",
    help="Write the report to this file instead of standard output (jsonl, parquet: into this folder).")]
TsharkOpt = Annotated[str | None, typer.Option(
    "--tshark", metavar="PATH",
    help="Path of the tshark to use (else $SIPDIAG_TSHARK, tshark in ~/.config/sipdiag/config.toml, the PATH, the "
    "usual install places; never a file in the working directory).")]
DecodeAsOpt = Annotated[list[str] | None, typer.Option(
    "--decode-as", metavar="RULE", help="Passed to tshark -d, e.g. tcp.port==6060,sip (repeatable).")]
KeylogOpt = Annotated[Path | None, typer.Option(
    "--tls-keylog", metavar="FILE", help="TLS key log file (SSLKEYLOGFILE format) to decrypt SIP over TLS.")]
TsharkOptionOpt = Annotated[list[str] | None, typer.Option(
    "--tshark-option", metavar="NAME:VALUE",
    help="A tshark preference (tshark -o, repeatable), e.g. tls.keys_list:10.0.0.1,5061,sip,server.key to "
    "decrypt SIP over TLS with the server's RSA key.")]
MaxDecompressedOpt = Annotated[str | None, typer.Option(
    "--max-decompressed", metavar="SIZE",
    help=f"A compressed capture may expand to this much (e.g. 512M, 4G; 0: no limit; else ${ENV_MAX_DECOMPRESSED}, "
    "default 2G).")]
MaxPacketsOpt = Annotated[str | None, typer.Option(
    "--max-packets", metavar="N",
    help=f"Packets read from a compressed capture (0: no limit; else ${ENV_MAX_PACKETS}, default 10000000); "
    "a capture stopped there is reported truncated.")]
JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", "-j", min=1, metavar="N",
    help="Captures analysed at once, in separate processes (default: the number of cores).")]
ClusterOpt = Annotated[str | None, typer.Option(
    "--cluster", metavar="ADDRESS", envvar=ENV_CLUSTER, show_envvar=False,
    help=f"Analyse on a Dask cluster: the scheduler's tcp://HOST:PORT, or local:N for N local worker processes "
    f"(else ${ENV_CLUSTER}); one task per capture. Needs sipdiag[cluster].")]
ContinuousOpt = Annotated[bool, typer.Option(
    "--continuous",
    help="The captures are rotating files of one capture (dumpcap -b), in order: a call crossing from one file "
    "to the next is analysed whole, once, and reported with the file it starts in.")]
OverlapOpt = Annotated[float, typer.Option(
    "--overlap", metavar="SECONDS", min=0,
    help=f"--continuous: how far into the next files each file's analysis reads: the longest call plus 32 s "
    f"(default {DEFAULT_OVERLAP_S:g}: calls up to 10 minutes).")]


def parse_thresholds(values: list[str] | None, base: dict[str, float] | None = None) -> dict[str, float]:
    """NAME=VALUE overrides on top of base (the config file's); ValueError with one line when wrong."""
    known = set(THRESHOLDS)
    changes: dict[str, float] = dict(base or {})
    for item in values or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise ValueError(f"--threshold {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        try:
            changes[name] = float(value)
        except ValueError:
            raise ValueError(f"--threshold {item!r}: {value!r} is not a number") from None
    return changes


@dataclass(frozen=True)
class Reporting:
    """What the reporting commands share once the command line and the config are merged."""

    rules: RuleOptions
    fmt: Format
    fail_on: FailOn
    verbose: bool
    show_all: bool
    output: Path | None


def _config() -> Config:
    try:
        return load(Path.cwd())
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _reporting(config: Config, fmt: Format, call: list[str] | None, select: list[str] | None,
               ignore: list[str] | None, local: list[str] | None, threshold: list[str] | None,
               fail_on: FailOn | None, verbose: bool, show_all: bool, output: Path | None) -> Reporting:
    """Command line over config file over defaults."""
    try:
        selected = select_rules(select or list(config.select), ignore or list(config.ignore))
        unknown = sorted(set(config.thresholds) - set(THRESHOLDS))
        if unknown:
            raise ValueError(f"{config.source}: unknown threshold(s) {', '.join(unknown)}")
        thresholds = parse_thresholds(threshold, config.thresholds)
        check_thresholds(thresholds)
        settings = Settings(local_nets=parse_local(local or list(config.local)), thresholds=thresholds)
        chosen_fail_on = fail_on or FailOn(config.fail_on or "fail")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Reporting(rules=RuleOptions(settings=settings, selected=selected, call_ids=tuple(call or ())),
                     fmt=fmt, fail_on=chosen_fail_on, verbose=verbose, show_all=show_all, output=output)


def _limits(tls_keylog: Path | None, max_decompressed: str | None, max_packets: str | None) -> Limits:
    if tls_keylog is not None and not tls_keylog.is_file():
        raise UsageError(f"--tls-keylog {tls_keylog}: no such file")
    try:
        return limits_from(max_decompressed, max_packets)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _tap_options(config: Config, tshark: str | None, decode_as: list[str] | None, tls_keylog: Path | None,
                 max_decompressed: str | None = None, max_packets: str | None = None,
                 tshark_option: list[str] | None = None) -> TapOptions:
    limits = _limits(tls_keylog, max_decompressed, max_packets)
    options = tuple(tshark_option or ())
    for option in options:
        if ":" not in option.strip(":"):
            raise UsageError(f"--tshark-option {option!r}: expected NAME:VALUE (a tshark -o preference)")
    found = find_tshark(tshark, config.tshark)
    rules = tuple(decode_as or config.decode_as)
    check_options(found, rules, options)  # an unknown protocol or preference: a usage error, before any run
    return TapOptions(tshark=found, decode_as=rules, tls_keylog=tls_keylog, limits=limits, options=options)


def _worker_tap(config: Config, tshark: str | None, decode_as: list[str] | None, tls_keylog: Path | None,
                max_decompressed: str | None, max_packets: str | None,
                tshark_option: list[str] | None = None) -> WorkerTap:
    """The tap options a cluster's workers get: each finds its own tshark, the TLS keys travel as content."""
    limits = _limits(tls_keylog, max_decompressed, max_packets)
    try:
        keys = tls_keylog.read_bytes() if tls_keylog is not None else None
    except OSError as exc:
        raise UsageError(f"--tls-keylog {tls_keylog}: {exc.strerror or exc}") from None
    options = tuple(tshark_option or ())
    for option in options:
        if ":" not in option.strip(":"):
            raise UsageError(f"--tshark-option {option!r}: expected NAME:VALUE (a tshark -o preference)")
    return WorkerTap(tshark=tshark or config.tshark, decode_as=tuple(decode_as or config.decode_as),
                     tls_keys=keys, limits=limits, options=options)


def _colour(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render_reports(reports: list[CaptureReport], how: Reporting,
                   formatted: Mapping[int, render.CallText] | None = None) -> str:
    """The report as text; capture names are shown with their non-UTF-8 bytes as \\xNN (sipdiag_post/output.py).
    formatted: calls whose JSON was formatted while tshark ran (by id of their report)."""
    reports = [replace(r, path=shown_name(r.path), error=shown_name(r.error) if r.error else r.error)
               for r in reports]
    batch = len(reports) > 1
    if how.fmt is Format.JSON:
        return render.report_json(reports, with_summary=batch, formatted=formatted)
    if how.fmt is Format.CSV:
        return render.report_csv(reports)
    if how.fmt is Format.MARKDOWN:
        return render.report_markdown(reports)
    if how.fmt is Format.JUNIT:
        return render.report_junit(reports)
    if how.fmt is Format.HTML:
        gap = THRESHOLDS["media_gap_s"].of(how.rules.settings)
        return render.report_html(reports, render.HtmlOptions(media_gap_s=gap))
    options = render.TableOptions(verbose=how.verbose, show_all=how.show_all, colour=_colour(how.output),
                                  summary=batch)
    return render.report_table(reports, options)


def _say(message: str) -> None:
    """One line on stderr: names shown escaped, controls, line breaks, bidi and invisible characters shown as
    escapes (display_text)."""
    sys.stderr.write(f"sipdiag: {display_text(shown_name(message))}\n")


def _write(text: str, output: Path | None, *, json: bool = False) -> None:
    """Rendered text to stdout or the output file, whole or not at all (an OutputError when it fails)."""
    write_output(encoded(text, json=json), output)


def _matched(reports: list[CaptureReport], how: Reporting) -> None:
    """--call values that matched no call of any capture read: a usage error, said before any output."""
    wanted = how.rules.call_ids
    readable = [r for r in reports if r.status != "error"]
    if wanted and readable and not any(r.calls for r in readable):
        raise UsageError(f"no call matches --call {', '.join(wanted)} (a Call-ID, a part of one, or a call's "
                         "number in the capture)")


def _sink(how: Reporting, paths: list[str]) -> Sink | None:
    """Where jsonl and parquet go, a capture at a time; None for the formats rendered whole at the end."""
    if how.fmt not in (Format.JSONL, Format.PARQUET):
        return None
    if how.fmt is Format.PARQUET:
        if how.output is None:
            raise UsageError("--format parquet writes files: name their folder with -o DIR")
        report_parquet(CaptureReport(path="", status="ok", error=None))  # ParquetUnavailable now, not later
    return Sink.open(how.fmt.value, how.output, paths)


def _emit(reports: list[CaptureReport], how: Reporting, sink: Sink | None = None,
          unfit: tuple[str, ...] = (), stranded: bool = False,
          formatted: Mapping[int, render.CallText] | None = None) -> NoReturn:
    """The report (or the sink's last lines), a line on stderr per unreadable capture, then exit."""
    _matched(reports, how)
    if sink is None:
        _write(render_reports(reports, how, formatted), how.output, json=how.fmt is Format.JSON)
    else:
        sink.finish(reports)
    for report in reports:
        if report.status == "error":
            _say(report.error or report.path)
        elif limit_reached(report.error):
            _say(f"{report.path}: {report.error}")
    fate = "no other worker could take its captures" if stranded else "other workers took its captures"
    for problem in unfit:
        _say(f"{problem}; {fate}")
    raise typer.Exit(int(ExitCode.TSHARK if stranded else exit_code(reports, how.fail_on)))


def exit_code(reports: list[CaptureReport], fail_on: FailOn) -> ExitCode:
    """1 if a check of a readable capture failed (or warned, with --fail-on warn), else 0; 3 when no
    capture could be read (or the packet limit stopped every one). In a batch, an unreadable capture
    is reported as its own error and does not change the code the others earn."""
    readable = [r for r in reports if not (r.status == "error" or limit_reached(r.error))]
    if not readable:
        return ExitCode.INPUT
    statuses = {c.status for r in readable for c in r.all_checks()}
    if Status.FAIL in statuses or (fail_on is FailOn.WARN and Status.WARN in statuses):
        return ExitCode.FAIL
    return ExitCode.OK


def progress_name(path: str) -> str:
    """A capture's name as the progress bar shows it (as plain text, never markup): escaped, one line."""
    return display_text(shown_name("/".join(path.rstrip("/").split("/")[-2:])))


def _progress(total: int, where: str = ""):
    """A rich progress bar on stderr when stderr is a terminal (captures done, calls in them); else a no-op.

    It yields a function to call with each report as it is done (or None)."""
    from contextlib import contextmanager

    @contextmanager
    def bar():
        if total < 2 or not sys.stderr.isatty():
            yield None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        # a file name is capture text too: never markup ([link=...]), never a terminal escape (OSC 52)
        with Progress(TextColumn(f"analysing{where}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn("captures, {task.fields[calls]} calls"), TimeElapsedColumn(),
                      TextColumn("{task.description}", markup=False), console=Console(stderr=True),
                      transient=True) as progress:
            task = progress.add_task("", total=total, calls=0)
            calls = 0

            def advance(report: CaptureReport) -> None:
                nonlocal calls
                calls += len(report.calls)
                progress.update(task, advance=1, calls=calls, description=progress_name(report.path))

            yield advance

    return bar()


def _each(*callbacks: object):
    """One on_done callback that calls every callback given (None ones skipped)."""
    chosen = [c for c in callbacks if callable(c)]

    def done(report: CaptureReport) -> None:
        for callback in chosen:
            callback(report)

    return done


@app.command()
def analyze(
    captures: Annotated[list[str], typer.Argument(
        metavar="CAPTURE_OR_DIR",
        help="Capture files, or folders searched recursively for *.pcap, *.pcapng, *.cap (also .gz); or URLs "
        "read through fsspec (s3://, gs://, file://; a URL ending in / is a folder).")],
    fmt: FormatOpt = Format.TABLE,
    call: CallOpt = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    local: LocalOpt = None,
    threshold: ThresholdOpt = None,
    fail_on: FailOnOpt = None,
    verbose: VerboseOpt = False,
    show_all: AllOpt = False,
    output: OutputOpt = None,
    jobs: JobsOpt = None,
    cluster: ClusterOpt = None,
    continuous: ContinuousOpt = False,
    overlap: OverlapOpt = DEFAULT_OVERLAP_S,
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
    tshark_option: TsharkOptionOpt = None,
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Run tshark with the Lua tap on each capture, then the rules; print the checklist."""
    config = _config()
    how = _reporting(config, fmt, call, select, ignore, local, threshold, fail_on, verbose, show_all, output)
    paths = expand_inputs(source_of(c) for c in captures)
    files = [p for p in paths if isinstance(p, Path)]
    if continuous and len(files) != len(paths):
        raise UsageError("--continuous reads files beside each other: give paths, not URLs")
    if cluster:
        try:
            target = parse_cluster(cluster, os.cpu_count() or 1)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        spec = _worker_tap(config, tshark, decode_as, tls_keylog, max_decompressed, max_packets, tshark_option)
        sink = _sink(how, [str(p) for p in paths])
        with connect(target) as client, _progress(len(paths), f" on {target}") as advance:
            if continuous:  # reports known once every window is done (fragments dropped)
                run = analyse_continuous_on(client, spec, how.rules, files, overlap, on_done=advance)
                for report in run.reports:
                    if sink:
                        sink.add(report)
            else:
                run = analyse_on(client, spec, how.rules, paths, keep_analysis=fmt is Format.HTML,
                                 on_done=_each(advance, sink and sink.add))
        _emit(run.reports, how, sink, run.unfit, run.stranded)
    tap = _tap_options(config, tshark, decode_as, tls_keylog, max_decompressed, max_packets, tshark_option)
    sink = _sink(how, [str(p) for p in paths])
    workers = min(jobs or config.jobs or os.cpu_count() or 1, len(paths))
    formatted: dict[int, render.CallText] = {}  # --format json: calls formatted as they were judged
    with _progress(len(paths)) as advance:
        if continuous:
            reports = analyse_continuous(tap, how.rules, files, overlap, workers, on_done=advance)
            for report in reports:
                if sink:
                    sink.add(report)
        elif sink is not None and sink.streams_calls and not how.rules.call_ids and (workers == 1 or len(paths) == 1):
            # each call's line as soon as it is judged, while tshark reads its capture
            def streamed(tap: TapOptions, rules: RuleOptions, capture: Source) -> CaptureReport:
                return analyse_capture(tap, rules, capture, on_report=sink.on_call(str(capture)))

            reports = analyse_many(tap, how.rules, paths, jobs=1, on_done=_each(advance, sink.add), work=streamed)
        elif how.fmt is Format.JSON and not how.rules.call_ids and (workers == 1 or len(paths) == 1):
            # each call's JSON formatted as soon as it is judged, while tshark reads its capture
            def ahead(report: CallReport, _epoch: float | None) -> None:
                formatted[id(report)] = render.call_text(report)

            reports = analyse_many(tap, how.rules, paths, jobs=1, on_done=advance,
                                   work=functools.partial(analyse_capture, on_report=ahead))
        else:
            reports = analyse_many(tap, how.rules, paths, jobs=workers, on_done=_each(advance, sink and sink.add))
    _emit(reports, how, sink, formatted=formatted)


@app.command()
def check(
    summaries: Annotated[list[Path], typer.Argument(metavar="SUMMARY.pdml",
                                                    help="PDML files written by the sipdiag tap.")],
    fmt: FormatOpt = Format.TABLE,
    call: CallOpt = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    local: LocalOpt = None,
    threshold: ThresholdOpt = None,
    fail_on: FailOnOpt = None,
    verbose: VerboseOpt = False,
    show_all: AllOpt = False,
    output: OutputOpt = None,
) -> None:
    """Run the rules on PDML summaries the tap already wrote, in tshark or from Wireshark's menu."""
    how = _reporting(_config(), fmt, call, select, ignore, local, threshold, fail_on, verbose, show_all, output)
    sink = _sink(how, [str(p) for p in summaries])
    reports = [check_pdml(how.rules, path) for path in summaries]
    for report in reports:
        if sink:
            sink.add(report)
    _emit(reports, how, sink)


@app.command("export")
def export_command(
    capture: Annotated[Path, typer.Argument(metavar="CAPTURE", help="The capture to summarise.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write the PDML summary.")],
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
    tshark_option: TsharkOptionOpt = None,
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Run the tap stage alone: write the per-call PDML summary of a capture."""
    tap = _tap_options(_config(), tshark, decode_as, tls_keylog, max_decompressed, max_packets, tshark_option)
    summary = export(tap, capture, output)
    note = f" (capture cut short: {summary.facts.read_error})" if summary.facts.read_error else ""
    _say(f"wrote {output}: {len(summary.calls)} call(s), {summary.facts.packets} packets{note}")
    if limit_reached(summary.facts.read_error):
        raise typer.Exit(int(ExitCode.INPUT))


@app.command()
def ladder(
    source: Annotated[Path, typer.Argument(metavar="CAPTURE_OR_PDML",
                                           help="A capture, or a PDML summary written by the tap.")],
    call: CallOpt = None,
    output: OutputOpt = None,
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
    tshark_option: TsharkOptionOpt = None,
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Draw each call (or the --call ones) as a text ladder of its SIP messages and RTP streams."""
    if source.suffix.lower() == ".pdml":
        summary = pdml.read_summary(source)
    else:
        tap = _tap_options(_config(), tshark, decode_as, tls_keylog, max_decompressed, max_packets, tshark_option)
        summary = summarise(tap, source)
    found = analyses(summary, Settings(), tuple(call or ()))
    if call and not found:
        raise UsageError(f"no call matches --call {', '.join(call)} in {source} (a Call-ID, a part of one, or a "
                         "call's number in the capture)")
    _write("\n".join(ladder_text(a, legs) for a, legs in found) or "no calls\n", output)
    if limit_reached(summary.facts.read_error):
        _say(f"{source}: {summary.facts.read_error}")
        raise typer.Exit(int(ExitCode.INPUT))


class StreamsFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command()
def streams(
    source: Annotated[Path, typer.Argument(metavar="CAPTURE_OR_PDML",
                                           help="A capture, or a PDML summary written by the tap.")],
    call: CallOpt = None,
    fmt: Annotated[StreamsFormat, typer.Option("--format", "-f", metavar="table|json",
                                               help="table or json.")] = StreamsFormat.TABLE,
    output: OutputOpt = None,
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
    tshark_option: TsharkOptionOpt = None,
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Each call's RTP streams as Wireshark's RTP Stream Analysis shows them (packets, lost, sequence
    errors, max delta, jitter), with the E-model MOS and what lowers it, the longest gaps and DTMF."""
    if source.suffix.lower() == ".pdml":
        summary = pdml.read_summary(source)
    else:
        tap = _tap_options(_config(), tshark, decode_as, tls_keylog, max_decompressed, max_packets, tshark_option)
        summary = summarise(tap, source)
    found = analyses(summary, Settings(), tuple(call or ()))
    if call and not found:
        raise UsageError(f"no call matches --call {', '.join(call)} in {source} (a Call-ID, a part of one, or a "
                         "call's number in the capture)")
    numbers = {c.call_id: i for i, c in enumerate(summary.calls, start=1)}
    entries = [CallStreams(numbers.get(a.call.call_id, 0), a, legs) for a, legs in found]
    unlinked = () if call else summary.unlinked_streams
    if fmt is StreamsFormat.JSON:
        _write(streams_json(shown_name(str(source)), entries, unlinked), output, json=True)
    else:
        _write(streams_text(entries, unlinked), output)
    if limit_reached(summary.facts.read_error):
        _say(f"{source}: {summary.facts.read_error}")
        raise typer.Exit(int(ExitCode.INPUT))


_DEFAULT_RTP_RANGE = f"{DEFAULT_RTP_PORTS[0]}-{DEFAULT_RTP_PORTS[1]}"


def _check_watch_source(interface: list[str] | None, follow: Path | None, from_newest: bool,
                        idle_exit: float | None, filtering: bool) -> None:
    """-i or --follow, one of them; the options of the other refused."""
    if interface and follow is not None:
        raise UsageError("-i and --follow exclude each other: capture on interfaces, or follow dumpcap's files")
    if not interface and follow is None:
        raise UsageError("watch needs -i IFACE (capture) or --follow DIR (dumpcap's ring buffer)")
    if follow is None and (from_newest or idle_exit is not None):
        raise UsageError("--from-newest and --idle-exit go with --follow")
    if follow is not None and filtering:
        raise UsageError("--capture-filter, --sip-port and --rtp-ports go with -i; with --follow, dumpcap's "
                         "capture filter decides what the files hold")


class WatchFormat(StrEnum):
    LINE = "line"
    JSONL = "jsonl"


@app.command("watch")
def watch_command(
    interface: Annotated[list[str] | None, typer.Option(
        "--interface", "-i", metavar="IFACE",
        help="Capture on this interface (repeatable); needs capture rights. Or --follow.")] = None,
    follow: Annotated[Path | None, typer.Option(
        "--follow", metavar="DIR",
        help="Instead of -i: follow the capture files dumpcap -b writes in DIR (a ring buffer), oldest first, "
        "the newest read as it grows, all as one capture (a call spanning two files is one call). pcapng, or "
        "pcap files with the same link type. No capture file in DIR, or a file that cannot be joined: exit "
        "code 3.")] = None,
    from_newest: Annotated[bool, typer.Option(
        "--from-newest", help="With --follow: begin at the newest file, not the oldest.")] = False,
    idle_exit: Annotated[float | None, typer.Option(
        "--idle-exit", metavar="SECONDS", min=0.1,
        help="With --follow: stop once no new packet came for this long, as --duration would (the exit code is "
        "then 0 or 1 by the verdicts); for scripts.")] = None,
    fmt: Annotated[WatchFormat, typer.Option(
        "--format", "-f", metavar="line|jsonl",
        help="line: one line per call (TIME STATUS CALL-ID FROM -> TO RULE SUMMARY); jsonl: the call objects of "
        "--format jsonl, then a summary object.")] = WatchFormat.LINE,
    sip_port: Annotated[list[int] | None, typer.Option(
        "--sip-port", metavar="PORT", min=1, max=65535,
        help="SIP port to capture, UDP and TCP (repeatable; default 5060 and 5061).")] = None,
    rtp_ports: Annotated[str, typer.Option(
        "--rtp-ports", metavar="LOW-HIGH", help="UDP port range of RTP and RTCP to capture.")]
        = _DEFAULT_RTP_RANGE,
    bpf: Annotated[str | None, typer.Option(
        "--capture-filter", metavar="BPF",
        help="A capture filter (tcpdump syntax) to use instead of the one --sip-port and --rtp-ports make.")] = None,
    settle: Annotated[float, typer.Option(
        "--settle", metavar="SECONDS", min=0,
        help="How long a call over cleanly (BYE answered, a failed INVITE acknowledged) waits with no message "
        "and no RTP before it is judged; the wait ends with the next packet captured after it.")]
        = DEFAULT_SETTLE_S,
    linger: Annotated[float, typer.Option(
        "--linger", metavar="SECONDS", min=0,
        help="How long a failed INVITE never acknowledged waits for retransmissions and its ACK before it is "
        "judged; the wait ends with the next packet captured after it.")] = DEFAULT_LINGER_S,
    idle: Annotated[float, typer.Option(
        "--idle", metavar="SECONDS", min=1, help="A call silent this long is judged as it stands.")]
        = DEFAULT_IDLE_S,
    duration: Annotated[float | None, typer.Option(
        "--duration", metavar="SECONDS", min=1,
        help="Stop after this long, as Ctrl-C would; the exit code is then 0 or 1 by the verdicts.")] = None,
    on_fail: Annotated[str | None, typer.Option(
        "--on-fail", metavar="CMD",
        help="Run this shell command for each call whose verdict is fail, with the call's JSON object (as "
        "--format jsonl writes it) on its standard input; its output goes to standard error.")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", metavar="N", min=1, max=65535,
        help="Serve Prometheus metrics on this port: calls by verdict status and rule, RTP streams, a MOS "
        "histogram. Needs sipdiag[metrics].")] = None,
    metrics_address: Annotated[str, typer.Option(
        "--metrics-address", metavar="ADDR", help="Address the metrics port listens on.")] = "0.0.0.0",
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    local: LocalOpt = None,
    threshold: ThresholdOpt = None,
    fail_on: FailOnOpt = None,
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tshark_option: TsharkOptionOpt = None,
) -> None:
    """Capture live (or follow a dumpcap ring buffer) and judge each call as soon as it is over: a line per
    call, until Ctrl-C (exit code 130) or --duration. Ctrl-C or SIGTERM stops tshark so the calls still
    open are written: those over are judged, the others listed as in progress, then a summary."""
    config = _config()
    how = _reporting(config, Format.TABLE, None, select, ignore, local, threshold, fail_on, False, False, None)
    _check_watch_source(interface, follow, from_newest, idle_exit,
                        bpf is not None or sip_port is not None or rtp_ports != _DEFAULT_RTP_RANGE)
    try:
        bpf = bpf or capture_filter(sip_port or DEFAULT_SIP_PORTS, parse_port_range(rtp_ports))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if follow is not None:
        check_folder(follow)
    tap = _tap_options(config, tshark, decode_as, None, tshark_option=tshark_option)
    metrics = Metrics() if metrics_port is not None else None
    if metrics is not None and metrics_port is not None:
        metrics.serve(metrics_port, metrics_address)
    live = LiveOptions(tshark=tap.tshark, interfaces=tuple(interface or ()), capture_filter=bpf, linger_s=linger,
                       settle_s=settle, idle_s=idle, duration_s=duration, decode_as=tap.decode_as,
                       options=tap.options,
                       follow=follow, from_newest=from_newest, idle_exit_s=idle_exit)
    hook = OnFail(on_fail) if on_fail else None
    printer = Printer(live.source, lambda text: write_stdout(encoded(text, json=fmt is WatchFormat.JSONL)),
                      jsonl=fmt is WatchFormat.JSONL, on_fail=hook, metrics=metrics)
    outcome = watch(live, how.rules, printer, warn=_say)
    printer.finish(outcome)
    if hook is not None:
        hook.wait()
        for problem in hook.failures:
            _say(problem)
    for warning in outcome.warnings:
        _say(warning)
    if outcome.input_error is not None:
        _say(f"error: {outcome.input_error}")
        raise typer.Exit(int(ExitCode.INPUT))
    if outcome.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    raise typer.Exit(int(ExitCode.FAIL if printer.failed(how.fail_on is FailOn.WARN) else ExitCode.OK))


@app.command("rules")
def rules_command(fmt: Annotated[Format, typer.Option("--format", "-f", metavar="table|json",
                                                     help="table or json.")] = Format.TABLE) -> None:
    """List the rule catalog."""
    sys.stdout.write(render.rules_json(RULES) if fmt is Format.JSON else render.rules_table(RULES))


@app.command()
def rule(key: Annotated[str, typer.Argument(metavar="ID_OR_NAME",
                                            help="A rule id (SIP005) or name (busy-here).")]) -> None:
    """Show one rule's documentation (an id, a name, or a unique part of a name: `sipdiag rule busy`)."""
    found = search(key)
    if not found:
        raise UsageError(f"unknown rule {key!r} (see `sipdiag rules`)")
    if len(found) > 1:
        raise UsageError(f"{key!r} matches {len(found)} rules: " + ", ".join(f"{r.id} {r.name}" for r in found))
    sys.stdout.write(render.rule_doc(found[0]))


def _plugin_folder(tshark_path: str) -> str | None:
    done = subprocess.run([tshark_path, "-G", "folders"], capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, preexec_fn=child_setup(os.getpid()))
    for line in done.stdout.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Personal Lua Plugins":
            return value.strip()
    return None


@app.command()
def doctor(
    tshark: TsharkOpt = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", metavar="ADDRESS", envvar=ENV_CLUSTER, show_envvar=False,
        help="Check every worker of this Dask cluster instead (tcp://HOST:PORT or local:N): its sipdiag, "
        "tshark with Lua, the tap's files; exit code 4 names the workers that lack something.")] = None,
) -> None:
    """Show what sipdiag found: tshark, its Lua, the tap, the plugin folder, Python packages."""
    if cluster:
        _doctor_cluster(cluster, tshark or _config().tshark)
        return
    lines = [f"sipdiag {__version__} (Python {sys.version.split()[0]})"]
    try:
        found = find_tshark(tshark, _config().tshark)
    except TsharkError as exc:
        lines.append(f"tshark: NOT USABLE: {exc}")
        sys.stdout.write("\n".join(lines) + "\n")
        raise typer.Exit(int(ExitCode.TSHARK)) from None
    lines.append(f"tshark: {found.path}, version {found.version_text}, Lua {found.lua or '(version not shown)'}")
    files = tap_files()
    modules = [name.removeprefix("sipdiag/").removesuffix(".lua") for name in files if name != "sipdiag.lua"]
    missing = [str(path) for path in files.values() if not path.is_file()]
    lines.append(f"tap: {files['sipdiag.lua']} and its modules in {files['sipdiag.lua'].parent / 'sipdiag'}: "
                 + ", ".join(sorted(modules)) + (f" (MISSING: {', '.join(missing)})" if missing else ""))
    folder = _plugin_folder(found.path)
    if folder:
        lines.append(f"Wireshark personal Lua plugins: {folder} ({_installed_copy(Path(folder), files)})")
    from importlib.metadata import PackageNotFoundError, version  # doctor only: it is slow to import

    packages = []
    for name in ("typer", "lxml", "tabulate", "pyshark", "rich"):
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} MISSING")
    for name, extra in (("distributed", "cluster"), ("fsspec", "cluster"), ("pyarrow", "parquet")):
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} not installed (optional: sipdiag[{extra}])")
    lines.append("Python packages: " + ", ".join(packages))
    config = _config()
    user = config.user_source or f"none ({user_config_path() or '~/.config/sipdiag/config.toml'})"
    project = config.source or "none (sipdiag.toml or [tool.sipdiag] in pyproject.toml; never tshark)"
    lines.append(f"config: user {user}; working directory {project}")
    sys.stdout.write("\n".join(lines) + "\n")


def _doctor_cluster(address: str, tshark: str | None) -> None:
    """doctor --cluster: each worker's line; exit code 4 when one lacks something."""
    try:
        target = parse_cluster(address, os.cpu_count() or 1)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with connect(target) as client:
        lines, fit = doctor_lines(client, tshark)
    head = f"cluster {target}: {len(lines)} worker(s), client sipdiag {__version__}"
    sys.stdout.write("\n".join([head, *lines]) + "\n")
    if not fit:
        raise typer.Exit(int(ExitCode.TSHARK))


def _installed_copy(folder: Path, files: dict[str, Path]) -> str:
    """How the tap's copy in a plugins folder compares with the tap's own files."""
    if not (folder / "sipdiag.lua").is_file():
        return "sipdiag.lua not installed"
    missing = [name for name in files if not (folder / name).is_file()]
    differ = [name for name in files if name not in missing and files[name].is_file()
              and (folder / name).read_bytes() != files[name].read_bytes()]
    extra = sorted(f"sipdiag/{path.name}" for path in (folder / "sipdiag").glob("*.lua")
                   if f"sipdiag/{path.name}" not in files)
    if not (missing or differ or extra):
        return f"sipdiag.lua and its {len(files) - 1} modules installed, up to date"
    problems = [f"{label} {', '.join(names)}" for label, names in
                (("missing", missing), ("differing from the tap:", differ), ("not part of the tap:", extra)) if names]
    return "OUT OF DATE: " + "; ".join(problems) + "; run `sipdiag install-plugin`"


@app.command("install-plugin")
def install_plugin(
    uninstall: Annotated[bool, typer.Option("--uninstall", help="Remove the installed copy instead.")] = False,
    tshark: TsharkOpt = None,
) -> None:
    """Copy the tap (sipdiag.lua and its sipdiag/ modules) into Wireshark's personal Lua plugins folder
    (Tools > SIP Diagnostics)."""
    found = find_tshark(tshark, _config().tshark)
    folder = _plugin_folder(found.path)
    if folder is None:
        raise TsharkError(f"{found.path} does not report a personal Lua plugins folder (tshark -G folders)")
    target = Path(folder) / "sipdiag.lua"
    modules = Path(folder) / "sipdiag"
    # Wireshark runs every .lua file in the plugins folder and its subfolders: a module a former
    # version had goes too
    stale = sorted(modules.glob("*.lua"))
    try:
        if uninstall:
            if not target.exists() and not modules.exists():
                sys.stdout.write(f"nothing to remove: {target} is not there\n")
                return
            for path in [target, *stale]:
                path.unlink(missing_ok=True)
            if modules.is_dir() and not any(modules.iterdir()):
                modules.rmdir()
            sys.stdout.write(f"removed {target} and {modules}\n")
            return
        files = tap_files()
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            raise TsharkError(f"the tap is incomplete, {missing[0]} is missing: reinstall sipdiag")
        modules.mkdir(parents=True, exist_ok=True)
        for path in stale:
            if f"sipdiag/{path.name}" not in files:
                path.unlink()
    except OSError as exc:
        raise OutputError(f"{exc.filename or target}: {exc.strerror or exc}") from None
    for name, source in files.items():  # each whole or not at all; a link there is replaced
        write_file(Path(folder) / name, source.read_bytes())
    sys.stdout.write(f"installed {target}\ninstalled {modules} ({len(files) - 1} modules)\n"
                     "restart Wireshark, then use Tools > SIP Diagnostics\n")


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"sipdiag {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version_: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                           help="Print the version and exit.")] = False,
) -> None:
    """Tell why a SIP call failed or sounded bad, straight from a packet capture."""


_ERRORS: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (TsharkError, ExitCode.TSHARK),
    (ClusterError, ExitCode.TSHARK),
    (ParquetUnavailable, ExitCode.TSHARK),
    (MetricsUnavailable, ExitCode.TSHARK),
    (MetricsPortError, ExitCode.USAGE),
    (CaptureError, ExitCode.INPUT),
    (pdml.PdmlError, ExitCode.INPUT),
    (UsageError, ExitCode.USAGE),
    (OptionError, ExitCode.USAGE),
    (OutputError, ExitCode.USAGE),
)


INTERRUPTED = "sipdiag: interrupted\n"
# the model is hundreds of thousands of small acyclic frozen objects: at Python's default pace (a young
# collection every 700 allocations) the cycle collector took a fifth of judging a 2,400-call capture
# walking them; cycles are still collected, less often
GC_THRESHOLD = (10_000, 10, 10)


def main() -> None:
    """Entry point: one line on stderr and a documented exit code for every error."""
    gc.set_threshold(*GC_THRESHOLD)
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # an ignored Ctrl-C (nohup, a background job) stays so
            signal.signal(sig, stop_once)
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # typer's own answer to Ctrl-C: the context managers have run, say why
            sys.stderr.write(INTERRUPTED)
        raise
    except Exception as exc:
        for kind, code in _ERRORS:
            if isinstance(exc, kind):
                _say(f"error: {exc}")
                sys.exit(int(code))
        if os.environ.get("SIPDIAG_DEBUG"):
            raise
        _say(f"internal error: {type(exc).__name__}: {exc} (set SIPDIAG_DEBUG=1 for details)")
        sys.exit(int(ExitCode.INPUT))


if __name__ == "__main__":
    main()
