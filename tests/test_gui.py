"""The Tools-menu actions of lua/sipdiag.lua, run under tshark with stand-ins for the GUI
(tests/lua/gui_harness.lua), and installing the plugin (sipdiag.lua and its sipdiag/ modules)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from sipdiag_post import pdml
from sipdiag_post.tshark import tap_files

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests/lua/gui_harness.lua"
TAP = ROOT / "lua/sipdiag.lua"
BUSY = ROOT / "fixtures/486-busy-inbound"
SIPDIAG = [sys.executable, "-m", "sipdiag_post"]


def menu(tshark, capture: str, action: str, answer: str = "", env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if k != "SIPDIAG_BIN"}
    base["PATH"] = "/usr/bin:/bin"  # no sipdiag on it unless SIPDIAG_BIN names one
    done = subprocess.run([tshark.path, "-q", "-n", "-r", str(ROOT / capture), "-X", f"lua_script:{HARNESS}",
                           "-X", f"lua_script1:{TAP}", "-X", f"lua_script1:{action}", "-X", f"lua_script1:{answer}"],
                          capture_output=True, text=True, env=base | (env or {}), check=False)
    assert "Lua: Error" not in done.stderr, done.stderr
    assert "ACTION ERROR" not in done.stdout, done.stdout
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
    assert "remedy: No agent joined the call's room" in shown


def test_filter_a_call_by_number_applies_a_filter_for_its_sip_rtp_and_rtcp(tshark):
    shown = menu(tshark, "fixtures/concurrent-calls/capture.pcap", "Filter a call...", "2")
    line = next(row for row in shown.splitlines() if row.startswith("FILTER: "))
    assert line.endswith("APPLIED: true")
    display_filter = line.removeprefix("FILTER: ").removesuffix(" APPLIED: true")
    assert 'sip.Call-ID === "concurrent-calls-2@sipdiag.test"' in display_filter
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


def install(env: dict[str, str]) -> Path:
    """`sipdiag install-plugin` into env's HOME; the personal plugins folder."""
    done = subprocess.run([*SIPDIAG, "install-plugin"], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.split()[1]).parent


def test_install_plugin_puts_the_tap_and_its_modules_where_tshark_loads_them_and_removes_them(tshark, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    plugins = install(env)
    assert plugins.is_relative_to(tmp_path)
    assert (plugins / "sipdiag.lua").read_bytes() == TAP.read_bytes()
    modules = sorted((ROOT / "lua/sipdiag").glob("*.lua"))
    assert len(modules) >= 8
    assert {p.name: p.read_bytes() for p in (plugins / "sipdiag").iterdir()} == {p.name: p.read_bytes()
                                                                                 for p in modules}
    folders = subprocess.run([tshark.path, "-G", "folders"], capture_output=True, text=True, env=env).stdout
    assert str(plugins) in folders
    doctor = subprocess.run([*SIPDIAG, "doctor"], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert f"{plugins} (sipdiag.lua and its {len(modules)} modules installed, up to date)" in doctor.stdout
    # loaded as a plugin by tshark, it does not disturb the analysis
    report = subprocess.run([*SIPDIAG, "analyze", str(BUSY / "capture.pcap"), "--format", "json"],
                            capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert '"final_status": 486' in report.stdout
    removed = subprocess.run([*SIPDIAG, "install-plugin", "--uninstall"], capture_output=True, text=True, env=env,
                             cwd=ROOT, check=False)
    assert removed.returncode == 0
    assert not (plugins / "sipdiag.lua").exists() and not (plugins / "sipdiag").exists()


def test_doctor_tells_an_incomplete_or_stale_installed_copy(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    plugins = install(env)
    (plugins / "sipdiag/text.lua").unlink()
    (plugins / "sipdiag/rtp.lua").write_text("return {}\n")
    (plugins / "sipdiag/gone.lua").write_text("return {}\n")  # a module a former version had
    doctor = subprocess.run([*SIPDIAG, "doctor"], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert ("OUT OF DATE: missing sipdiag/text.lua; differing from the tap: sipdiag/rtp.lua; "
            "not part of the tap: sipdiag/gone.lua; run `sipdiag install-plugin`") in doctor.stdout
    install(env)  # installing again repairs it, the stale module included
    assert not (plugins / "sipdiag/gone.lua").exists()
    doctor = subprocess.run([*SIPDIAG, "doctor"], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert "installed, up to date" in doctor.stdout


def test_an_installed_copy_and_its_module_files_stay_silent_under_tshark(tshark, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    plugins = install(env)
    # proof that the loader runs the files of the sipdiag/ subfolder as plugins: this one speaks
    (plugins / "sipdiag/test_probe.lua").write_text('print("probe ran")\n')
    done = subprocess.run([tshark.path, "-q", "-n", "-r", str(BUSY / "capture.pcap")], capture_output=True,
                          text=True, env=env, check=False)
    assert done.stdout == "probe ran\n"
    assert "Lua" not in done.stderr, done.stderr


def test_the_tap_uses_its_own_modules_when_another_copy_loaded_older_ones_first(tshark, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    plugins = install(env)
    stale = plugins / "sipdiag/pdml.lua"
    stale.write_text(stale.read_text().replace("M.SCHEMA_VERSION = ", 'M.SCHEMA_VERSION = "0.0-stale" or '))
    (plugins / "first.lua").write_text('require("sipdiag.pdml")\n')  # all plugins share one Lua state
    out = tmp_path / "out.pdml"
    done = subprocess.run([tshark.path, "-q", "-n", "-r", str(BUSY / "capture.pcap"), "-X", f"lua_script:{TAP}",
                           "-X", f"lua_script1:out={out}"], capture_output=True, text=True, env=env, check=False)
    assert "Lua" not in done.stderr, done.stderr
    assert out.read_bytes() == (BUSY / "expected.pdml").read_bytes()


def test_the_wheel_ships_the_tap_and_every_module_it_requires_beside_it():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    shipped = {}  # path in the wheel -> source file
    for source, target in include.items():
        if (ROOT / source).is_dir():
            shipped |= {f"{target}/{f.relative_to(ROOT / source).as_posix()}": f for f in (ROOT / source).rglob("*")}
        else:
            shipped[target] = ROOT / source
    files = tap_files(TAP)
    assert len(files) >= 9 and all(path.is_file() for path in files.values())
    for name, source in files.items():
        assert shipped.get(f"sipdiag_post/_lua/{name}") == source, name
