"""The sipdiag command line (a thin layer over pipeline and render).

Exit codes (the CLI contract):
    0  no check failed
    1  at least one check failed (with --fail-on warn, a warning counts too)
    2  usage error (unknown option or rule, bad --local, unwritable output)
    3  unreadable or invalid input (capture or PDML)
    4  tshark missing, too old, or built without Lua
"""

from __future__ import annotations

import os
import sys
from dataclasses import fields, replace
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__, pdml, render
from .direction import parse_local
from .pipeline import (
    OutputError,
    RuleOptions,
    TapOptions,
    analyse_capture,
    check_pdml,
    expand_inputs,
    export,
    select_rules,
)
from .report import CaptureReport
from .rules import RULES, find
from .rules.base import Settings, Status, Thresholds
from .tshark import CaptureError, TsharkError, find_tshark


class ExitCode(IntEnum):
    OK = 0
    FAIL = 1
    USAGE = 2
    INPUT = 3
    TSHARK = 4


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


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

# Options shared by the reporting commands, defined once.
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
CallOpt = Annotated[list[str] | None, typer.Option("--call", help="Only this Call-ID (repeatable).")]
SelectOpt = Annotated[list[str] | None, typer.Option(
    "--select", help="Only these rules: ids or names, comma-separated or repeated.")]
IgnoreOpt = Annotated[list[str] | None, typer.Option("--ignore", help="Skip these rules: ids or names.")]
LocalOpt = Annotated[list[str] | None, typer.Option(
    "--local", help="Our side of the calls: ADDR or CIDR (repeatable); sets each call's direction.")]
FailOnOpt = Annotated[FailOn, typer.Option(
    "--fail-on", help="Lowest status that makes the exit code 1.")]
TsharkOpt = Annotated[str | None, typer.Option(
    "--tshark", help="Path of the tshark to use (else $SIPDIAG_TSHARK, PATH).")]
DecodeAsOpt = Annotated[list[str] | None, typer.Option(
    "--decode-as", help="Passed to tshark -d, e.g. tcp.port==6060,sip (repeatable).")]
KeylogOpt = Annotated[Path | None, typer.Option(
    "--tls-keylog", help="TLS key log file (SSLKEYLOGFILE format) to decrypt SIP over TLS.")]
ThresholdOpt = Annotated[list[str] | None, typer.Option(
    "--threshold", "-T", metavar="NAME=VALUE",
    help="Override a threshold (repeatable): " + ", ".join(
        f"{f.name}={f.default:g}" for f in fields(Thresholds)) + ".")]


def parse_thresholds(values: list[str] | None) -> Thresholds:
    """NAME=VALUE overrides on top of the catalog's defaults; ValueError with one line when wrong."""
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
    return replace(Thresholds(), **changes)


def _rule_options(call: list[str] | None, select: list[str] | None, ignore: list[str] | None,
                  local: list[str] | None, threshold: list[str] | None) -> RuleOptions:
    try:
        selected = select_rules(select or [], ignore or [])
        settings = Settings(local_nets=parse_local(local or []), thresholds=parse_thresholds(threshold))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return RuleOptions(settings=settings, selected=selected, call_ids=tuple(call or ()))


def _tap_options(tshark: str | None, decode_as: list[str] | None, tls_keylog: Path | None) -> TapOptions:
    if tls_keylog is not None and not tls_keylog.is_file():
        raise UsageError(f"--tls-keylog {tls_keylog}: no such file")
    return TapOptions(tshark=find_tshark(tshark), decode_as=tuple(decode_as or ()), tls_keylog=tls_keylog)


def _emit(reports: list[CaptureReport], fmt: Format, fail_on: FailOn) -> None:
    text = render.report_json(reports) if fmt is Format.JSON else render.report_table(reports)
    sys.stdout.write(text)
    for report in reports:
        if report.status == "error":
            sys.stderr.write(f"sipdiag: {render.safe_text(report.error or report.path)}\n")
    raise typer.Exit(int(exit_code(reports, fail_on)))


def exit_code(reports: list[CaptureReport], fail_on: FailOn) -> ExitCode:
    """3 if any input was unreadable, else 1 if a check failed (or warned, with --fail-on warn)."""
    if any(r.status == "error" for r in reports):
        return ExitCode.INPUT
    statuses = {c.status for r in reports for c in r.all_checks()}
    if Status.FAIL in statuses or (fail_on is FailOn.WARN and Status.WARN in statuses):
        return ExitCode.FAIL
    return ExitCode.OK


@app.command()
def analyze(
    captures: Annotated[list[Path], typer.Argument(help="Capture files, or folders to search for captures.")],
    fmt: FormatOpt = Format.TABLE,
    call: CallOpt = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    local: LocalOpt = None,
    threshold: ThresholdOpt = None,
    fail_on: FailOnOpt = FailOn.FAIL,
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
) -> None:
    """Run tshark with the Lua tap on each capture, then the rules; print the checklist."""
    rules = _rule_options(call, select, ignore, local, threshold)
    tap = _tap_options(tshark, decode_as, tls_keylog)
    reports = [analyse_capture(tap, rules, path) for path in expand_inputs(captures)]
    _emit(reports, fmt, fail_on)


@app.command()
def check(
    summaries: Annotated[list[Path], typer.Argument(help="PDML files written by the sipdiag tap.")],
    fmt: FormatOpt = Format.TABLE,
    call: CallOpt = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    local: LocalOpt = None,
    threshold: ThresholdOpt = None,
    fail_on: FailOnOpt = FailOn.FAIL,
) -> None:
    """Run the rules on PDML the tap already wrote (e.g. exported from Wireshark)."""
    rules = _rule_options(call, select, ignore, local, threshold)
    _emit([check_pdml(rules, path) for path in summaries], fmt, fail_on)


@app.command("export")
def export_command(
    capture: Annotated[Path, typer.Argument(help="The capture to summarise.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the PDML summary.")],
    tshark: TsharkOpt = None,
    decode_as: DecodeAsOpt = None,
    tls_keylog: KeylogOpt = None,
) -> None:
    """Run the tap stage alone: write the per-call PDML summary of a capture."""
    tap = _tap_options(tshark, decode_as, tls_keylog)
    summary = export(tap, capture, output)
    note = f" (capture cut short: {summary.facts.read_error})" if summary.facts.read_error else ""
    sys.stderr.write(f"sipdiag: wrote {output}: {len(summary.calls)} call(s), "
                     f"{summary.facts.packets} packets{note}\n")


@app.command("rules")
def rules_command(fmt: FormatOpt = Format.TABLE) -> None:
    """List the rule catalog."""
    sys.stdout.write(render.rules_json(RULES) if fmt is Format.JSON else render.rules_table(RULES))


@app.command()
def rule(key: Annotated[str, typer.Argument(help="A rule id (SIP005) or name (busy-here).")]) -> None:
    """Show one rule's documentation."""
    found = find(key)
    if found is None:
        raise UsageError(f"unknown rule {key!r} (see `sipdiag rules`)")
    sys.stdout.write(render.rule_doc(found))


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"sipdiag {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
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


def main() -> None:
    """Entry point: one line on stderr and a documented exit code for every error."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("sipdiag: interrupted\n")
        sys.exit(130)
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
