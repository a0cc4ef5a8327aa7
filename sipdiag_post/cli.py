"""The sipdiag command line (a thin layer over pipeline, render and ladder).

Exit codes (the CLI contract):
    0  no check failed
    1  at least one check failed (with --fail-on warn, a warning counts too)
    2  usage error (unknown option or rule, bad --local or config, unwritable output)
    3  unreadable or invalid input (capture, PDML)
    4  tshark missing, too old, or built without Lua
  130  interrupted (Ctrl-C or SIGTERM): workers and tshark stopped, temporary files removed
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer

from . import __version__, pdml, render
from .analysis.direction import parse_local
from .config import Config, ConfigError, load, user_config_path
from .engine import analyses
from .inputs import ENV_MAX_DECOMPRESSED, ENV_MAX_PACKETS, limits_from
from .output import OutputError, encoded, shown_name, write_file, write_output
from .pipeline import (
    RuleOptions,
    TapOptions,
    analyse_many,
    check_pdml,
    expand_inputs,
    export,
    limit_reached,
    select_rules,
    summarise,
)
from .render.ladder import ladder_text
from .report import CaptureReport
from .rules import RULES, THRESHOLDS, search
from .rules.base import Settings
from .text import display_text
from .tshark import CaptureError, TsharkError, find_tshark, tap_files
from .verdict import Status
from .workers import child_setup, stop_once


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
        f"{t.name}={t.default:g}" for t in THRESHOLDS.values()) + ".")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Table: add evidence, frames, display filter and remedy under each finding.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Table: list passing and not-applicable checks too.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write the report to this file instead of standard output.")]
TsharkOpt = Annotated[str | None, typer.Option(
    "--tshark", metavar="PATH",
    help="Path of the tshark to use (else $SIPDIAG_TSHARK, tshark in ~/.config/sipdiag/config.toml, the PATH, the "
    "usual install places; never a file in the working directory).")]
DecodeAsOpt = Annotated[list[str] | None, typer.Option(
    "--decode-as", metavar="RULE", help="Passed to tshark -d, e.g. tcp.port==6060,sip (repeatable).")]
KeylogOpt = Annotated[Path | None, typer.Option(
    "--tls-keylog", metavar="FILE", help="TLS key log file (SSLKEYLOGFILE format) to decrypt SIP over TLS.")]
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
        settings = Settings(local_nets=parse_local(local or list(config.local)),
                            thresholds=parse_thresholds(threshold, config.thresholds))
        chosen_fail_on = fail_on or FailOn(config.fail_on or "fail")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Reporting(rules=RuleOptions(settings=settings, selected=selected, call_ids=tuple(call or ())),
                     fmt=fmt, fail_on=chosen_fail_on, verbose=verbose, show_all=show_all, output=output)


def _tap_options(config: Config, tshark: str | None, decode_as: list[str] | None, tls_keylog: Path | None,
                 max_decompressed: str | None = None, max_packets: str | None = None) -> TapOptions:
    if tls_keylog is not None and not tls_keylog.is_file():
        raise UsageError(f"--tls-keylog {tls_keylog}: no such file")
    try:
        limits = limits_from(max_decompressed, max_packets)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return TapOptions(tshark=find_tshark(tshark, config.tshark),
                      decode_as=tuple(decode_as or config.decode_as), tls_keylog=tls_keylog, limits=limits)


def _colour(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render_reports(reports: list[CaptureReport], how: Reporting) -> str:
    """The report as text; capture names are shown with their non-UTF-8 bytes as \\xNN (sipdiag_post/output.py)."""
    reports = [replace(r, path=shown_name(r.path), error=shown_name(r.error) if r.error else r.error)
               for r in reports]
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


def _emit(reports: list[CaptureReport], how: Reporting) -> None:
    _write(render_reports(reports, how), how.output, json=how.fmt is Format.JSON)
    for report in reports:
        if report.status == "error":
            _say(report.error or report.path)
        elif limit_reached(report.error):
            _say(f"{report.path}: {report.error}")
    raise typer.Exit(int(exit_code(reports, how.fail_on)))


def exit_code(reports: list[CaptureReport], fail_on: FailOn) -> ExitCode:
    """3 if any input was unreadable (or stopped by the packet limit), else 1 if a check failed
    (or warned, with --fail-on warn)."""
    if any(r.status == "error" or limit_reached(r.error) for r in reports):
        return ExitCode.INPUT
    statuses = {c.status for r in reports for c in r.all_checks()}
    if Status.FAIL in statuses or (fail_on is FailOn.WARN and Status.WARN in statuses):
        return ExitCode.FAIL
    return ExitCode.OK


def progress_name(path: Path) -> str:
    """A capture's name as the progress bar shows it (as plain text, never markup): escaped, one line."""
    return display_text(shown_name(path.name))


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

        # a file name is capture text too: never markup ([link=...]), never a terminal escape (OSC 52)
        with Progress(TextColumn("analysing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}", markup=False), console=Console(stderr=True),
                      transient=True) as progress:
            task = progress.add_task("", total=total)
            yield lambda path: progress.update(task, advance=1, description=progress_name(path))

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
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Run tshark with the Lua tap on each capture, then the rules; print the checklist."""
    config = _config()
    how = _reporting(config, fmt, call, select, ignore, local, threshold, fail_on, verbose, show_all, output)
    tap = _tap_options(config, tshark, decode_as, tls_keylog, max_decompressed, max_packets)
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
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Run the tap stage alone: write the per-call PDML summary of a capture."""
    tap = _tap_options(_config(), tshark, decode_as, tls_keylog, max_decompressed, max_packets)
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
    max_decompressed: MaxDecompressedOpt = None,
    max_packets: MaxPacketsOpt = None,
) -> None:
    """Draw each call (or the --call ones) as a text ladder of its SIP messages and RTP streams."""
    if source.suffix.lower() == ".pdml":
        summary = pdml.read_summary(source)
    else:
        summary = summarise(_tap_options(_config(), tshark, decode_as, tls_keylog, max_decompressed, max_packets),
                            source)
    found = analyses(summary, Settings(), tuple(call or ()))
    if call and not found:
        raise UsageError(f"no call with Call-ID {', '.join(call)} in {source}")
    _write("\n".join(ladder_text(a) for a in found) or "no calls\n", output)
    if limit_reached(summary.facts.read_error):
        _say(f"{source}: {summary.facts.read_error}")
        raise typer.Exit(int(ExitCode.INPUT))


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
def doctor(tshark: TsharkOpt = None) -> None:
    """Show what sipdiag found: tshark, its Lua, the tap, the plugin folder, Python packages."""
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
    packages = []
    for name in ("typer", "lxml", "tabulate", "pyshark", "rich"):
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} MISSING")
    lines.append("Python packages: " + ", ".join(packages))
    config = _config()
    user = config.user_source or f"none ({user_config_path() or '~/.config/sipdiag/config.toml'})"
    project = config.source or "none (sipdiag.toml or [tool.sipdiag] in pyproject.toml; never tshark)"
    lines.append(f"config: user {user}; working directory {project}")
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
    (CaptureError, ExitCode.INPUT),
    (pdml.PdmlError, ExitCode.INPUT),
    (UsageError, ExitCode.USAGE),
    (OutputError, ExitCode.USAGE),
)


INTERRUPTED = "sipdiag: interrupted\n"


def main() -> None:
    """Entry point: one line on stderr and a documented exit code for every error."""
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
