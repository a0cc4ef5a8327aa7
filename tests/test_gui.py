"""The Tools-menu actions of lua/sipdiag.lua, run under tshark with stand-ins for the GUI
(tests/lua/gui_harness.lua), and installing the plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sipdiag_post import pdml

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests/lua/gui_harness.lua"
TAP = ROOT / "lua/sipdiag.lua"


def menu(tshark, capture: str, action: str, answer: str = "", env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if k != "SIPDIAG_BIN"}
    base["PATH"] = "/usr/bin:/bin"  # no sipdiag on it unless SIPDIAG_BIN names one
    done = subprocess.run([tshark.path, "-q", "-n", "-r", str(ROOT / capture), "-X", f"lua_script:{HARNESS}",
                           "-X", f"lua_script1:{TAP}", "-X", f"lua_script1:{action}", "-X", f"lua_script1:{answer}"],
                          capture_output=True, text=True, env=base | (env or {}), check=False)
    assert "Lua: Error" not in done.stderr, done.stderr
    return done.stdout


def test_the_tools_menu_has_three_entries_and_each_retaps_once(tshark):
    shown = menu(tshark, "fixtures/healthy-call/capture.pcap", "Call checklist")
    assert ("MENUS: SIP Diagnostics/Call checklist; SIP Diagnostics/Export per-call PDML...; "
            "SIP Diagnostics/Filter a call...") in shown
    assert "RETAPS: 1" in shown


def test_checklist_without_the_post_processor_shows_the_taps_summary_and_how_to_install(tshark):
    shown = menu(tshark, "fixtures/media-loss/capture.pcap", "Call checklist")
    assert "WINDOW: SIP Diagnostics: call checklist" in shown
    assert "1. media-loss-1@sipdiag.test" in shown and "final response 200" in shown
    assert re.search(r"RTP 127\.0\.0\.1:18000 -> 127\.0\.0\.1:16000 SSRC 0x5E6F7081: 285 packets, 14 lost", shown)
    assert "SIPDIAG_BIN" in shown and "pipx install ." in shown


def test_checklist_with_the_post_processor_shows_the_rules(tshark):
    shown = menu(tshark, "fixtures/486-busy-inbound/capture.pcap", "Call checklist",
                 env={"SIPDIAG_BIN": str(Path(sys.executable).with_name("sipdiag"))})
    assert re.search(r"FAIL\s+SIP005\s+busy-here", shown)
    assert "Capture the open capture: ok" in shown  # not the temporary file's name
    assert "remedy: Your side declined the call" in shown


def test_filter_a_call_by_number_applies_a_filter_for_its_sip_rtp_and_rtcp(tshark):
    shown = menu(tshark, "fixtures/concurrent-calls/capture.pcap", "Filter a call...", "2")
    line = next(row for row in shown.splitlines() if row.startswith("FILTER: "))
    assert line.endswith("APPLIED: true")
    display_filter = line.removeprefix("FILTER: ").removesuffix(" APPLIED: true")
    assert 'sip.Call-ID == "concurrent-calls-2@sipdiag.test"' in display_filter
    frames = subprocess.run([tshark.path, "-n", "-r", str(ROOT / "fixtures/concurrent-calls/capture.pcap"),
                             "-Y", display_filter, "-T", "fields", "-e", "sip.Call-ID", "-e", "rtp.ssrc",
                             "-e", "rtcp.senderssrc"], capture_output=True, text=True, check=False).stdout
    rows = frames.splitlines()
    assert len(rows) == 7 + 600 + 4  # its SIP, its two RTP streams, its RTCP; nothing of call 1
    assert not any("concurrent-calls-1" in r for r in rows)


def test_filter_a_call_without_a_match_lists_the_calls(tshark):
    shown = menu(tshark, "fixtures/concurrent-calls/capture.pcap", "Filter a call...", "nope")
    assert "No single call matches 'nope'" in shown and "2. concurrent-calls-2@sipdiag.test" in shown
    assert "APPLIED: false" in shown


def test_export_writes_the_pdml_the_post_processor_reads(tshark, tmp_path):
    out = tmp_path / "calls.pdml"
    shown = menu(tshark, "fixtures/486-busy-inbound/capture.pcap", "Export per-call PDML...", str(out))
    assert f"Wrote {out}" in shown
    assert pdml.read_summary(out).calls[0].call_id == "486-busy-inbound-1@sipdiag.test"


def test_a_copy_in_a_plugins_folder_stays_silent_under_tshark(tshark, tmp_path):
    plugin_dir = tmp_path / "home/.local/lib/wireshark/plugins"
    plugin_dir.mkdir(parents=True)
    shutil.copy(TAP, plugin_dir / "sipdiag.lua")
    done = subprocess.run([tshark.path, "-q", "-n", "-r", str(ROOT / "fixtures/486-busy-inbound/capture.pcap"),
                           "-X", f"lua_script:{plugin_dir / 'sipdiag.lua'}"], capture_output=True, text=True,
                          check=False)
    assert done.stdout == ""


def test_install_plugin_puts_the_tap_where_tshark_loads_it_and_removes_it(tshark, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    sipdiag = [sys.executable, "-m", "sipdiag_post"]
    done = subprocess.run([*sipdiag, "install-plugin"], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr
    installed = Path(done.stdout.split()[1])
    assert installed.is_relative_to(tmp_path) and installed.read_bytes() == TAP.read_bytes()
    folders = subprocess.run([tshark.path, "-G", "folders"], capture_output=True, text=True, env=env).stdout
    assert str(installed.parent) in folders
    # loaded as a plugin by tshark, it does not disturb the analysis
    report = subprocess.run([*sipdiag, "analyze", "fixtures/486-busy-inbound/capture.pcap", "--format", "json"],
                            capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert '"final_status": 486' in report.stdout
    removed = subprocess.run([*sipdiag, "install-plugin", "--uninstall"], capture_output=True, text=True, env=env,
                             cwd=ROOT, check=False)
    assert removed.returncode == 0 and not installed.exists()


@pytest.mark.parametrize("lua", ["lua5.1", "lua5.2", "lua5.3", "lua5.4"])
def test_menu_helpers_in_plain_lua(lua):
    if shutil.which(lua) is None:
        pytest.skip(f"{lua} not installed")
    script = """
local M = dofile(arg[1])
local calls = { { id = "a-1@x", msgs = {}, total = 0, streams = {} }, { id = "a-2@x", msgs = {}, total = 0 } }
assert(M.pick_call(calls, "2").id == "a-2@x")
assert(M.pick_call(calls, "a-1@x").id == "a-1@x")
assert(M.pick_call(calls, "a-") == nil, "ambiguous prefix")
assert(M.pick_call(calls, "") == nil)
assert(M.call_filter({ id = 'q"x', streams = {} }) == 'sip.Call-ID == "q\\\\"x"')
print("ok")
"""
    done = subprocess.run([lua, "-", str(TAP)], input=script, capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr
