"""The tap's pure Lua helpers, under every Lua from 5.1 to 5.4 (Wireshark 3.6-4.6 embed these)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sipdiag_post import pdml

ROOT = Path(__file__).resolve().parent.parent
TAP = ROOT / "lua" / "sipdiag.lua"
LUAS = ["lua5.1", "lua5.2", "lua5.3", "lua5.4"]


def _lua(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (make test installs it)")
    return path


@pytest.mark.parametrize("lua", LUAS)
def test_helpers(lua: str) -> None:
    done = subprocess.run([_lua(lua), str(ROOT / "tests/lua/test_helpers.lua"), str(TAP)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 failures" in done.stdout


@pytest.mark.parametrize("lua", LUAS)
def test_hostile_bytes_render_well_formed_pdml(lua: str) -> None:
    done = subprocess.run([_lua(lua), str(ROOT / "tests/lua/render_hostile.lua"), str(TAP)],
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    summary = pdml.parse_summary(done.stdout)
    (call,) = summary.calls
    assert call.call_id.startswith("<x a=\"&'\">")  # metacharacters survive as text
    assert "\x00" not in call.call_id and "\x1b" not in call.call_id
    assert "\ufffd" in call.call_id  # control bytes and invalid UTF-8 replaced, not dropped
    assert call.messages[0].x_headers and call.messages[0].reason_headers
    assert summary.facts.tap_errors == 1
