"""Build the benchmark capture: about 600 calls with two-way RTP, >= 600k packets.

    sudo .venv/bin/python bench/capture.py [OUT.pcap] [--calls N] [--seconds S]

Real sipp peers on loopback (as the fixtures), 10 s of PCMA each way per call
with RTCP, 100 calls at a time. Cached: an existing OUT is kept. Needs root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures"))

import generate as gen  # noqa: E402
import media  # noqa: E402
import scenarios as sc  # noqa: E402


def build(out: Path, calls: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="sipdiag-bench-") as tmp:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=str(ROOT / "build" / "bench" / "600k.pcap"))
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        print(f"[bench] {out} exists (cached)")
        return
    if os.geteuid() != 0:
        raise SystemExit("bench: building the capture needs root (dumpcap on loopback)")
    build(out, args.calls, args.seconds)
    print(f"[bench] wrote {out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
