"""`sipdiag watch`: a live capture between two network namespaces, real sipp calls, real tshark and tap.

A veth pair joins namespace A (the callers, and watch capturing on A's end) to namespace B (the
callees). A long call goes up first and stays up; while it does, sipp places healthy calls (PCMA both
ways) and calls answered 486, and watch must print each of their verdict lines before the long
call's sipp run ends (ordering, not speed: the long call ends only when the test stops it, after
every line came or a generous deadline passed), run --on-fail for each failing call with its JSON,
serve its metrics, and on SIGINT stop tshark, list the long call as still up, print the summary and
exit 130. Needs root and `ip netns` (skipped otherwise, with the reason).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import media
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SIPDIAG = [sys.executable, "-m", "sipdiag_post"]
TAG = os.getpid() % 100000
HEALTHY_CALLS, BUSY_CALLS = 2, 8
BUSY_PORT = 5062
METRICS_PORT = 9464
# generous: a line that never comes fails the test, a slow one does not
WAIT_S = float(os.environ.get("SIPDIAG_TEST_WAIT_S", "120"))


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@dataclass(frozen=True)
class Link:
    caller_ns: str
    callee_ns: str
    caller_if: str  # the interface watch captures on (in caller_ns)
    caller_ip: str
    callee_ip: str


@pytest.fixture
def link() -> Iterator[Link]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and live capture")
    if shutil.which("ip") is None or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        pytest.skip("`ip netns` is not available")
    if shutil.which("sipp") is None:
        pytest.skip("sipp is not installed (Debian: sip-tester)")
    found = Link(f"sdw-a{TAG}", f"sdw-b{TAG}", f"sdwa{TAG}", "10.213.7.1", "10.213.7.2")
    try:
        for ns in (found.caller_ns, found.callee_ns):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "link", "add", found.caller_if, "netns", found.caller_ns, "type", "veth", "peer", "name",
            f"sdwb{TAG}", "netns", found.callee_ns)
        for ns, name, ip in ((found.caller_ns, found.caller_if, found.caller_ip),
                             (found.callee_ns, f"sdwb{TAG}", found.callee_ip)):
            run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", name)
            run("ip", "-n", ns, "link", "set", name, "up")
        yield found
    finally:
        for ns in (found.caller_ns, found.callee_ns):  # the veth pair goes with its namespaces
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def in_ns(ns: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *command]


def sipp(ns: str, scenario: Path, ip: str, port: int, media_port: int, *more: str) -> list[str]:
    return in_ns(ns, "sipp", "-sf", str(scenario), "-i", ip, "-mi", ip, "-p", str(port), "-mp", str(media_port),
                 "-nostdin", "-s", "+15550100002", "-max_invite_retrans", "6", *more)


def scenarios(folder: Path) -> dict[str, Path]:
    """The fixtures' healthy call (3.5 s of audio) and busy call; a healthy call that stays up 300 s; the media."""
    media.write_track(folder / "uac-media.pcap", media.Track(ssrc=0x1111, duration_s=3.0))
    media.write_track(folder / "uas-media.pcap", media.Track(ssrc=0x2222, duration_s=3.0))
    healthy = (FIXTURES / "healthy-call" / "uac.xml").read_text()
    assert '<pause milliseconds="6500"/>' in healthy
    out = {
        "healthy-uac": healthy.replace('<pause milliseconds="6500"/>', '<pause milliseconds="3500"/>'),
        "long-uac": healthy.replace('<pause milliseconds="6500"/>', '<pause milliseconds="300000"/>'),
        "healthy-uas": (FIXTURES / "healthy-call" / "uas.xml").read_text(),
        "busy-uac": (FIXTURES / "486-busy-inbound" / "uac.xml").read_text(),
        "busy-uas": (FIXTURES / "486-busy-inbound" / "uas.xml").read_text(),
    }
    for name, text in out.items():
        (folder / f"{name}.xml").write_text(text)
    return {name: folder / f"{name}.xml" for name in out}


def lines_of(stream) -> queue.Queue[tuple[float, str | None]]:
    """Each line of a stream with the monotonic time it was read; None at the end."""
    found: queue.Queue[tuple[float, str | None]] = queue.Queue()

    def pump() -> None:
        for line in stream:
            found.put((time.monotonic(), line.rstrip("\n")))
        found.put((time.monotonic(), None))

    threading.Thread(target=pump, daemon=True).start()
    return found


def tshark_of(interface: str) -> list[int]:
    """Processes still running with this interface on their command line (tshark, dumpcap)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if interface.encode() in words and any(b"tshark" in w or b"dumpcap" in w for w in words[:1]):
            pids.append(int(entry.name))
    return pids


def scrape(ns: str) -> str:
    code = (f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics', "
            "timeout=10).read().decode())")
    return subprocess.run(in_ns(ns, sys.executable, "-c", code), capture_output=True, text=True, check=True).stdout


def capturing(ns: str) -> None:
    """Wait until a packet socket is open in the namespace (dumpcap's): from then on every packet is captured."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        sockets = subprocess.run(in_ns(ns, "cat", "/proc/net/packet"), capture_output=True, text=True).stdout
        if len(sockets.splitlines()) > 1:  # a header line, then one line per socket
            return
        time.sleep(0.2)
    raise AssertionError("watch's tshark never began capturing")


def keepalive(link: Link) -> None:
    """A CRLF keepalive (RFC 5626) to the callee's SIP port: a packet, so the tap sweeps its finished calls."""
    code = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto(b'\\r\\n\\r\\n', ('{link.callee_ip}', 5060))")
    subprocess.run(in_ns(link.caller_ns, sys.executable, "-c", code), check=True)


@pytest.mark.tshark
def test_watch_judges_each_call_while_the_calls_go_on(link, tmp_path):
    files = scenarios(tmp_path)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    quiet = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    servers = [
        subprocess.Popen(sipp(link.callee_ns, files["healthy-uas"], link.callee_ip, 5060, 30000), **quiet),
        subprocess.Popen(sipp(link.callee_ns, files["busy-uas"], link.callee_ip, BUSY_PORT, 31000), **quiet),
    ]
    watch = subprocess.Popen(
        in_ns(link.caller_ns, *SIPDIAG, "watch", "-i", link.caller_if, "--linger", "2", "--sip-port", "5060",
              "--sip-port", str(BUSY_PORT), "--metrics-port", str(METRICS_PORT), "--metrics-address", "127.0.0.1",
              "--on-fail", f'f=$(mktemp {hooks}/fail.XXXXXX) && cat > "$f"'),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = lines_of(watch.stdout), lines_of(watch.stderr)
    callers: list[subprocess.Popen[bytes]] = []
    try:
        capturing(link.caller_ns)
        # up before the others and until the test stops watch: every other line must come while it is
        long_call = subprocess.Popen(sipp(link.caller_ns, files["long-uac"], link.caller_ip, 5074, 22000, "-m", "1",
                                          "-cid_str", "long-%u@watch.test", f"{link.callee_ip}:5060"), **quiet)
        callers = [long_call]
        callers += [
            subprocess.Popen(sipp(link.caller_ns, files["healthy-uac"], link.caller_ip, 5070, 20000, "-m",
                                  str(HEALTHY_CALLS), "-r", "1", "-rp", "5000", "-cid_str", "healthy-%u@watch.test",
                                  f"{link.callee_ip}:5060"), **quiet),
            subprocess.Popen(sipp(link.caller_ns, files["busy-uac"], link.caller_ip, 5072, 21000, "-m",
                                  str(BUSY_CALLS), "-r", "1", "-rp", "2500", "-cid_str", "busy-%u@watch.test",
                                  f"{link.callee_ip}:{BUSY_PORT}"), **quiet),
        ]
        for caller in callers[1:]:
            assert caller.wait(timeout=WAIT_S) == 0, "sipp's calls failed"

        seen: dict[str, list[str]] = {}
        deadline = time.monotonic() + WAIT_S
        while len(seen) < HEALTHY_CALLS + BUSY_CALLS and time.monotonic() < deadline:
            keepalive(link)  # the last calls are written once a packet comes after their linger
            try:
                _, line = out.get(timeout=0.5)
            except queue.Empty:
                continue
            assert line is not None, "watch ended early: " + " | ".join(_drain(err))
            fields = line.split(" ")
            seen[fields[2]] = fields
        assert len(seen) == HEALTHY_CALLS + BUSY_CALLS, (sorted(seen), [text for _, text in _drain(err, 1)])
        assert long_call.poll() is None, "the long call's sipp run ended before the lines came"

        for number in range(1, HEALTHY_CALLS + 1):
            fields = seen[f"healthy-{number}@watch.test"]
            assert fields[1] == "pass" and fields[6] == "-", fields
        for number in range(1, BUSY_CALLS + 1):
            fields = seen[f"busy-{number}@watch.test"]
            assert fields[1:3] == ["fail", f"busy-{number}@watch.test"] and fields[6] == "SIP005", fields
            assert fields[3].startswith("sip:+15550100001@") and fields[4] == "->", fields

        metrics = scrape(link.caller_ns)
        assert f'sipdiag_calls_total{{rule="SIP005",status="fail"}} {BUSY_CALLS}.0' in metrics
        assert f'sipdiag_calls_total{{rule="none",status="pass"}} {HEALTHY_CALLS}.0' in metrics
        assert f"sipdiag_mos_count {2 * HEALTHY_CALLS}.0" in metrics  # both directions of each healthy call
        assert "sipdiag_rtp_streams_total 4.0" in metrics

        watch.send_signal(signal.SIGINT)  # the long call is still up
        assert watch.wait(timeout=WAIT_S) == 130
        rest = [line for _, line in _drain(out) if line is not None]
        assert any(line.split(" ")[1:3] == ["open", "long-1@watch.test"] for line in rest), rest
        assert rest[-1] == f"watched {HEALTHY_CALLS + BUSY_CALLS} finished call(s): {HEALTHY_CALLS} pass, 0 warn, " \
                           f"{BUSY_CALLS} fail; 1 still in progress", rest
        assert "Traceback" not in "\n".join(line or "" for _, line in _drain(err))
        assert not tshark_of(link.caller_if), "tshark left running"

        hooked = [json.loads(path.read_text()) for path in sorted(hooks.iterdir())]
        assert sorted(h["call_id"] for h in hooked) == sorted(f"busy-{n}@watch.test" for n in range(1, BUSY_CALLS + 1))
        assert all(h["type"] == "call" and h["verdict"]["status"] == "fail" and h["verdict"]["rule"] == "SIP005"
                   for h in hooked)
    finally:
        for process in [watch, *callers, *servers]:
            if process.poll() is None:
                process.kill()
                process.wait()


def _drain(found: queue.Queue[tuple[float, str | None]], timeout: float = 10.0) -> list[tuple[float, str | None]]:
    """What a lines_of queue holds up to its end (the stream closed), waiting up to timeout for it."""
    got: list[tuple[float, str | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            item = found.get(timeout=0.2)
        except queue.Empty:
            continue
        got.append(item)
        if item[1] is None:
            break
    return got


def test_an_unknown_interface_is_exit_4_with_tsharks_reason():
    if os.geteuid() != 0:
        pytest.skip("needs root: without capture rights the reason is the rights, tested by the message below")
    name = f"nosuch{TAG}"
    done = subprocess.run([*SIPDIAG, "watch", "-i", name], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"sipdiag: error: cannot capture on {name}: ") and "no device" in done.stderr.lower()
    assert done.stdout == ""


def test_a_bad_port_range_is_a_usage_error():
    done = subprocess.run([*SIPDIAG, "watch", "-i", "lo", "--rtp-ports", "60000-10000"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--rtp-ports" in done.stderr, done.stderr


def test_capture_filter_and_the_reason_tshark_gives():
    from sipdiag_post.watch import capture_failure, capture_filter, parse_port_range

    assert capture_filter((5061, 5060), parse_port_range("10000-60000")) == \
        "port 5060 or port 5061 or udp portrange 10000-60000 or (ip[6:2] & 0x1fff != 0)"
    assert parse_port_range("4000") == (4000, 4000)
    lines = ["Capturing on 'Loopback: lo'", 'You do not have permission to capture on device "lo".',
             "(socket: Operation not permitted)", "Please check to make sure you have sufficient permissions."]
    reason = capture_failure(lines, ["lo"])
    assert reason is not None and reason.startswith('cannot capture on lo: You do not have permission to capture on '
                                                    'device "lo". (socket: Operation not permitted); run as root')
    assert capture_failure(['You don\'t have permission to read the file "/root/.config/wireshark/hosts".'],
                           ["lo"]) is None


def test_a_taken_metrics_port_is_a_usage_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*SIPDIAG, "watch", "-i", "lo", "--metrics-port", str(port), "--metrics-address",
                               "127.0.0.1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and f"--metrics-port {port}" in done.stderr, \
        done.stderr


def test_the_jsonl_output_and_the_on_fail_command(tmp_path):
    from sipdiag_post import pdml
    from sipdiag_post.engine import evaluate
    from sipdiag_post.render.live import Unfinished
    from sipdiag_post.rules.base import Settings
    from sipdiag_post.watch import OnFail, Outcome, Printer

    summary = pdml.read_summary(FIXTURES / "486-busy-inbound" / "expected.pdml")
    report = evaluate("x", summary, Settings())
    written: list[str] = []
    hook = OnFail(f"cat > {tmp_path / 'hooked.json'}")
    printer = Printer("eth0", written.append, jsonl=True, on_fail=hook)
    for call in report.calls:
        printer(call, report.start_epoch)
    printer.finish(Outcome(start_epoch=report.start_epoch, in_progress=[Unfinished("open-1", "sip:a", "sip:b", 1.0)]))
    hook.wait()
    records = [json.loads(line) for line in "".join(written).splitlines()]
    assert [r["type"] for r in records] == ["call", "summary"]
    call, last = records
    assert call["capture"] == "eth0" and call["verdict"]["status"] == "fail" and call["start_time"].endswith("Z")
    assert last["verdicts"] == {"pass": 0, "warn": 0, "fail": 1} and last["calls"] == 1
    assert [c["call_id"] for c in last["in_progress"]] == ["open-1"]
    assert json.loads((tmp_path / "hooked.json").read_text()) == call
    assert hook.failures == []
