"""Hostile input, round 2: bounded memory, no code from the working directory, names and outputs that
cannot be forged, calls that stay distinct, filters that select exactly their frames, numbers that are
numbers.

Captures of many calls or many messages are made by real sipp peers on loopback ports no fixture uses,
captured by dumpcap filtered to those ports under the fixtures' lock; captures that are about hostile
bytes (control characters and invalid UTF-8 in Call-IDs, a second Call-ID header) are built here, byte
by byte, and read by the real tshark and tap.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import html
import io
import json
import os
import pty
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from markdown_it import MarkdownIt

from sipdiag_post import filters, pdml, render, text
from sipdiag_post.engine import evaluate
from sipdiag_post.rules.base import Settings
from tests import mutate
from tests.test_cli import one_line_error, sipdiag

ROOT = Path(__file__).resolve().parent.parent
BUSY = ROOT / "fixtures" / "486-busy-inbound" / "capture.pcap"
STATE_LUA = (ROOT / "lua" / "sipdiag" / "state.lua").read_text()
MAX_CALLS = int(re.search(r"M\.MAX_CALLS = (\d+)", STATE_LUA)[1])
MAX_MSGS_PER_CALL = int(re.search(r"M\.MAX_MSGS_PER_CALL = (\d+)", STATE_LUA)[1])

# --- captures made by sipp ---------------------------------------------------------------------------

LOCK = Path("/tmp/sipdiag-fixtures.lock")
RING_UAS, RING_UAC = 25260, 25270  # the ringing call
FLOOD_SINK, FLOOD_UAC = 25160, 25170  # the flood of one-INVITE calls

_INVITE = """
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
"""


def _scenario(name: str, body: str) -> str:
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{body}</scenario>\n'


def _send(message: str) -> str:
    return f"  <send>\n    <![CDATA[\n{message}\n    ]]>\n  </send>\n"


ONE_INVITE = _scenario("one INVITE per call", _send(_INVITE))
RINGING_UAC = _scenario("calls, hears ringing until busy", _send(_INVITE) + """  <label id="wait"/>
  <recv response="180" optional="true" next="wait"/>
  <recv response="486"/>
""" + _send("""
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
"""))
RINGS = MAX_MSGS_PER_CALL + 500
_RESPONSE = """
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
"""
RINGING_UAS = _scenario("rings again and again, then busy", f"""  <recv request="INVITE"/>
  <label id="ring"/>
{_send(_RESPONSE.format(status="180 Ringing"))}  <nop>
    <action>
      <add assign_to="rings" value="1"/>
      <test assign_to="more" variable="rings" compare="less_than" value="{RINGS}"/>
    </action>
  </nop>
  <nop next="ring" test="more"/>
{_send(_RESPONSE.format(status="486 Busy Here"))}  <recv request="ACK"/>
""")


@contextlib.contextmanager
def _capturing(pcap: Path, ports: tuple[int, int]) -> Iterator[None]:
    """dumpcap on loopback, only these UDP ports, under the fixtures' lock (dumpcap sees all of lo)."""
    if os.geteuid() != 0 or not shutil.which("sipp") or not shutil.which("dumpcap"):
        pytest.skip("needs root, sipp and dumpcap (make fixtures installs them)")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dumpcap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-P", "-f",
                                    f"udp and (port {ports[0]} or port {ports[1]})", "-w", str(pcap)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while time.time() < deadline and not (pcap.exists() and pcap.stat().st_size >= 24):
                time.sleep(0.05)
            time.sleep(1.0)  # the header is written before the capture is live
            yield
            time.sleep(0.5)
        finally:
            dumpcap.terminate()
            dumpcap.wait(timeout=30)


def _sipp(xml: Path, port: int, *args: str) -> list[str]:
    return ["sipp", "-sf", str(xml), "-i", "127.0.0.1", "-p", str(port), "-t", "u1", "-nostdin", *args]


def _run(command: list[str], cwd: Path, timeout: float) -> None:
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def ringing_capture(tmp_path_factory) -> Path:
    """INVITE, then 2,500 identical 180 Ringing, then 486 Busy Here and the ACK: real sipp peers."""
    work = tmp_path_factory.mktemp("ringing")
    (work / "uas.xml").write_text(RINGING_UAS)
    (work / "uac.xml").write_text(RINGING_UAC)
    pcap = work / "ringing.pcap"
    with _capturing(pcap, (RING_UAS, RING_UAC)):
        uas = subprocess.Popen(_sipp(work / "uas.xml", RING_UAS, "-m", "1"), cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            _run(_sipp(work / "uac.xml", RING_UAC, "-m", "1", "-s", "bob", "-cid_str", "ringing-1@sipdiag.test",
                       f"127.0.0.1:{RING_UAS}"), work, 120)
            uas.wait(timeout=30)
        finally:
            if uas.poll() is None:
                uas.kill()
                uas.wait()
    return pcap


@pytest.fixture(scope="module")
def flood_capture(tmp_path_factory) -> Path:
    """MAX_CALLS + 10 calls of one INVITE each (no answer: a socket reads and drops them): real sipp."""
    work = tmp_path_factory.mktemp("flood")
    (work / "uac.xml").write_text(ONE_INVITE)
    pcap = work / "flood.pcap"
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sink.bind(("127.0.0.1", FLOOD_SINK))
    sink.settimeout(0.2)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                sink.recv(65536)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        with _capturing(pcap, (FLOOD_SINK, FLOOD_UAC)):
            _run(_sipp(work / "uac.xml", FLOOD_UAC, "-m", str(MAX_CALLS + 10), "-r", "4000", "-l", "1000", "-nr",
                       "-s", "bob", "-cid_str", "flood-%u@sipdiag.test", f"127.0.0.1:{FLOOD_SINK}"), work, 300)
    finally:
        stop.set()
        reader.join()
        sink.close()
    return pcap


def _json(*args: str, cwd: Path = ROOT) -> tuple[int, dict]:
    done = sipdiag(*args, "--format", "json", cwd=cwd)
    return done.returncode, json.loads(done.stdout)


def _check(checks: list[dict], rule: str) -> dict:
    return next(c for c in checks if c["id"] == rule)


# --- 1. bounded calls ---------------------------------------------------------------------------------


def test_calls_past_the_bound_are_counted_and_the_report_says_how_many(tshark, flood_capture):
    sent = len(subprocess.run([tshark.path, "-n", "-r", str(flood_capture), "-Y", "sip.Method == \"INVITE\"",
                               "-T", "fields", "-e", "frame.number"], capture_output=True, check=True).stdout.split())
    assert sent > MAX_CALLS  # the capture holds more calls than the tap keeps
    code, report = _json("analyze", str(flood_capture), "--select", "CAP003")  # the capture's check alone
    capture = report["captures"][0]
    assert code == 1 and len(capture["calls"]) == MAX_CALLS
    cap003 = _check(capture["capture_checks"], "CAP003")
    assert cap003["status"] == "fail"
    assert cap003["summary"].startswith(f"{sent - MAX_CALLS} call(s) past the tap's bound were not analysed")
    capped = sent - MAX_CALLS
    assert {"label": "calls past the bound, not analysed",
            "value": f"{capped} ({capped} SIP messages); {MAX_CALLS} analysed"} in cap003["evidence"]
    # the first calls are the ones kept
    assert [c["call_id"] for c in capture["calls"][:2]] == ["flood-1@sipdiag.test", "flood-2@sipdiag.test"]


def _pdml_with_calls(count: int) -> bytes:
    """The 486 fixture's summary with its call packet repeated under `count` Call-IDs (capture record last)."""
    document = (ROOT / "fixtures" / "486-busy-inbound" / "expected.pdml").read_bytes()
    opening_end = document.index(b"<packet>")
    capture_start = document.index(b'<proto name="sipdiag.capture"')
    capture_start = document.rindex(b"<packet>", 0, capture_start)
    call = document[opening_end:capture_start]
    calls = b"".join(call.replace(b"486-busy-inbound-1@sipdiag.test", b"call-%d@x" % n) for n in range(count))
    return document[:opening_end] + calls + document[capture_start:]


def test_the_pdml_reader_holds_one_call_at_a_time(tmp_path):
    """Reading 8,000 calls needs no more memory than reading 500 (the whole tree would need ~400 MB)."""
    peaks = {}
    for count in (500, 8000):
        path = tmp_path / f"{count}.pdml"
        path.write_bytes(_pdml_with_calls(count))
        # the peak of this process's own memory (VmHWM; ru_maxrss would count the parent's, forked from)
        code = ("import re, sys; from pathlib import Path; from sipdiag_post import pdml\n"
                "reader = pdml.iter_summary(Path(sys.argv[1])); calls = sum(1 for _ in reader)\n"
                "print(calls, re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1])")
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
        calls, peak_kib = map(int, out.stdout.split())
        assert calls == count
        peaks[count] = peak_kib / 1024
    assert (tmp_path / "8000.pdml").stat().st_size > 40_000_000
    assert peaks[8000] < peaks[500] + 40, peaks


def test_read_summary_is_the_incremental_reader_kept_whole():
    path = ROOT / "fixtures" / "concurrent-calls" / "expected.pdml"
    reader = pdml.iter_summary(path)
    with pytest.raises(RuntimeError):
        reader.unlinked_streams  # noqa: B018 (known only once the calls are read)
    with pytest.raises(RuntimeError):
        reader.facts  # noqa: B018 (the capture record comes last since schema 1.8)
    calls = sorted(reader, key=lambda c: c.first_frame)
    assert reader.facts.calls == 2
    whole = pdml.read_summary(path)
    assert tuple(calls) == whole.calls and reader.unlinked_streams == whole.unlinked_streams
    assert pdml.read_facts(path) == whole.facts


# --- 2. the per-call message bound keeps what verdicts need --------------------------------------------


def test_a_final_response_after_thousands_of_180s_is_kept(tshark, ringing_capture):
    statuses = subprocess.run([tshark.path, "-n", "-r", str(ringing_capture), "-Y", "sip.Status-Code",
                               "-T", "fields", "-e", "sip.Status-Code"], capture_output=True, text=True,
                              check=True).stdout.split()
    assert statuses.count("180") == RINGS and statuses[-1] == "486"
    code, report = _json("analyze", str(ringing_capture))
    capture = report["captures"][0]
    (call,) = capture["calls"]
    assert code == 1
    assert call["final_status"] == 486
    assert call["verdict"]["rule"] == "SIP005"  # busy, not "never answered, still ringing"
    assert _check(call["checks"], "SIP009")["status"] != "fail"
    dropped = RINGS + 3 - (MAX_MSGS_PER_CALL + 3)  # kept: the bound, the last 180, the 486, the ACK
    cid001 = _check(call["checks"], "CID001")
    assert {"label": "messages not kept", "value": f"{dropped} of {RINGS + 3} (repeats past the tap's bound; final "
            "responses, ACK, BYE, CANCEL, new requests and SDP kept)"} in cid001["evidence"]
    cap003 = _check(capture["capture_checks"], "CAP003")
    assert cap003["status"] == "warn"
    assert any(e["label"] == "messages not kept" and e["value"].startswith(f"{dropped} repeats")
               for e in cap003["evidence"])


def test_the_ladder_shows_the_first_and_last_180_then_the_486(ringing_capture, tmp_path):
    out = tmp_path / "summary.pdml"
    assert sipdiag("export", str(ringing_capture), "-o", str(out)).returncode == 0
    (call,) = pdml.read_summary(out).calls
    labels = [m.label for m in call.messages]
    assert labels[0] == "INVITE" and labels[-2:] == ["486 Busy Here", "ACK"]
    assert labels.count("180 Ringing") == MAX_MSGS_PER_CALL
    assert call.messages[-3].frame == RINGS + 1  # the last 180 sent
    assert call.messages_dropped == RINGS + 3 - len(call.messages)
    assert pdml.read_facts(out).messages_dropped == call.messages_dropped


# --- 3. no program from the working directory -------------------------------------------------------


def _evil(folder: Path) -> Path:
    """A program that leaves a mark when run, posing as tshark."""
    script = folder / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {folder / 'RAN'}\nexec tshark \"$@\"\n")
    script.chmod(0o755)
    return folder / "RAN"


@pytest.mark.parametrize(("name", "content"), [
    ("sipdiag.toml", 'tshark = "./evil.sh"\n'),
    ("pyproject.toml", '[tool.sipdiag]\ntshark = "./evil.sh"\n'),
])
@pytest.mark.parametrize("command", [["analyze", str(BUSY)], ["doctor"], ["export", str(BUSY), "-o", "x.pdml"]])
def test_a_working_directory_config_cannot_name_a_program(tmp_path, name, content, command):
    mark = _evil(tmp_path)
    (tmp_path / name).write_text(content)
    done = sipdiag(*command, cwd=tmp_path)
    assert done.returncode == 2
    error = one_line_error(done)
    assert "'tshark' is never read from the working directory" in error
    assert "--tshark" in error and "SIPDIAG_TSHARK" in error and "config.toml" in error
    assert not mark.exists()


def test_the_working_directory_config_still_sets_everything_else(tmp_path):
    (tmp_path / "sipdiag.toml").write_text('ignore = ["SIP005"]\n')
    _, report = _json("analyze", str(BUSY), cwd=tmp_path)
    assert "SIP005" not in {c["id"] for c in report["captures"][0]["calls"][0]["checks"]}


def _env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SIPDIAG_TSHARK", "XDG_CONFIG_HOME")}
    env.update(changes)
    return env


def _run_in(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=folder, env=env, capture_output=True,
                          text=True, check=False)


def test_the_user_config_may_name_tshark_and_the_environment_wins_over_it(tmp_path):
    home = tmp_path / "xdg"
    (home / "sipdiag").mkdir(parents=True)
    mark = _evil(tmp_path)
    (home / "sipdiag" / "config.toml").write_text(f'tshark = "{tmp_path / "evil.sh"}"\n')
    done = _run_in(tmp_path, _env(XDG_CONFIG_HOME=str(home)), "analyze", str(BUSY))
    assert done.returncode == 1 and mark.exists()  # the user's own choice runs
    mark.unlink()
    done = _run_in(tmp_path, _env(XDG_CONFIG_HOME=str(home), SIPDIAG_TSHARK=shutil.which("tshark") or ""),
                   "analyze", str(BUSY))
    assert done.returncode == 1 and not mark.exists()
    doctor = _run_in(tmp_path, _env(XDG_CONFIG_HOME=str(home)), "doctor")
    assert f"config: user {home / 'sipdiag' / 'config.toml'}" in doctor.stdout


def test_a_relative_xdg_config_home_is_not_read(tmp_path):
    (tmp_path / "sipdiag").mkdir()
    mark = _evil(tmp_path)
    (tmp_path / "sipdiag" / "config.toml").write_text('tshark = "./evil.sh"\n')
    done = _run_in(tmp_path, _env(XDG_CONFIG_HOME="."), "analyze", str(BUSY))
    assert done.returncode == 1 and not mark.exists()


@pytest.mark.parametrize("path_first", ["", "."])
def test_a_tshark_in_the_working_directory_is_not_found_through_the_path(tmp_path, path_first):
    mark = _evil(tmp_path)
    (tmp_path / "evil.sh").rename(tmp_path / "tshark")
    done = _run_in(tmp_path, _env(PATH=f"{path_first}:{os.environ['PATH']}"), "analyze", str(BUSY))
    assert done.returncode == 1 and not mark.exists()


def test_pyshark_config_ini_in_the_working_directory_is_not_read(tmp_path):
    """pyshark reads config.ini from the working directory; sipdiag's own search does not use it."""
    mark = _evil(tmp_path)
    (tmp_path / "config.ini").write_text(f"[tshark]\ntshark_path = {tmp_path / 'evil.sh'}\n")
    done = _run_in(tmp_path, _env(PATH="/nonexistent"), "doctor")
    assert not mark.exists()
    assert "evil" not in done.stdout


# --- 5. names and text that cannot forge output or act on a terminal -------------------------------------

HOSTILE_NAME = "a\x1b]52;c;ZXZpbA==\x07[link=mailto:x@evil.example]x\u202egnp.\u200b\u2028b\x85\nFAIL forged"
CLASSES = ("\x1b", "\x07", "\u202e", "\u200b", "\u2028", "\x85", "\x9b")


def _leaks(output: str, allow_newlines: bool = True) -> list[str]:
    body = output.replace("\n", "") if allow_newlines else output
    return [repr(c) for c in (*CLASSES, "\r", "\x0b", "\x0c") if c in body]


def test_json_text_escapes_what_the_encoder_leaves_raw_ascii_or_not():
    assert text.json_text('{"a": "plain"}') == '{"a": "plain"}'
    assert text.json_text('"del\x7f"') == '"del\\u007f"'  # the one ASCII character among them
    assert text.json_text('"\u2028\x85\U000e0041"') == '"\\u2028\\u0085\\udb40\\udc41"'


def test_display_text_shows_every_harmful_class_as_an_escape():
    assert text.display_text("a\x1b[31mb") == "a\\x1b[31mb"
    assert text.display_text("x\ny\r\u2028\u2029\x85\x0b\x0c") == "x\\x0ay\\x0d\\u2028\\u2029\\x85\\x0b\\x0c"
    assert text.display_text("\u202e\u2066\u200f\u061c") == "\\u202e\\u2066\\u200f\\u061c"
    assert text.display_text("\u200b\u200d\ufeff\u00ad\U000e0041") == "\\u200b\\u200d\\ufeff\\xad\\U000e0041"
    assert text.display_text("\x9b31m\x9f") == "\\x9b31m\\x9f"
    assert text.display_text("tab\there é ü 日本") == "tab here é ü 日本"


def test_a_hostile_file_name_forges_no_line_and_reaches_no_terminal(tmp_path):
    capture = tmp_path / f"{HOSTILE_NAME}.pcap"
    shutil.copyfile(BUSY, capture)
    table = sipdiag("analyze", str(capture)).stdout
    assert not _leaks(table)
    first, *_ = table.splitlines()
    assert first.startswith("Capture ") and "\\x0aFAIL forged" in first
    assert not any(line.startswith("FAIL forged") for line in table.splitlines())
    missing = sipdiag("analyze", str(tmp_path / f"{HOSTILE_NAME}-missing.pcap"))
    assert missing.returncode == 3
    error = one_line_error(missing)
    assert not _leaks(error, allow_newlines=False) and "\\x1b]52" in error


def test_the_progress_bar_shows_names_as_plain_escaped_text(tmp_path):
    """On a terminal the batch's progress bar names each capture: no OSC 52, no rich markup link."""
    names = [tmp_path / f"{HOSTILE_NAME}-{n}.pcap" for n in range(3)]
    for name in names:
        shutil.copyfile(BUSY, name)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sipdiag_post", "analyze", "--jobs", "1", *map(str, names)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, COLUMNS="400", TERM="xterm"))
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    proc.wait(timeout=60)
    os.close(master)
    terminal = shown.decode("utf-8", "replace")
    assert "analysing" in terminal  # the bar was drawn
    assert "\x1b]52" not in terminal and "\x1b]8;" not in terminal  # no clipboard write, no hyperlink
    assert "\\x1b]52;c;ZXZpbA==\\x07[link=mailto:x@evil.example]" in terminal  # the name, shown as text


def _with_call_id(tmp_path: Path, new: bytes, name: str = "hostile.pcap") -> Path:
    """The 486 fixture with its Call-ID replaced in every message."""
    head, packets = mutate.read_pcap(BUSY.read_bytes())
    old = b"486-busy-inbound-1@sipdiag.test"
    out = []
    for p in packets:
        t = mutate.transport(p.data)
        payload = p.data[t.payload:] if t else b""
        if t and old in payload:
            p = mutate.Packet(p.header, mutate.with_payload(p.data, t, payload.replace(old, new)))
        out.append(p)
    case = tmp_path / name
    case.write_bytes(mutate.write_pcap(head, out))
    return case


def test_markup_in_a_call_id_stays_text_in_markdown(tmp_path):
    capture = _with_call_id(tmp_path, b"[click](https://evil.example/x)![i](https://evil.example/i.png)@team "
                            b"www.evil.example")
    markdown = sipdiag("analyze", str(capture), "--format", "markdown", "--verbose").stdout
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<a " not in rendered and "<img" not in rendered
    prose = re.sub(r"(`+) .*? \1", "", markdown)  # code spans aside, whose text Markdown shows as it is
    assert "@team" not in prose and "@&#8203;team" in prose
    assert "www.evil" not in prose and "https://evil" not in prose
    # the filter is a code span: its text exact, nothing in it live
    filters_shown = re.findall(r"display filter: (`+) (.*?) \1", markdown)
    assert filters_shown and all('sip.Call-ID === "[click](https://evil.example/x)' in f for _, f in filters_shown)


def test_bidi_invisible_and_c1_characters_are_neutralised_in_every_format(tmp_path):
    hostile = "id\u202eevil\u200b\u2028x\u0085\u009b31m@x"
    capture = _with_call_id(tmp_path, hostile.encode())
    outputs = {fmt: sipdiag("analyze", str(capture), "--format", fmt, "--verbose").stdout
               for fmt in ("table", "csv", "markdown", "html", "json", "junit")}
    for fmt in ("table", "csv", "markdown", "html"):
        assert not _leaks(outputs[fmt]), fmt
        assert "\\u202e" in outputs[fmt] or "\\\\u202e" in outputs[fmt], fmt
    assert not any(c in outputs["json"] for c in "\u202e\u200b\u2028\x85\x9b")  # escaped ...
    report = json.loads(outputs["json"])
    assert report["captures"][0]["calls"][0]["call_id"] == hostile  # ... losslessly
    assert "\x85" not in outputs["junit"] and "\x9b" not in outputs["junit"]
    etree.fromstring(outputs["junit"].encode())
    rows = list(csv.reader(io.StringIO(outputs["csv"])))
    assert all(len(row) == len(rows[0]) for row in rows)
    assert html.unescape(outputs["html"]).count("id\\u202eevil") >= 2


# --- 6. distinct calls stay distinct; filters match exactly -----------------------------------------------


def _udp(payload: bytes, sport: int = 5070, dport: int = 5060, dst: bytes = b"\x7f\x00\x00\x02") -> bytes:
    eth = b"\x00" * 12 + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, b"\x7f\x00\x00\x01", dst)
    frame = eth + ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return mutate.with_payload(frame, mutate.transport(frame), payload)


def _tcp(payload: bytes, seq: int, flags: int = 0x18) -> bytes:
    eth = b"\x00" * 12 + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0, 64, 6, 0, b"\x7f\x00\x00\x01",
                     b"\x7f\x00\x00\x02")
    frame = eth + ip + struct.pack("!HHIIBBHHH", 5071, 5060, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload
    return mutate.with_payload(frame, mutate.transport(frame), payload)


def _invite(*call_ids: bytes, branch: str, cseq: int = 1) -> bytes:
    lines = [b"INVITE sip:bob@127.0.0.2 SIP/2.0", b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + branch.encode(),
             b"From: <sip:alice@127.0.0.1>;tag=a1", b"To: <sip:bob@127.0.0.2>",
             *(b"Call-ID: " + c for c in call_ids), b"CSeq: %d INVITE" % cseq, b"Max-Forwards: 70",
             b"Content-Length: 0", b"", b""]
    return b"\r\n".join(lines)


def _busy(call_id: bytes, branch: str) -> bytes:
    lines = [b"SIP/2.0 486 Busy Here", b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + branch.encode(),
             b"From: <sip:alice@127.0.0.1>;tag=a1", b"To: <sip:bob@127.0.0.2>;tag=b1", b"Call-ID: " + call_id,
             b"CSeq: 1 INVITE", b"Content-Length: 0", b"", b""]
    return b"\r\n".join(lines)


def _pcap(path: Path, frames: list[bytes]) -> Path:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    packets = [mutate.Packet(struct.pack("<IIII", 1_800_000_000 + i, 0, len(f), len(f)), f)
               for i, f in enumerate(frames)]
    path.write_bytes(mutate.write_pcap(head, packets))
    return path


DISTINCT_IDS = [b"dup\x01@x", b"dup\x02@x", b"bad\xff@x", b"bad\xfe@x", b"bad\xef\xbf\xbd@x", b"nul\x00@x",
                b'q"uo\\te\\x41@x', b"tab\t@x", b"esc\x1b[31m@x"]


def _frames(tshark, capture: Path, display_filter: str) -> list[int]:
    done = subprocess.run([tshark.path, "-n", "-r", str(capture), "-Y", display_filter, "-T", "fields", "-e",
                           "frame.number"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (display_filter, done.stderr)
    return [int(n) for n in done.stdout.split()]


def test_call_ids_that_differ_only_in_hostile_bytes_stay_distinct_and_filters_select_their_frames(tshark, tmp_path):
    frames = []
    for n, call_id in enumerate(DISTINCT_IDS):
        frames += [_udp(_invite(call_id, branch=f"i{n}")), _udp(_busy(call_id, f"i{n}"), 5060, 5070)]
    capture = _pcap(tmp_path / "ids.pcap", frames)
    out = tmp_path / "ids.pdml"
    assert sipdiag("export", str(capture), "-o", str(out)).returncode == 0
    calls = pdml.read_summary(out).calls
    assert [text.id_bytes(c.call_id) for c in calls] == DISTINCT_IDS  # distinct, and their bytes come back
    assert calls[0].call_id == "dup\\x01@x" and calls[6].call_id == 'q"uo\\\\te\\\\x41@x'
    for call in calls:
        assert _frames(tshark, capture, filters.call(call.call_id)) == [m.frame for m in call.messages], call.call_id
    # the report's own filters, as printed, select each call's evidence frames
    report = json.loads(sipdiag("check", str(out), "--format", "json").stdout)
    for call in report["captures"][0]["calls"]:
        sip005 = _check(call["checks"], "SIP005")
        assert _frames(tshark, capture, sip005["display_filter"]) == sip005["frames"], call["call_id"]
    page = sipdiag("check", str(out), "--format", "html").stdout
    assert page.count('<section class="call"') == page.count('class="ladder"') == len(DISTINCT_IDS)


def test_a_second_call_id_header_does_not_put_a_message_in_the_victims_call(tshark, tmp_path):
    capture = _pcap(tmp_path / "victim.pcap", [
        _udp(_invite(b"victim@x", branch="v1")),
        _udp(_invite(b"attacker@x", b"victim@x", branch="a1")),  # the victim's id in a second header
        _udp(_busy(b"victim@x", "v1"), 5060, 5070),
        _udp(_invite(b"victim@x", b"attacker@x", branch="a2")),  # or in the first
    ])
    _, report = _json("analyze", str(capture))
    capture_report = report["captures"][0]
    (call,) = capture_report["calls"]
    assert call["call_id"] == "victim@x"
    cid001 = _check(call["checks"], "CID001")
    assert _frames(tshark, capture, cid001["display_filter"]) == [1, 3]
    sip005 = _check(call["checks"], "SIP005")
    assert sip005["frames"] == [1, 3] and _frames(tshark, capture, sip005["display_filter"]) == [1, 3]
    out = tmp_path / "victim.pdml"
    sipdiag("export", str(capture), "-o", str(out))
    other = {o.method: o for o in pdml.read_facts(out).other_sip}
    assert other["(conflicting Call-IDs)"].count == 2 and other["(conflicting Call-IDs)"].first_frame == 2


def test_a_frame_carrying_two_calls_is_selected_by_both_filters(tshark, tmp_path):
    first, second = _invite(b"tcp-1@x", branch="t1"), _invite(b"tcp-2@x", branch="t2")
    capture = _pcap(tmp_path / "tcp.pcap", [_tcp(b"", 0, flags=0x02), _tcp(first + second, 1)])
    out = tmp_path / "tcp.pdml"
    assert sipdiag("export", str(capture), "-o", str(out)).returncode == 0
    calls = pdml.read_summary(out).calls
    assert [c.call_id for c in calls] == ["tcp-1@x", "tcp-2@x"]
    for call in calls:
        assert _frames(tshark, capture, filters.call(call.call_id)) == [2]


# --- 9. numbers that are numbers; size that stays linear -----------------------------------------------------

FIXTURE_PDML = (ROOT / "fixtures" / "media-loss" / "expected.pdml").read_bytes()
BUSY_PDML = (ROOT / "fixtures" / "486-busy-inbound" / "expected.pdml").read_bytes()


@pytest.mark.parametrize(("field", "value"), [
    ("sipdiag.msg.time", "inf"), ("sipdiag.msg.time", "nan"), ("sipdiag.msg.time", "-inf"),
    ("sipdiag.msg.time", "1e308"), ("sipdiag.stream.first_time", "Infinity"), ("sipdiag.capture.duration", "1e999"),
    ("sipdiag.stream.jitter_max_ms", "NaN"), ("sipdiag.msg.frame", "9" * 40), ("sipdiag.msg.src_port", "70000"),
    ("sipdiag.stream.ssrc", "0x1FFFFFFFF"), ("sipdiag.stream.pps", "50,1" + "0" * 30),
])
@pytest.mark.parametrize("fmt", ["table", "html"])
def test_non_finite_and_out_of_range_numbers_are_refused_with_one_line(tmp_path, field, value, fmt):
    name = re.escape(field.encode())
    document, count = re.subn(rb'(<field name="' + name + rb'" show=")[^"]*"', rb'\g<1>' + value.encode() + b'"',
                              FIXTURE_PDML, count=1)
    assert count == 1
    path = tmp_path / "hostile.pdml"
    path.write_bytes(document)
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", "check", str(path), "--format", fmt], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3
    error = one_line_error(done)
    assert field in error and "invalid" in error


def _report_with_reason(size: int) -> str:
    document = BUSY_PDML.replace(b'show="Rejected"', b'show="' + b"B" * size + b'"')
    document = re.sub(rb'(<field name="sipdiag.msg.user_agent" show=")[^"]*"', rb'\g<1>' + b"U" * size + b'"',
                      document, count=1)
    summary = pdml.parse_summary(document)
    report = evaluate("big", summary, Settings())
    return render.report_table([report], render.TableOptions(verbose=True, show_all=True))


def test_a_huge_show_attribute_is_cut_and_rendering_stays_linear():
    """9 MB in a show attribute: read and rendered in about 9x the time of 1 MB, not 81x (loose bound: 30x)."""
    cost = {}
    for size in (1_000_000, 9_000_000):
        runs = []
        for _ in range(3):
            start = time.process_time()
            table = _report_with_reason(size)
            runs.append(time.process_time() - start)
        cost[size] = min(runs)
        assert len(table) < 200_000  # every value cut at the reader's bound
        assert f"...[+{size - pdml.MAX_TEXT_CHARS} characters]" in table
    assert cost[9_000_000] < 30 * cost[1_000_000] + 0.5, cost
