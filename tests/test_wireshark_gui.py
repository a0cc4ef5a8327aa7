"""The real Wireshark: under Xvfb, with the plugin installed by `sipdiag
install-plugin`, Tools > SIP Diagnostics > Call checklist over a failing
fixture opens a window with the checklist. A screenshot is kept in
test-artifacts/gui/checklist.png. What the window shows is read through a
test-only plugin installed beside the tap (tests/lua/gui_echo.lua).

Needs Debian's wireshark-qt, xvfb, xdotool and imagemagick (`make gui-deps`,
which `make test` runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ECHO_PLUGIN = ROOT / "tests" / "lua" / "gui_echo.lua"
ARTIFACTS = ROOT / "test-artifacts" / "gui"
CAPTURE = ROOT / "fixtures" / "486-busy-inbound" / "capture.pcap"
TOOLS = ("wireshark", "Xvfb", "xdotool", "import")


def wait_for(what: str, probe: Callable[[], str | None], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def display() -> Iterator[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"missing {', '.join(missing)}: run make gui-deps"
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not start"
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def windows(env: dict[str, str], name: str) -> list[str]:
    done = subprocess.run(["xdotool", "search", "--name", name], capture_output=True, text=True, env=env, check=False)
    return done.stdout.split()


def test_call_checklist_from_the_tools_menu_of_the_real_wireshark(display, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    echo = tmp_path / "shown.txt"
    sipdiag = str(Path(sys.executable).with_name("sipdiag"))
    env = {**os.environ, "DISPLAY": display, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_RUNTIME_DIR": str(tmp_path), "SIPDIAG_BIN": sipdiag, "SIPDIAG_GUI_ECHO": str(echo)}
    installed = subprocess.run([sipdiag, "install-plugin"], capture_output=True, text=True, env=env, check=False)
    assert installed.returncode == 0, installed.stderr
    plugins = Path(installed.stdout.split()[1]).parent
    assert plugins.is_relative_to(home)  # the personal plugins folder of this HOME
    shutil.copy(ECHO_PLUGIN, plugins / "sipdiag_test_echo.lua")

    log = (tmp_path / "wireshark.log").open("w")
    wireshark = subprocess.Popen(["wireshark", "-r", str(CAPTURE)], env=env, stdout=log, stderr=log)
    try:
        main = wait_for("Wireshark's main window", lambda: next(iter(windows(env, CAPTURE.name)), None), 60)
        checklist = None
        for _ in range(3):  # keystrokes sent before Qt maps its menus can be lost: try again
            subprocess.run(["xdotool", "windowfocus", "--sync", main], env=env, check=False)
            subprocess.run(["xdotool", "key", "--delay", "300", "Escape", "alt+t", "Up", "Right", "Return"],
                           env=env, check=False)
            try:
                checklist = wait_for("the checklist window", lambda: next(iter(windows(env, "SIP Diagnostics")),
                                                                          None), 20)
                break
            except AssertionError:
                continue
        assert checklist, "Tools > SIP Diagnostics > Call checklist opened no window"
        shown = wait_for("the checklist text", lambda: (echo.exists() and echo.read_text()) or None, 20)
        assert "FAIL  SIP005  busy-here" in shown
        assert "486-busy-inbound-1@sipdiag.test" in shown and "CID001" in shown

        # a readable screenshot: the checklist window large, on top of Wireshark
        subprocess.run(["xdotool", "windowsize", checklist, "1100", "800"], env=env, check=False)
        subprocess.run(["xdotool", "windowmove", checklist, "380", "120"], env=env, check=False)
        time.sleep(1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "checklist.png"
        shot.unlink(missing_ok=True)
        subprocess.run(["import", "-window", "root", str(shot)], env=env, check=True)
        assert shot.stat().st_size > 10_000
    finally:
        wireshark.terminate()
        try:
            wireshark.wait(timeout=10)
        except subprocess.TimeoutExpired:
            wireshark.kill()
        log.close()
