"""The tap under newer Wiresharks: tshark 4.4 (Debian trixie) and 4.6 (sid), both with Lua 5.4.

    sudo .venv/bin/python tests/compat.py [trixie] [sid]      (make compat)

Builds throwaway roots with debootstrap in build/compat/ (once; kept), installs
tshark there, runs the tap over every fixture (and every corpus capture when
../shared/corpus is there) inside each root, and compares the PDML with what
this machine's tshark 4.0 writes (the tap run directly, as the goldens were
made, without the runner's read-error annotation). A difference passes
only when docs/compat.md explains it (a row naming the capture and suite);
the menu actions run once per suite too, and the tap installed as a plugin
(sipdiag.lua and its sipdiag/ modules) must stay silent. Needs root
(debootstrap, chroot).
"""

from __future__ import annotations

import csv
import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures"))

import scenarios as sc  # noqa: E402

from sipdiag_post import pdml  # noqa: E402
from sipdiag_post.engine import evaluate  # noqa: E402
from sipdiag_post.rules.base import Settings  # noqa: E402
from sipdiag_post.tshark import tap_files  # noqa: E402

BUILD = ROOT / "build" / "compat"
CORPUS = Path(os.environ.get("SIPDIAG_CORPUS", ROOT.parent / "shared" / "corpus"))
MIRROR = "http://deb.debian.org/debian"
SUITES = {"trixie": "4.4", "sid": "4.6"}
_VOLATILE = re.compile(r' (wireshark|lua)="[^"]*"')
APT = ["apt-get", "-o", "Acquire::Check-Valid-Until=false"]  # snapshot mirrors carry expired Release files


def in_root(root: Path) -> list[str]:
    """Run inside the root as nobody: Wireshark 4.4+ skips Lua scripts for root, silently."""
    return ["chroot", "--userspec=65534:65534", str(root), "env", "HOME=/tmp"]


def copy_tap(folder: Path) -> None:
    """The tap and its modules into a folder of a root, readable by nobody."""
    for name, source in tap_files(ROOT / "lua/sipdiag.lua").items():
        target = folder / name
        if target.parent != folder:
            target.parent.mkdir(exist_ok=True)
            target.parent.chmod(0o755)
        shutil.copy(source, target)
        target.chmod(0o644)


def prepare(root: Path) -> Path:
    inside = root / "tmp/sipdiag"
    inside.mkdir(parents=True, exist_ok=True)
    inside.chmod(0o1777)
    copy_tap(inside)
    shutil.copy(ROOT / "tests/lua/gui_harness.lua", inside / "gui_harness.lua")
    (inside / "gui_harness.lua").chmod(0o644)
    return inside


def log(message: str) -> None:
    print(f"[compat] {message}", flush=True)


def root_for(suite: str) -> Path:
    """A root with tshark for the suite, made on first use."""
    root = BUILD / suite
    if (root / "usr/bin/tshark").exists():
        return root
    log(f"{suite}: debootstrap into {root}")
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(["debootstrap", "--variant=minbase", suite, str(root), MIRROR], check=True,
                   stdout=subprocess.DEVNULL)
    script = ("echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections && "
              f"{' '.join(APT)} update -qq && DEBIAN_FRONTEND=noninteractive {' '.join(APT)} install -y -qq "
              "--no-install-recommends tshark")
    subprocess.run(["chroot", str(root), "sh", "-c", script], check=True, stdout=subprocess.DEVNULL)
    return root


def inputs() -> list[tuple[str, Path, tuple[str, ...]]]:
    """(name, capture, decode-as args) for every fixture and corpus capture."""
    out = []
    for scenario in sc.SCENARIOS:
        folder = ROOT / "fixtures" / scenario.name
        decode = tuple(a for rule in scenario.decode_as for a in ("-d", rule))
        out.append((scenario.name, folder / "capture.pcap", decode))
    manifest = CORPUS / "MANIFEST.tsv"
    if manifest.exists():
        with manifest.open(newline="") as handle:
            for entry in csv.DictReader(handle, delimiter="\t"):
                path = CORPUS / entry["file"]
                if path.stat().st_size:
                    decode = tuple(a for r in re.findall(r"-d ([\w.=,]+)", entry["notes"]) for a in ("-d", r))
                    out.append((entry["file"], path, decode))
    return out


def run_tap(root: Path | None, capture: Path, decode: tuple[str, ...], work: Path) -> str:
    """The tap's PDML for a capture, with this machine's tshark (root None) or a root's."""
    if root is None:
        out = work / "local.pdml"
        command = ["tshark", "-q", "-n", "-r", str(capture), *decode, "-X", f"lua_script:{ROOT / 'lua/sipdiag.lua'}",
                   "-X", f"lua_script1:out={out}"]
    else:
        inside = root / "tmp/sipdiag"
        shutil.copy(capture, inside / "capture.pcap")
        (inside / "capture.pcap").chmod(0o644)
        out = inside / "out.pdml"
        command = [*in_root(root), "tshark", "-q", "-n", "-r", "/tmp/sipdiag/capture.pcap", *decode,
                   "-X", "lua_script:/tmp/sipdiag/sipdiag.lua", "-X", "lua_script1:out=/tmp/sipdiag/out.pdml"]
    out.unlink(missing_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if "Lua" in done.stderr and "rror" in done.stderr:
        return f"LUA ERROR: {done.stderr.strip()}"
    return _VOLATILE.sub("", out.read_text()) if out.exists() else f"NO OUTPUT: {done.stderr.strip()}"


def explained(suite: str) -> set[str]:
    """Captures whose difference docs/compat.md explains for a suite (first two table columns)."""
    names = set()
    for line in (ROOT / "docs/compat.md").read_text().splitlines():
        cells = [c.strip(" `") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and suite in cells[1].split(", "):
            names.add(cells[0])
    return names


def verdicts(text: str, work: Path) -> dict[tuple[str, str], str]:
    """(Call-ID, rule id) -> status, from the rules run on a PDML document."""
    path = work / "verdicts.pdml"
    path.write_text(text)
    report = evaluate("compat", pdml.read_summary(path), Settings())
    out = {("capture", c.id): c.status.value for c in report.capture_checks}
    out |= {(call.call_id, c.id): c.status.value for call in report.calls for c in call.checks}
    return out


def check_menu(root: Path) -> bool:
    inside = root / "tmp/sipdiag"
    shutil.copy(ROOT / "fixtures/healthy-call/capture.pcap", inside / "capture.pcap")
    (inside / "capture.pcap").chmod(0o644)
    done = subprocess.run([*in_root(root), "tshark", "-q", "-n", "-r", "/tmp/sipdiag/capture.pcap",
                           "-X", "lua_script:/tmp/sipdiag/gui_harness.lua",
                           "-X", "lua_script1:/tmp/sipdiag/sipdiag.lua",
                           "-X", "lua_script1:Call checklist", "-X", "lua_script1:"],
                          capture_output=True, text=True, check=False)
    return "1. healthy-call-1@sipdiag.test" in done.stdout and "RETAPS: 1" in done.stdout


def check_plugin(root: Path) -> bool:
    """Installed in the personal plugins folder, the tap and its module files (which the loader runs as
    plugins too) print nothing; a probe beside the modules shows the loader ran that folder."""
    folders = subprocess.run([*in_root(root), "tshark", "-G", "folders"], capture_output=True, text=True).stdout
    personal = next((line.split(":", 1)[1].strip() for line in folders.splitlines()
                     if line.startswith("Personal Lua Plugins")), None)
    if personal is None:
        return False
    plugins = root / personal.lstrip("/")
    shutil.rmtree(plugins, ignore_errors=True)
    plugins.mkdir(parents=True)
    copy_tap(plugins)
    (plugins / "sipdiag/test_probe.lua").write_text('print("probe ran")\n')
    (plugins / "sipdiag/test_probe.lua").chmod(0o644)
    shutil.copy(ROOT / "fixtures/healthy-call/capture.pcap", root / "tmp/sipdiag/capture.pcap")
    (root / "tmp/sipdiag/capture.pcap").chmod(0o644)
    done = subprocess.run([*in_root(root), "tshark", "-q", "-n", "-r", "/tmp/sipdiag/capture.pcap"],
                          capture_output=True, text=True, check=False)
    shutil.rmtree(plugins)
    ok = done.stdout == "probe ran\n" and "Lua" not in done.stderr
    if not ok:
        print(f"    stdout: {done.stdout.strip()!r}\n    stderr: {done.stderr.strip()[:400]!r}")
    return ok


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("compat: needs root (debootstrap, chroot): sudo make compat")
    suites = sys.argv[1:] or list(SUITES)
    work = BUILD / "work"
    work.mkdir(parents=True, exist_ok=True)
    failures = 0
    reference = {}
    for name, capture, decode in inputs():
        reference[name] = run_tap(None, capture, decode, work)
    for suite in suites:
        root = root_for(suite)
        version = subprocess.run(["chroot", str(root), "tshark", "-v"], capture_output=True, text=True).stdout
        log(f"{suite}: {version.splitlines()[0]}")
        prepare(root)
        allowed = explained(suite)
        same = 0
        for name, capture, decode in inputs():
            got = run_tap(root, capture, decode, work)
            if got == reference[name]:
                same += 1
                continue
            diff = list(difflib.unified_diff(reference[name].splitlines(), got.splitlines(), "tshark 4.0",
                                             f"tshark {SUITES.get(suite, suite)}", n=0, lineterm=""))
            ok = got.startswith("<?xml") and verdicts(got, work) == verdicts(reference[name], work)
            verdict = ("explained in docs/compat.md" if name in allowed else "NOT EXPLAINED") + \
                      ("" if ok else ", RULE STATUSES DIFFER")
            log(f"{suite}: {name} differs ({len(diff)} diff lines), {verdict}")
            for line in diff[:12]:
                print("    " + line)
            if name not in allowed or not ok:
                failures += 1
        menu = check_menu(root)
        plugin = check_plugin(root)
        log(f"{suite}: {same}/{len(inputs())} captures identical to tshark 4.0; "
            f"menu actions {'ok' if menu else 'FAILED'}; installed as a plugin "
            f"{'silent' if plugin else 'NOT SILENT'}")
        failures += (0 if menu else 1) + (0 if plugin else 1)
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
