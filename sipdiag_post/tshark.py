"""Finding tshark and running the Lua tap with it."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .workers import child_setup

MIN_VERSION = (3, 6, 0)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_LUA = re.compile(r"(?:with|\+)\s*Lua\s+(\d+\.\d+(?:\.\d+)?)|(?:with|\+)\s*Lua\b", re.IGNORECASE)
_NO_LUA = re.compile(r"(?:without|-)\s*Lua\b", re.IGNORECASE)

# tshark's messages for a file it could read only in part
_READ_ERRORS = (
    "cut short in the middle of a packet",
    "appears to be damaged or corrupt",
    "has a packet larger than",
    "bad record",
    "appears to be corrupt",
)
_NOT_A_CAPTURE = (
    "isn't a capture file in a format tshark understands",
    "doesn't exist",
    "is a directory",
    "permission denied",
    "isn't a capture file",
    "unknown file type",
)


class TsharkError(Exception):
    """tshark is missing, too old, or cannot run the tap (exit code 4)."""


class OptionError(Exception):
    """A --decode-as rule or --tshark-option tshark does not accept (a usage error, exit code 2)."""


class CaptureError(Exception):
    """The capture cannot be read (exit code 3)."""


@dataclass(frozen=True)
class Tshark:
    path: str
    version: tuple[int, int, int]
    lua: str | None  # Lua version tshark was built with ("" when unnamed), None without Lua

    @property
    def version_text(self) -> str:
        return ".".join(str(n) for n in self.version)


# where Wireshark installs tshark when it is not on the PATH
USUAL_PLACES = ("/usr/bin/tshark", "/usr/local/bin/tshark", "/opt/homebrew/bin/tshark",
                "/Applications/Wireshark.app/Contents/MacOS/tshark",
                "C:\\Program Files\\Wireshark\\tshark.exe", "C:\\Program Files (x86)\\Wireshark\\tshark.exe")


def which(name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """A program on the PATH, searched in its absolute folders only: an empty, '.' or relative entry
    would find a program in the working directory (a capture bundle's `tshark`)."""
    folders = [d for d in environ.get("PATH", os.defpath).split(os.pathsep) if d and os.path.isabs(d)]
    return shutil.which(name, path=os.pathsep.join(folders)) if folders else None


def _candidates(explicit: str | None, configured: str | None = None) -> list[str]:
    """--tshark, $SIPDIAG_TSHARK, the user's config file, the PATH, the usual install places: the first
    that is given. Never anything a file in the working directory names (sipdiag_post/config.py)."""
    for given in (explicit, os.environ.get("SIPDIAG_TSHARK"), configured):
        if given:
            return [given]
    found = which("tshark")
    if found:
        return [found]
    return [path for path in USUAL_PLACES if os.path.isfile(path)][:1]


def parse_version_output(text: str) -> tuple[tuple[int, int, int] | None, str | None]:
    """Version and Lua support from `tshark -v` output."""
    first = text.splitlines()[0] if text else ""
    match = _VERSION.search(first)
    version = (int(match[1]), int(match[2]), int(match[3])) if match else None
    if _NO_LUA.search(text):
        return version, None
    lua = _LUA.search(text)
    return version, (lua.group(1) or "") if lua else None


# `tshark -v` begun early (start_version_probe), by program path: find_tshark takes the answer of the
# one for the program it picks
_early_probes: dict[str, subprocess.Popen[bytes]] = {}


def _stop_probe(process: subprocess.Popen[bytes]) -> None:
    """End a `tshark -v` nobody asked for (at exit) and reap it."""
    if process.poll() is None:
        process.kill()
    process.communicate()


def _begin_version(path: str) -> subprocess.Popen[bytes]:
    """`tshark -v` started (OSError when it cannot be)."""
    return subprocess.Popen([path, "-v"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, preexec_fn=child_setup(os.getpid()))


def start_version_probe() -> None:
    """Begin `tshark -v` for the tshark a run finds when none is named ($SIPDIAG_TSHARK, the PATH, the usual
    places), while the rest of sipdiag loads: find_tshark then takes its answer instead of waiting for a
    run of its own. Nothing is written; a probe nobody asks for is ended at exit."""
    candidates = _candidates(None)
    if not candidates or candidates[0] in _early_probes:
        return
    try:
        process = _begin_version(candidates[0])
    except OSError:
        return  # find_tshark says why, if this is the tshark it picks
    _early_probes[candidates[0]] = process
    atexit.register(_stop_probe, process)


def _version_output(path: str) -> tuple[int, bytes]:
    """`tshark -v`'s exit status and output: the early probe's for this program, else a run begun now."""
    try:
        process = _early_probes.pop(path, None) or _begin_version(path)
    except OSError as exc:
        raise TsharkError(f"cannot run tshark at {path}: {exc}") from None
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        _stop_probe(process)
        raise TsharkError(f"cannot run tshark at {path}: `tshark -v` gave no answer in 60 s") from None
    return process.returncode, out


def find_tshark(explicit: str | None = None, configured: str | None = None) -> Tshark:
    """Locate a usable tshark: --tshark (explicit), $SIPDIAG_TSHARK, the user's config file (configured),
    the PATH's absolute folders, then the usual install places."""
    candidates = _candidates(explicit, configured)
    if not candidates:
        raise TsharkError("tshark not found: install Wireshark's tshark (Debian: apt install tshark) "
                          "or name it with --tshark PATH")
    path = candidates[0]
    returncode, out = _version_output(path)
    text = out.decode("utf-8", "replace")
    version, lua = parse_version_output(text)
    if returncode != 0 or version is None:
        raise TsharkError(f"{path} does not look like tshark (`tshark -v` failed)")
    if version < MIN_VERSION:
        raise TsharkError(f"tshark {'.'.join(map(str, version))} at {path} is too old; "
                          f"sipdiag needs {'.'.join(map(str, MIN_VERSION))} or newer")
    if lua is None:
        raise TsharkError(f"tshark at {path} was built without Lua; install a build with Lua support")
    return Tshark(path=path, version=version, lua=lua)


def tap_script() -> Path:
    """The Lua tap: $SIPDIAG_TAP, the copy inside the package, or the source tree's.

    Its sipdiag.* modules live beside it, in the sipdiag/ folder (see tap_files)."""
    env = os.environ.get("SIPDIAG_TAP")
    if env:
        return Path(env)
    packaged = resources.files("sipdiag_post") / "_lua" / "sipdiag.lua"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "lua" / "sipdiag.lua"


_REQUIRE = re.compile(r"""require\(["']sipdiag\.(\w+)["']\)""")


def tap_files(script: Path | None = None) -> dict[str, Path]:
    """The tap's files by their path inside a plugins folder: the script, and every sipdiag.* module it
    requires (directly or through another module), each in sipdiag/ beside it. A file may be missing."""
    script = script or tap_script()
    files = {"sipdiag.lua": script}
    todo = [script]
    while todo:
        try:
            text = todo.pop().read_text(encoding="utf-8")
        except OSError:
            continue
        for name in _REQUIRE.findall(text):
            key = f"sipdiag/{name}.lua"
            if key not in files:
                files[key] = script.parent / "sipdiag" / f"{name}.lua"
                todo.append(files[key])
    return files


# how tshark reports a Lua error that escaped the tap's own guards
_LUA_ERROR = re.compile(r"Lua: Error|stack traceback|\.lua:\d+:", re.IGNORECASE)


@dataclass(frozen=True)
class TapRun:
    read_error: str | None  # tshark read only part of the capture: its message
    lua_errors: tuple[str, ...] = ()  # Lua errors tshark reported although the tap wrote its summary


def _tshark_lines(stderr: str) -> list[str]:
    lines = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line or line.startswith("Running as user"):
            continue
        lines.append(line.removeprefix("tshark: "))
    return lines


def path_argument(path: Path) -> str:
    """A path as an option's value: '-' alone would mean standard input to tshark, so it becomes './-'."""
    text = str(path)
    return f"./{text}" if text.startswith("-") else text


# Preferences every tap run sets: SIP on a port another dissector claims (5072 is AYIYA's, TCP 6060
# X11's) is found by the SIP heuristics when they run before the port dissectors; RTP set up by SDP is
# a conversation and is decoded before either, so it is unaffected.
TAP_PREFERENCES = ("udp.try_heuristic_first:TRUE", "tcp.try_heuristic_first:TRUE")


def tap_command(tshark: Tshark, capture: Path, out: Path, *, decode_as: tuple[str, ...] = (),
                tls_keylog: Path | None = None, max_packets: int = 0, options: tuple[str, ...] = ()) -> list[str]:
    """tshark with the tap over capture; `-r` takes the next word as the file, a leading '-' or not."""
    command = [tshark.path, "-q", "-n", "-r", path_argument(capture),
               "-X", f"lua_script:{tap_script()}", "-X", f"lua_script1:out={out}"]
    for preference in (*TAP_PREFERENCES, *options):
        command += ["-o", preference]
    if max_packets:
        command += ["-c", str(max_packets)]
    for rule in decode_as:
        command += ["-d", rule]
    if tls_keylog is not None:
        command += ["-o", f"tls.keylog_file:{tls_keylog}"]
    return command


def run_tap(tshark: Tshark, capture: Path, out: Path, *, decode_as: tuple[str, ...] = (),
            tls_keylog: Path | None = None, source: Path | None = None, max_packets: int = 0,
            options: tuple[str, ...] = (), follow: Callable[[Callable[[], bool]], None] | None = None) -> TapRun:
    """Run the tap over one capture, writing PDML to out.

    tshark reads source when given (a decompressed copy), and messages name capture;
    with max_packets it stops after that many packets. While tshark runs, follow (when
    given) is called with a function that tells whether tshark still runs: it may read
    out as the tap writes it (each call once it is over). tshark is killed if the
    process that runs it dies, and stopped when this call is interrupted. An error
    follow raises is raised after tshark's own (which say more)."""
    check_capture_file(capture)
    read = source or capture
    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    command = tap_command(tshark, read, out, decode_as=decode_as, tls_keylog=tls_keylog, max_packets=max_packets,
                          options=options)
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                                       stdin=subprocess.DEVNULL, preexec_fn=child_setup(os.getpid()))
        except OSError as exc:
            raise TsharkError(f"cannot run tshark: {exc}") from None
        followed: Exception | None = None
        try:
            if follow is not None:
                try:
                    follow(lambda: process.poll() is None)
                except Exception as exc:  # judged once tshark's own messages are known
                    followed = exc
            returncode = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        stderr.seek(0)
        lines = _tshark_lines(stderr.read().decode("utf-8", "replace"))
    run = _judge_run(tshark, capture, read, out, returncode, lines)
    if followed is not None:
        raise followed
    return run


def _judge_run(tshark: Tshark, capture: Path, read: Path, out: Path, returncode: int, lines: list[str]) -> TapRun:
    """What a finished tshark run says: an error (raised), or what it could not read and the Lua errors."""
    lowered = " ".join(lines).lower()
    if any(p in lowered for p in ("lua_script", "lua: error", "error loading")) and not out.exists():
        raise TsharkError(f"tshark could not run the Lua tap: {lines[0] if lines else 'no message'}")
    if not out.exists() and returncode == 0 and not lines and os.geteuid() == 0:
        raise TsharkError(f"tshark {tshark.version_text} ran but the Lua tap wrote nothing: Wireshark 4.2 and later "
                          "skip Lua scripts when run as root; run sipdiag as an ordinary user")
    if not out.exists():
        message = lines[0] if lines else f"tshark exited with status {returncode}"
        if any(p in lowered for p in _NOT_A_CAPTURE) or returncode == 2:
            raise CaptureError(f"{capture}: {_strip_path(message, read)}")
        raise TsharkError(f"tshark failed on {capture}: {message}")
    read_error = None
    if returncode != 0 or any(p in lowered for p in _READ_ERRORS):
        relevant = [line for line in lines if any(p in line.lower() for p in _READ_ERRORS)]
        read_error = _strip_path((relevant or lines or [f"tshark exited with {returncode}"])[0], read)
    lua_errors = tuple(line for line in lines if _LUA_ERROR.search(line))
    return TapRun(read_error=read_error, lua_errors=lua_errors)


def _strip_path(message: str, capture: Path) -> str:
    """tshark quotes the file name; the caller names the file already, so drop it."""
    return message.replace(f' "{capture}"', "").replace(f'"{capture}"', "the file")


# wiretap readers for files that are not network captures (tshark opens them anyway)
_NOT_NETWORK = ("mp4", "jpeg", "jfif", "ruby", "journal", "json", "log", "unknown")


@dataclass(frozen=True)
class CaptureFormat:
    file_type: str  # e.g. pcap, pcapng, mp4
    link_type: str  # wiretap's encapsulation name(s), e.g. ether, user0

    @property
    def is_network(self) -> bool:
        return not any(word in self.link_type for word in _NOT_NETWORK)


def capture_format(tshark: Tshark, capture: Path) -> CaptureFormat | None:
    """The file type and link type as capinfos (beside tshark) reads them; None when it cannot say."""
    capinfos = Path(tshark.path).with_name("capinfos")
    if not capinfos.exists():
        return None
    done = _capinfos(capinfos, ["-T", "-E", "-t", "-r"], capture)
    fields = done.stdout.strip().split("\t")
    if done.returncode != 0 or len(fields) < 3:
        return None
    return CaptureFormat(file_type=fields[-2].lower(), link_type=fields[-1].lower())


def _capinfos(capinfos: Path, options: list[str], capture: Path) -> subprocess.CompletedProcess[str]:
    # `--` ends the options: a capture named -H.pcap is a file, not an option
    return subprocess.run([str(capinfos), *options, "--", str(capture)], capture_output=True, encoding="utf-8",
                          errors="replace", check=False, stdin=subprocess.DEVNULL, preexec_fn=child_setup(os.getpid()))


def packet_count(tshark: Tshark, capture: Path) -> int | None:
    """The packets in a capture as capinfos (beside tshark) counts them, without dissecting; None when it cannot."""
    capinfos = Path(tshark.path).with_name("capinfos")
    if not capinfos.exists():
        return None
    done = _capinfos(capinfos, ["-T", "-r", "-c", "-M"], capture)
    fields = done.stdout.strip().split("\t")
    return int(fields[-1]) if done.returncode == 0 and fields[-1].isdigit() else None


def check_capture_file(capture: Path) -> None:
    """Fail early, with one line, on paths tshark would misread."""
    try:
        size = capture.stat().st_size
    except FileNotFoundError:
        raise CaptureError(f"{capture}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"{capture}: cannot read: {exc.strerror or exc}") from None
    if capture.is_dir():
        raise CaptureError(f"{capture}: is a directory")
    if not os.access(capture, os.R_OK):
        raise CaptureError(f"{capture}: permission denied")
    if size == 0:
        raise CaptureError(f"{capture}: empty file (0 bytes), not a capture")


# a pcap file header (little-endian, version 2.4, snaplen 65535, Ethernet) and no packets: what the
# options are tried on
_EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
_OPTION_ERRORS = ("unknown protocol", "unknown preference", "isn't a valid", "invalid", "bad ",
                  "is not a valid", "requires", "not a valid")


def check_options(tshark: Tshark, decode_as: tuple[str, ...], options: tuple[str, ...]) -> None:
    """Try --decode-as rules and -o preferences on an empty capture; OptionError with tshark's first word
    on them when it refuses one."""
    if not decode_as and not options:
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sipdiag-") as tmp:
        empty = Path(tmp) / "empty.pcap"
        empty.write_bytes(_EMPTY_PCAP)
        command = [tshark.path, "-n", "-r", str(empty)]
        for rule in decode_as:
            command += ["-d", rule]
        for option in options:
            command += ["-o", option]
        done = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, LC_ALL="C"))
    lines = [line for line in _tshark_lines(done.stderr) if not line.lower().startswith("warning")]
    bad = [line for line in lines if any(word in line.lower() for word in _OPTION_ERRORS)]
    if done.returncode != 0 or bad:
        raise OptionError(f"tshark refuses the option: {(bad or lines or ['exit status ' + str(done.returncode)])[0]}")
