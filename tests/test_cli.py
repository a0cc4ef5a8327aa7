"""The command line as users and CI jobs run it: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sipdiag_post.rules import RULES
from sipdiag_post.tshark import parse_version_output
from tests.contract import check_report

ROOT = Path(__file__).resolve().parent.parent
BUSY = "fixtures/486-busy-inbound/capture.pcap"
HEALTHY = "fixtures/healthy-call/capture.pcap"
SLOW = "fixtures/slow-first-response/capture.pcap"


def sipdiag(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sipdiag: ")
    return lines[0]


def test_analyze_prints_the_checklist_and_exits_1_on_a_failure():
    done = sipdiag("analyze", BUSY)
    assert done.returncode == 1
    assert re.search(r"FAIL\s+SIP005\s+busy-here\s+LiveKit gave up waiting for an agent after ringing 0.3 s: "
                     r"486 Rejected", done.stdout)
    assert "passed" in done.stdout and "\x1b[" not in done.stdout  # folded rows; no colour into a pipe
    verbose = sipdiag("analyze", "--verbose", BUSY).stdout
    assert "remedy: No agent joined the call's room" in verbose
    assert "filter: (sip.Call-ID ===" in verbose


def test_a_healthy_call_exits_0():
    assert sipdiag("analyze", HEALTHY).returncode == 0


def test_fail_on_warn_makes_warnings_count():
    assert sipdiag("analyze", SLOW).returncode == 0
    assert sipdiag("analyze", SLOW, "--fail-on", "warn").returncode == 1


def test_json_follows_the_contract_for_several_captures():
    done = sipdiag("analyze", BUSY, HEALTHY, "--format", "json")
    report = json.loads(done.stdout)
    check_report(report)
    assert [c["path"] for c in report["captures"]] == [BUSY, HEALTHY]
    assert report["captures"][0]["calls"][0]["direction"] == "inbound"


def test_a_folder_is_searched_for_captures():
    report = json.loads(sipdiag("analyze", "fixtures/403-forbidden", "--format", "json").stdout)
    assert [c["path"] for c in report["captures"]] == ["fixtures/403-forbidden/capture.pcap"]


def test_select_ignore_and_call_narrow_the_report():
    report = json.loads(sipdiag("analyze", BUSY, "--format", "json", "--select", "SIP005,cap001").stdout)
    check_report(report, selected={"SIP005", "CAP001"})
    report = json.loads(sipdiag("analyze", BUSY, "--format", "json", "--ignore", "busy-here").stdout)
    assert "SIP005" not in [c["id"] for c in report["captures"][0]["calls"][0]["checks"]]
    report = json.loads(sipdiag("analyze", "fixtures/concurrent-calls/capture.pcap", "--format", "json",
                                "--call", "concurrent-calls-2@sipdiag.test").stdout)
    assert [c["call_id"] for c in report["captures"][0]["calls"]] == ["concurrent-calls-2@sipdiag.test"]


def test_local_names_our_side():
    report = json.loads(sipdiag("analyze", BUSY, "--format", "json", "--local", "127.0.0.1/32").stdout)
    # caller and callee share 127.0.0.1: --local cannot decide, the LiveKit Server header does
    assert report["captures"][0]["calls"][0]["direction"] == "inbound"


def test_check_reads_pdml_and_agrees_with_analyze():
    checked = json.loads(sipdiag("check", "fixtures/486-busy-inbound/expected.pdml", "--format", "json").stdout)
    analysed = json.loads(sipdiag("analyze", BUSY, "--format", "json").stdout)
    assert checked["captures"][0]["calls"] == analysed["captures"][0]["calls"]


def test_export_writes_the_tap_summary(tmp_path):
    out = tmp_path / "summary.pdml"
    done = sipdiag("export", BUSY, "-o", str(out))
    assert done.returncode == 0
    assert "1 call(s)" in done.stderr
    assert re.search(rb'sipdiag_schema="1\.\d+"', out.read_bytes())


def test_export_of_a_truncated_capture_says_so_in_the_pdml(tmp_path):
    out = tmp_path / "summary.pdml"
    done = sipdiag("export", "fixtures/truncated/capture.pcap", "-o", str(out))
    assert "cut short" in done.stderr
    assert b"sipdiag.capture.read_error" in out.read_bytes()


def test_call_is_chosen_by_number_or_part_of_its_call_id():
    capture = str(ROOT / "fixtures/concurrent-calls/capture.pcap")
    by_number = json.loads(sipdiag("analyze", capture, "--call", "2", "--format", "json").stdout)
    by_part = json.loads(sipdiag("analyze", capture, "--call", "CALLS-2@", "--format", "json").stdout)
    assert [c["call_id"] for c in by_number["captures"][0]["calls"]] == ["concurrent-calls-2@sipdiag.test"]
    assert by_part == by_number


def test_rules_and_rule():
    listing = sipdiag("rules").stdout
    assert "SIP005  busy-here" in listing and "CID001" in listing
    listed = json.loads(sipdiag("rules", "--format", "json").stdout)
    assert [r["id"] for r in listed] == [r.id for r in RULES] and len(RULES) >= 35
    by_id, by_name = sipdiag("rule", "SIP005").stdout, sipdiag("rule", "busy-here").stdout
    assert by_id == by_name and "Remedy:" in by_id
    assert sipdiag("rule", "busy").stdout == by_id  # a unique prefix or part of a name finds it
    ambiguous = sipdiag("rule", "rtp")
    assert ambiguous.returncode == 2 and "RTP001 no-rtp" in ambiguous.stderr


@pytest.mark.parametrize(("args", "code", "message"), [
    (["rule", "nope"], 2, "unknown rule 'nope'"),
    (["analyze", BUSY, "--select", "SIP999"], 2, "unknown rule 'SIP999'"),
    (["analyze", BUSY, "--local", "not-an-ip"], 2, "is not an IP address or CIDR"),
    (["analyze", BUSY, "--tshark", "/nonexistent/tshark"], 4, "cannot run tshark"),
    (["export", BUSY, "-o", "/nonexistent/dir/x.pdml"], 2, "cannot write"),
    (["analyze", BUSY, "--decode-as", "udp.port==6060,nosuchprotocol"], 2, 'Unknown protocol -- "nosuchprotocol"'),
    (["analyze", BUSY, "--tshark-option", "nosuch.pref:1"], 2, "specifies unknown preference"),
    (["analyze", BUSY, "--tshark-option", "nocolon"], 2, "expected NAME:VALUE"),
    (["analyze", BUSY, "-T", "loss_warn_pct=-1"], 2, "must be a number, 0 or more"),
    (["analyze", BUSY, "-T", "jitter_warn_ms=30"], 2, "warn must come before fail"),
    (["analyze", BUSY, "--call", "no-such-call"], 2, "no call matches --call no-such-call"),
])
def test_usage_and_environment_errors(args, code, message):
    done = sipdiag(*args)
    assert done.returncode == code
    assert message in one_line_error(done)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    (b"", "empty file"),
    (b"hello\n", "not a packet capture (tshark reads it as mp4 data)"),
    (b"this is plain text, certainly not a capture file\n" * 3, "isn't a capture file"),
])
def test_unreadable_captures_exit_3_with_one_line(tmp_path, content, message):
    path = tmp_path / "input.pcap"
    if content is not None:
        path.write_bytes(content)
    done = sipdiag("analyze", str(path))
    assert done.returncode == 3
    assert message in one_line_error(done)


@pytest.mark.parametrize(("document", "message"), [
    ('<?xml version="1.0"?><!DOCTYPE pdml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
     '<pdml sipdiag_schema="1.0">&b;</pdml>', "DTDs and entity declarations are not allowed"),
    ('<?xml version="1.0"?><!DOCTYPE pdml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     '<pdml sipdiag_schema="1.0"><packet><proto name="sipdiag.capture"><field name="sipdiag.capture.read_error" '
     'show="&xxe;"/></proto></packet></pdml>', "DTDs and entity declarations are not allowed"),
    ('<?xml version="1.0"?><!DOCTYPE pdml SYSTEM "http://127.0.0.1:9/pdml.dtd"><pdml sipdiag_schema="1.0"/>',
     "DTDs and entity declarations are not allowed"),
])
def test_hostile_pdml_is_refused_with_exit_3(tmp_path, document, message):
    bomb = tmp_path / "bomb.pdml"
    bomb.write_text(document)
    done = sipdiag("check", str(bomb))
    assert done.returncode == 3
    assert message in one_line_error(done)
    assert "root:" not in done.stdout + done.stderr  # /etc/passwd never read


@pytest.mark.parametrize(("text", "version", "lua"), [
    ("TShark (Wireshark) 4.0.17 (Git v4.0.17 packaged as 4.0.17-0+deb12u3).\n"
     "Compiled (64-bit) using GCC 12.2.0, with GLib 2.74.6, with Lua 5.2.4, with GnuTLS", (4, 0, 17), "5.2.4"),
    ("TShark (Wireshark) 4.6.1.\nCompiled with: +GLib 2.84, +zlib-ng, +Lua 5.4.7, +GnuTLS", (4, 6, 1), "5.4.7"),
    ("TShark (Wireshark) 3.6.2\nCompiled with GLib, without Lua, with GnuTLS", (3, 6, 2), None),
    ("TShark (Wireshark) 4.4.0\nCompiled with: +GLib, -Lua, +zlib", (4, 4, 0), None),
])
def test_tshark_version_and_lua_support_are_read_from_v(text, version, lua):
    assert parse_version_output(text) == (version, lua)


@pytest.mark.parametrize("fmt", ["csv", "markdown", "junit"])
def test_every_format_is_offered(fmt, tmp_path):
    out = tmp_path / f"report.{fmt}"
    done = sipdiag("analyze", BUSY, "--format", fmt, "--output", str(out))
    assert done.returncode == 1 and done.stdout == ""
    assert "SIP005" in out.read_text()


def test_ladder_draws_the_call_with_its_media():
    done = sipdiag("ladder", "fixtures/healthy-call/capture.pcap")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[1] == "  A = 127.0.0.1:5070 (caller)"
    assert any(re.search(r"\|-+ INVITE -+>\|  SDP PCMA,PCMU,telephone-event @127\.0\.0\.1:16000", line)
               for line in lines)
    assert sum("RTP" in line and "300 packets" in line for line in lines) == 2
    assert sipdiag("ladder", "fixtures/healthy-call/expected.pdml").stdout == done.stdout


def test_ladder_of_an_unknown_call_is_a_usage_error():
    done = sipdiag("ladder", BUSY, "--call", "nope")
    assert done.returncode == 2 and "no call matches --call nope" in one_line_error(done)


def test_doctor_reports_tshark_lua_and_packages():
    done = sipdiag("doctor")
    assert done.returncode == 0
    assert re.search(r"tshark: /\S+, version \d+\.\d+\.\d+, Lua \d", done.stdout)
    assert "Python packages: typer" in done.stdout and "pyshark" in done.stdout
    missing = sipdiag("doctor", "--tshark", "/nonexistent/tshark")
    assert missing.returncode == 4 and "NOT USABLE" in missing.stdout


def _run_in(directory, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=directory, env=env,
                          capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_config_file_sets_defaults_and_the_command_line_wins(tmp_path):
    capture = str(ROOT / "fixtures/media-jitter/capture.pcap")
    assert _run_in(tmp_path, "analyze", capture, "--select", "RTP004").returncode == 1
    (tmp_path / "sipdiag.toml").write_text('fail-on = "warn"\n[thresholds]\njitter_fail_ms = 40\n')
    relaxed = _run_in(tmp_path, "analyze", capture, "--select", "RTP004")
    assert "WARN" in relaxed.stdout and relaxed.returncode == 1  # warn, and fail-on warn from the file
    assert _run_in(tmp_path, "analyze", capture, "--select", "RTP004", "--fail-on", "fail").returncode == 0
    strict = _run_in(tmp_path, "analyze", capture, "--select", "RTP004", "-T", "jitter_fail_ms=10")
    assert "FAIL" in strict.stdout


def test_pyproject_tool_section_is_read_and_bad_config_is_one_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.sipdiag]\nignore = ["CID001"]\n')
    report = json.loads(_run_in(tmp_path, "check", str(ROOT / "fixtures/486-busy-inbound/expected.pdml"),
                                "--format", "json").stdout)
    assert "CID001" not in [c["id"] for c in report["captures"][0]["calls"][0]["checks"]]
    (tmp_path / "sipdiag.toml").write_text("colour = 1\n")
    done = _run_in(tmp_path, "analyze", BUSY)
    assert done.returncode == 2 and "unknown setting 'colour'" in one_line_error(done)


def test_cli_reference_is_generated_from_the_help():
    from sipdiag_post.docs import cli_markdown

    assert (ROOT / "docs/cli.md").read_text() == cli_markdown(), "run `make docs`"


def _on_a_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """Run sipdiag with stdout and stderr on a pseudo-terminal; what the terminal showed."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdout and stderr
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "sipdiag_post", *args],
                  {**os.environ, "COLUMNS": "160", **(env or {})})
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_unless_no_color():
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal("analyze", BUSY, env=env | {"NO_COLOR": ""})
    assert "\x1b[1;31mFAIL" in coloured
    assert "\x1b[1;31mFAIL" not in _on_a_terminal("analyze", BUSY, env={"NO_COLOR": "1"})


def test_a_batch_shows_progress_on_a_terminal():
    shown = _on_a_terminal("analyze", "fixtures/403-forbidden", "fixtures/404-not-found", "--jobs", "1",
                           env={"NO_COLOR": "1"})
    assert "analysing" in shown
