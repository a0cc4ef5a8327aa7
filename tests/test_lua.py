"""The tap's sipdiag.* Lua modules, under every Lua from 5.1 to 5.4 (Wireshark 3.6-4.6 embed these).

tests/lua/test_modules.lua runs one group of checks per module, each group declared with the number of
checks it runs (tests/lua/testlib.lua); here every group must report that it ran them all and passed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sipdiag_post import pdml, text

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = ROOT / "lua"
TAP = LUA_DIR / "sipdiag.lua"
MODULES = sorted((LUA_DIR / "sipdiag").glob("*.lua"))
LUAS = ["lua5.1", "lua5.2", "lua5.3", "lua5.4"]
# one group per module, and the check that each loads alone without side effects
GROUPS = {"isolation", "text", "sip", "sdp", "rtp", "rtcp", "state", "pdml", "brief", "frame"}
_GROUP = re.compile(r"^GROUP (\S+): (ok|FAILED), (\d+) of (\d+) checks ran", re.MULTILINE)
# what a module may read from the global table: Lua's own libraries, no Wireshark API
STANDARD = {"ipairs", "pairs", "math", "string", "table", "tostring", "tonumber", "type", "select", "pcall",
            "error", "assert", "setmetatable", "getmetatable", "rawget", "rawset", "require", "next", "unpack"}


def _lua(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (make test installs it)")
    return path


def _groups(stdout: str) -> dict[str, str]:
    """Each reported group's verdict: "ok" or "FAILED ran/declared"."""
    return {name: verdict if verdict == "ok" else f"{verdict} {ran}/{declared}"
            for name, verdict, ran, declared in _GROUP.findall(stdout)}


@pytest.mark.parametrize("lua", LUAS)
def test_every_module_group_runs_all_its_declared_checks_and_passes(lua: str) -> None:
    done = subprocess.run([_lua(lua), str(ROOT / "tests/lua/test_modules.lua"), str(LUA_DIR)],
                          capture_output=True, text=True, check=False)
    assert _groups(done.stdout) == dict.fromkeys(GROUPS, "ok"), done.stdout + done.stderr
    assert done.returncode == 0 and "ALL GROUPS OK" in done.stdout


@pytest.mark.parametrize("lua", ["lua5.1", "lua5.4"])
def test_a_group_that_skips_adds_fails_or_errors_a_check_fails_the_run(lua: str) -> None:
    done = subprocess.run([_lua(lua), str(ROOT / "tests/lua/testlib_selftest.lua")],
                          capture_output=True, text=True, check=False)
    assert _groups(done.stdout) == {"right": "ok", "short": "FAILED 2/3", "extra": "FAILED 2/1",
                                    "failing": "FAILED 1/1", "erroring": "FAILED 1/2", "never": "FAILED 0/1"}
    assert done.returncode == 1 and "SOME GROUPS FAILED" in done.stdout


@pytest.mark.parametrize("lua", LUAS)
def test_hostile_bytes_render_well_formed_pdml(lua: str) -> None:
    done = subprocess.run([_lua(lua), str(ROOT / "tests/lua/render_hostile.lua"), str(LUA_DIR)],
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    summary = pdml.parse_summary(done.stdout)
    (call,) = summary.calls
    assert call.call_id.startswith("<x a=\"&'\">")  # metacharacters survive as text
    assert "\x00" not in call.call_id and "\x1b" not in call.call_id
    # the Call-ID escaped reversibly: every byte the message had comes back from the text
    sent = (b"<x a=\"&'\">" + bytes(range(256)) + b"]]>&lol;").replace(b"\r", b"_").replace(b"\n", b"_")
    assert text.id_bytes(call.call_id) == sent
    assert "\\x00" in call.call_id and "\\xff" in call.call_id and "\ufffd" not in call.call_id
    assert call.messages[0].x_headers and call.messages[0].reason_headers
    assert summary.facts.tap_errors == 1


def _globals(path: Path) -> tuple[set[str], set[str]]:
    """The global names a Lua file reads and writes, from luac's listing of its bytecode."""
    listing = subprocess.run([_lua("luac5.4"), "-p", "-l", "-l", str(path)], capture_output=True, text=True,
                             check=True).stdout
    found = re.findall(r"\b(GETTABUP|SETTABUP)\b.*_ENV \"(\w+)\"", listing)
    return {name for op, name in found if op == "GETTABUP"}, {name for op, name in found if op == "SETTABUP"}


@pytest.mark.parametrize("module", MODULES, ids=[m.stem for m in MODULES])
def test_modules_use_only_lua_itself_and_set_no_globals(module: Path) -> None:
    reads, writes = _globals(module)
    assert not writes
    assert reads <= STANDARD, f"{module.name} reads {sorted(reads - STANDARD)}"


def test_the_tap_script_sets_no_globals() -> None:
    reads, writes = _globals(TAP)
    assert not writes
    assert {"Listener", "register_menu", "all_field_infos"} <= reads  # the listing is read as intended


def test_the_usage_header_shows_the_schema_version_and_creator_the_tap_writes() -> None:
    header = TAP.read_text().split("]]", 1)[0]
    sample = re.search(r'creator="sipdiag/([\d.]+)" sipdiag_schema="([\d.]+)"', header)
    assert sample, "the usage header has no sample <pdml> line"
    schema = re.search(r'M\.SCHEMA_VERSION = "([\d.]+)"', (LUA_DIR / "sipdiag/pdml.lua").read_text())
    tap_version = re.search(r'local TAP_VERSION = "([\d.]+)"', TAP.read_text())
    assert schema and tap_version
    assert sample.groups() == (tap_version.group(1), schema.group(1))
    written = (ROOT / "fixtures/486-busy-inbound/expected.pdml").read_text().splitlines()[1]
    assert f'creator="sipdiag/{tap_version.group(1)}" sipdiag_schema="{schema.group(1)}"' in written
