"""The sipdiag command line (a thin layer over pipeline, render and ladder).

Exit codes (the CLI contract):
    0  no check failed
    1  at least one check failed (with --fail-on warn, a warning counts too)
    2  usage error (unknown option or rule, bad --local or config, unwritable output)
    3  unreadable or invalid input (capture, PDML)
    4  tshark missing, too old, or built without Lua
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, fields, replace
from enum import IntEnum, StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer

from . import __version__, pdml, render
from .config import Config, ConfigError, load
from .direction import parse_local
from .ladder import ladder as ladder_text
from .media import share_streams
from .pipeline import (
    OutputError,
    RuleOptions,
    TapOptions,
    analyse_many,
    check_pdml,
    expand_inputs,
    export,
    select_rules,
    summarise,
)
from .report import CaptureReport
from .rules import RULES, find
from .rules.base import Settings, Status, Thresholds
from .tshark import CaptureError, TsharkError, find_tshark, tap_files


class ExitCode(IntEnum):
    OK = 0
    FAIL = 1
    USAGE = 2
    INPUT = 3
    TSHARK = 4


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    JUNIT = "junit"
    HTML = "html"


class FailOn(StrEnum):
    FAIL = "fail"
    WARN = "warn"


class UsageError(Exception):
    """A usage problem found after parsing (exit code 2)."""


app = typer.Typer(
    name="sipdiag",
    help="Tell why a SIP call failed or sounded bad, straight from a packet capture.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options shared by the commands, defined once.
FormatOpt = Annotated[Format, typer.Option("--format", "-f", metavar="table|json|csv|markdown|junit|html",
                                           help="Output format.")]
CallOpt = Annotated[list[str] | None, typer.Option("--call", metavar="CALL_ID", help="Only this Call-ID (repeatable).")]
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
        f"{f.name}={f.default:g}" for f in fields(Thresholds)) + ".")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Table: add evidence, frames, display filter and remedy under each finding.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Table: list passing and not-applicable checks too.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write the report to this file instead of standard output.")]
TsharkOpt = Annotated[str | None, typer.Option(
    "--tshark", metavar="PATH",
    help="Path of the tshark to use (else $SIPDIAG_TSHARK, PATH, the usual install places).")]
DecodeAsOpt = Annotated[list[str] | None, typer.Option(
    "--decode-as", metavar="RULE", help="Passed to tshark -d, e.g. tcp.port==6060,sip (repeatable).")]
KeylogOpt = Annotated[Path | None, typer.Option(
    "--tls-keylog", metavar="FILE", help="TLS key log file (SSLKEYLOGFILE format) to decrypt SIP over TLS.")]
JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", "-j", min=1, metavar="N",
    help="Captures analysed at once, in separate processes (default: the number of cores).")]


def parse_thresholds(values: list[str] | None, base: Thresholds | None = None) -> Thresholds:
    """NAME=VALUE overrides on top of base (the catalog's defaults); ValueError with one line when wrong."""
    known = {f.name for f in fields(Thresholds)}
    changes: dict[str, float] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise ValueError(f"--threshold {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        try:
            changes[name] = float(value)
        except ValueError:
            raise ValueError(f"--threshold {item!r}: {value!r} is not a number") from None
    return replace(base or Thresholds(), **changes)


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
        known = {f.name for f in fields(Thresholds)}
        unknown = sorted(set(config.thresholds) - known)
        if unknown:
            raise ValueError(f"{config.source}: unknown threshold(s) {', '.join(unknown)}")
        base = replace(Thresholds(), **config.thresholds)
        settings = Settings(local_nets=parse_local(local or list(config.local)),
                            thresholds=parse_thresholds(threshold, base))
        chosen_fail_on = fail_on or FailOn(config.fail_on or "fail")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Reporting(rules=RuleOptions(settings=settings, selected=selected, call_ids=tuple(call or ())),
                     fmt=fmt, fail_on=chosen_fail_on, verbose=verbose, show_all=show_all, output=output)


def _tap_options(config: Config, tshark: str | None, decode_as: list[str] | None,
                 tls_keylog: Path | None) -> TapOptions:
    if tls_keylog is not None and not tls_keylog.is_file():
        raise UsageError(f"--tls-keylog {tls_keylog}: no such file")
    return TapOptions(tshark=find_tshark(tshark or config.tshark),
                      decode_as=tuple(decode_as or config.decode_as), tls_keylog=tls_keylog)


def _colour(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render_reports(reports: list[CaptureReport], how: Reporting) -> str:
    batch = len(reports) > 1
    if how.fmt is Format.JSON:
        return render.report_json(reports, with_summary=batch)
    if how.fmt is Format.CSV:
        return render.report_csv(reports)
    if how.fmt is Format.MARKDOWN:
        return render.report_markdown(reports)
    if how.fmt is Format.JUNIT:
        return render.report_junit(reports)
    if how.fmt is Format.HTML:
        return render.report_html(reports, render.HtmlOptions(media_gap_s=how.rules.settings.thresholds.media_gap_s))
    options = render.TableOptions(verbose=how.verbose, show_all=how.show_all, colour=_colour(how.output),
                                  summary=batch)
    return render.report_table(reports, options)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{output}: cannot write: {exc.strerror or exc}") from None


def _emit(reports: list[CaptureReport], how: Reporting) -> None:
    _write(render_reports(reports, how), how.output)
    for report in reports:
        if report.status == "error":
            sys.stderr.write(f"sipdiag: {render.safe_text(report.error or report.path)}\n")
    raise typer.Exit(int(exit_code(reports, how.fail_on)))


def exit_code(reports: list[CaptureReport], fail_on: FailOn) -> ExitCode:
    """3 if any input was unreadable, else 1 if a check failed (or warned, with --fail-on warn)."""
    if any(r.status == "error" for r in reports):
        return ExitCode.INPUT
    statuses = {c.status for r in reports for c in r.all_checks()}
    if Status.FAIL in statuses or (fail_on is FailOn.WARN and Status.WARN in statuses):
        return ExitCode.FAIL
    return ExitCode.OK


def _progress(total: int):
    """A rich progress bar on stderr when stderr is a terminal; else a no-op."""
    from contextlib import contextmanager

    @contextmanager
    def bar():
        if total < 2 or not sys.stderr.isatty():
            yield None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("analysing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}"), console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("", total=total)
            yield lambda path: progress.update(task, advance=1, description=str(path.name))

    return bar()


@app.command()
def analyze(
    captures: Annotated[list[Path], typer.Argument(
        metavar="CAPTURE_OR_DIR",
        help="Capture files, or folders searched recursively for *.pcap, *.pcapng, *.cap (also .gz).")],
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
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
) -> None:
    """Run tshark with the Lua tap on each capture, then the rules; print the checklist."""
    config = _config()
    how = _reporting(config, fmt, call, select, ignore, local, threshold, fail_on, verbose, show_all, output)
    tap = _tap_options(config, tshark, decode_as, tls_keylog)
    paths = expand_inputs(captures)
    workers = jobs or config.jobs or os.cpu_count() or 1
    with _progress(len(paths)) as advance:
        reports = analyse_many(tap, how.rules, paths, jobs=min(workers, len(paths)), on_done=advance)
    _emit(reports, how)


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
    _emit([check_pdml(how.rules, path) for path in summaries], how)


@app.command("export")
def export_command(
    capture: Annotated[Path, typer.Argument(metavar="CAPTURE", help="The capture to summarise.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write the PDML summary.")],
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
) -> None:
    """Run the tap stage alone: write the per-call PDML summary of a capture."""
    tap = _tap_options(_config(), tshark, decode_as, tls_keylog)
    summary = export(tap, capture, output)
    note = f" (capture cut short: {summary.facts.read_error})" if summary.facts.read_error else ""
    sys.stderr.write(f"sipdiag: wrote {output}: {len(summary.calls)} call(s), "
                     f"{summary.facts.packets} packets{note}\n")


@app.command()
def ladder(
    source: Annotated[Path, typer.Argument(metavar="CAPTURE_OR_PDML",
                                           help="A capture, or a PDML summary written by the tap.")],
    call: CallOpt = None,
    output: OutputOpt = None,
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
) -> None:
    """Draw each call (or the --call ones) as a text ladder of its SIP messages and RTP streams."""
    if source.suffix.lower() == ".pdml":
        summary = pdml.read_summary(source)
    else:
        summary = summarise(_tap_options(_config(), tshark, decode_as, tls_keylog), source)
    calls = [c for c in share_streams(summary).calls if not call or c.call_id in call]
    if call and not calls:
        raise UsageError(f"no call with Call-ID {', '.join(call)} in {source}")
    _write("\n".join(ladder_text(c) for c in calls) or "no calls\n", output)


@app.command("rules")
def rules_command(fmt: Annotated[Format, typer.Option("--format", "-f", metavar="table|json",
                                                     help="table or json.")] = Format.TABLE) -> None:
    """List the rule catalog."""
    sys.stdout.write(render.rules_json(RULES) if fmt is Format.JSON else render.rules_table(RULES))


@app.command()
def rule(key: Annotated[str, typer.Argument(metavar="ID_OR_NAME",
                                            help="A rule id (SIP005) or name (busy-here).")]) -> None:
    """Show one rule's documentation."""
    found = find(key)
    if found is None:
        raise UsageError(f"unknown rule {key!r} (see `sipdiag rules`)")
    sys.stdout.write(render.rule_doc(found))


def _plugin_folder(tshark_path: str) -> str | None:
    done = subprocess.run([tshark_path, "-G", "folders"], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Personal Lua Plugins":
            return value.strip()
    return None


@app.command()
def doctor(tshark: TsharkOpt = None) -> None:
    """Show what sipdiag found: tshark, its Lua, the tap, the plugin folder, Python packages."""
    lines = [f"sipdiag {__version__} (Python {sys.version.split()[0]})"]
    try:
        found = find_tshark(tshark or _config().tshark)
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
    packages = []
    for name in ("typer", "lxml", "tabulate", "pyshark", "rich"):
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} MISSING")
    lines.append("Python packages: " + ", ".join(packages))
    config = _config()
    lines.append(f"config: {config.source or 'none (sipdiag.toml or [tool.sipdiag] in pyproject.toml)'}")
    sys.stdout.write("\n".join(lines) + "\n")


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
    found = find_tshark(tshark or _config().tshark)
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
        for name, source in files.items():
            (Path(folder) / name).write_bytes(source.read_bytes())
    except OSError as exc:
        raise OutputError(f"{exc.filename or target}: {exc.strerror or exc}") from None
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
    (CaptureError, ExitCode.INPUT),
    (pdml.PdmlError, ExitCode.INPUT),
    (UsageError, ExitCode.USAGE),
    (OutputError, ExitCode.USAGE),
)


INTERRUPTED = "sipdiag: interrupted\n"


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: temporary files go, tshark is stopped


def main() -> None:
    """Entry point: one line on stderr and a documented exit code for every error."""
    signal.signal(signal.SIGTERM, _terminated)
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
                sys.stderr.write(f"sipdiag: error: {render.safe_text(str(exc))}\n")
                sys.exit(int(code))
        if os.environ.get("SIPDIAG_DEBUG"):
            raise
        sys.stderr.write(f"sipdiag: internal error: {type(exc).__name__}: {render.safe_text(str(exc))} "
                         "(set SIPDIAG_DEBUG=1 for details)\n")
        sys.exit(int(ExitCode.INPUT))


if __name__ == "__main__":
    main()
