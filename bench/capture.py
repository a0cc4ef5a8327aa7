"""Build the benchmark captures: about 600 calls with two-way RTP, >= 600k packets; or, with
--invites-only (or --invites-with-sdp), the adversarial one: N calls of one INVITE each and nothing else.

    sudo .venv/bin/python bench/capture.py [OUT.pcap] [--calls N] [--seconds S]
    sudo .venv/bin/python bench/capture.py OUT.pcap --invites-only --calls 200000
    sudo .venv/bin/python bench/capture.py OUT.pcap --invites-with-sdp --calls 200000

Real sipp peers on loopback (as the fixtures), 10 s of PCMA each way per call
with RTCP, 100 calls at a time. The adversarial capture is a sipp UAC sending
one INVITE per Call-ID (with SDP, never retransmitted) as fast as it can to a
port where a plain socket reads and drops them: 200,000 Call-IDs, each a call
the tap must track. dumpcap captures only its own ports, under the fixtures'
lock (flock /tmp/sipdiag-fixtures.lock). Cached: an existing OUT is kept. Needs root.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = "/tmp/sipdiag-fixtures.lock"  # the fixtures' lock (Makefile: make fixtures; the tests that capture)
sys.path.insert(0, str(ROOT / "fixtures"))

import generate as gen  # noqa: E402
import media  # noqa: E402
import scenarios as sc  # noqa: E402


def build(out: Path, calls: int, seconds: float) -> None:
    # under the fixtures' lock: another capture on loopback meanwhile (a test's flood of INVITEs to ports in
    # the media range) would end up in this one
    with tempfile.TemporaryDirectory(prefix="sipdiag-bench-") as tmp, open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = Path(tmp)
        media.write_track(work / sc.UAC_MEDIA, sc.uac_track(duration_s=seconds, rtcp=media.Rtcp(
            sr_times=(1.0, 6.0), peer_ssrc=sc.UAS_SSRC, peer_sr_times=(1.5, 6.5))))
        media.write_track(work / sc.UAS_MEDIA, sc.uas_track(duration_s=seconds, rtcp=media.Rtcp(
            sr_times=(1.5, 6.5), peer_ssrc=sc.UAC_SSRC, peer_sr_times=(1.0, 6.0))))
        (work / "uac.xml").write_text(sc.answered_uac(talk_ms=int(seconds * 1000) + 500))
        (work / "uas.xml").write_text(sc.answered_uas())
        pcap = work / "bench.pcap"
        dumpcap = gen.start_dumpcap(pcap, "udp and (port 5060 or port 5070 or portrange 20000-39999)")
        common = ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-t", "u1", "-m", str(calls), "-nostdin",
                  "-s", "+15550100002"]
        quiet = {"cwd": work, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        uas = subprocess.Popen(["sipp", "-sf", "uas.xml", "-p", "5060", "-mp", "30000", *common], **quiet)
        time.sleep(0.5)
        uac = subprocess.Popen(["sipp", "-sf", "uac.xml", "-p", "5070", "-mp", "20000", *common,
                                "-l", "100", "-r", "20", "-cid_str", "bench-%u@sipdiag.test", "127.0.0.1:5060"],
                               **quiet)
        # 20 calls/s, at most 100 at a time: waves of 100 when calls last longer than 5 s
        gen.stop(uac, max(calls / 20, -(-calls // 100) * (seconds + 1)) + seconds + 120)
        gen.stop(uas, 10)
        time.sleep(1)
        gen.stop(dumpcap, patience_s=120)
        out.parent.mkdir(parents=True, exist_ok=True)
        pcap.replace(out)


# ports of the adversarial capture: used by nothing else on this machine's loopback
FLOOD_UAC_PORT, FLOOD_SINK_PORT = 25070, 25060
INVITE_HEAD = """
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70"""
# an offer on its own media port ([field0], from the injection file): an offer that every call repeats
# on one port makes tshark's own dissection quadratic (its RTP conversations for that address:port)
INVITE_SDP = """
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [field0] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
"""
INVITE_NO_SDP = """
      Content-Length: 0

"""


def one_invite(sdp: bool) -> str:
    """A sipp scenario of one INVITE per call, never answered (nothing waits for an answer)."""
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="one INVITE per call">\n  <send>\n'
            "    <![CDATA[\n" + INVITE_HEAD + (INVITE_SDP if sdp else INVITE_NO_SDP) + "    ]]>\n  </send>\n"
            "</scenario>\n")


def _sink(sock: socket.socket, stop: threading.Event) -> None:
    """Read and drop datagrams (so the kernel sends no ICMP errors back) until stop is set."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            sock.recv(65536)
        except (TimeoutError, OSError):
            continue


def build_invites(out: Path, calls: int, sdp: bool) -> None:
    """calls Call-IDs of one INVITE each (with an SDP offer, each on its own port, or without), from a sipp
    UAC to a socket that drops them."""
    with tempfile.TemporaryDirectory(prefix="sipdiag-bench-") as tmp, open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = Path(tmp)
        (work / "uac.xml").write_text(one_invite(sdp))
        # media ports for the offers: 20,000 even ports, each offered by 1 call in 20,000
        (work / "ports.csv").write_text("SEQUENTIAL\n" + "".join(f"{10000 + 2 * (n % 20000)}\n"
                                                                 for n in range(calls)))
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sink.bind(("127.0.0.1", FLOOD_SINK_PORT))
        stop = threading.Event()
        reader = threading.Thread(target=_sink, args=(sink, stop), daemon=True)
        reader.start()
        pcap = work / "invites.pcap"
        dumpcap = gen.start_dumpcap(pcap, f"udp and src port {FLOOD_UAC_PORT} and dst port {FLOOD_SINK_PORT}")
        uac = subprocess.Popen(["sipp", "-sf", "uac.xml", "-i", "127.0.0.1", "-p", str(FLOOD_UAC_PORT), "-t", "u1",
                                "-m", str(calls), "-r", "2000", "-l", "1000", "-nostdin", "-nr", "-inf", "ports.csv",
                                "-s", "+15550100002", "-cid_str", "flood-%u@sipdiag.test",
                                f"127.0.0.1:{FLOOD_SINK_PORT}"],
                               cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gen.stop(uac, calls / 500 + 60)
        time.sleep(1)
        gen.stop(dumpcap, patience_s=120)
        stop.set()
        reader.join()
        sink.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        pcap.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=str(ROOT / "build" / "bench" / "600k.pcap"))
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--invites-only", action="store_true",
                        help="the adversarial capture: --calls Call-IDs of one INVITE each, without SDP")
    parser.add_argument("--invites-with-sdp", action="store_true",
                        help="the same, each INVITE with an SDP offer on its own media port")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        print(f"[bench] {out} exists (cached)")
        return
    if os.geteuid() != 0:
        raise SystemExit("bench: building the capture needs root (dumpcap on loopback)")
    if args.invites_only or args.invites_with_sdp:
        build_invites(out, args.calls, sdp=args.invites_with_sdp)
    else:
        build(out, args.calls, args.seconds)
    print(f"[bench] wrote {out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
