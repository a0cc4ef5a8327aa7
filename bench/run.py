"""Time the sipdiag tap against tshark's own C taps on the benchmark capture.

    .venv/bin/python bench/run.py [CAPTURE] [--runs 3]      (make bench)

Measured in one run, median of --runs each, wall time and peak RSS of:
  (a) tshark dissection alone:   tshark -q -n -r F -Y 'sip||rtp||rtcp'
  (b) Wireshark's C taps:        tshark -q -n -r F -z rtp,streams -z sip,stat
  (c) the sipdiag tap alone:     tshark -q -n -r F -X lua_script:lua/sipdiag.lua -X lua_script1:out=...
  (d) sipdiag analyze end to end (JSON to /dev/null)
and a batch of the fixture captures with --jobs 1 and --jobs 2 (identical results required).
Prints a table with packets/s and the ratios to (b); writes it to build/bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "build" / "bench" / "600k.pcap"


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"bench: {' '.join(command)} failed")
    return wall, usage.ru_maxrss / 1024


def packets(capture: Path) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(capture)], capture_output=True, text=True).stdout
    return int(out.split("\t")[-1])


def batch_speedup(sipdiag: str, runs: int) -> str:
    """`sipdiag analyze fixtures/` with one worker and with two; the reports must be identical."""
    folder = ROOT / "fixtures"
    captures = len(list(folder.rglob("capture.pcap")))
    timings, outputs = {}, {}
    for jobs in (1, 2):
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            done = subprocess.run([sipdiag, "analyze", str(folder), "--format", "json", "--jobs", str(jobs)],
                                  capture_output=True, check=False)
            walls.append(time.perf_counter() - start)
            outputs[jobs] = done.stdout
        timings[jobs] = statistics.median(walls)
    same = "identical" if outputs[1] == outputs[2] else "DIFFERENT"
    return (f"Batch of {captures} fixture captures: --jobs 1 {timings[1]:.2f} s, --jobs 2 {timings[2]:.2f} s, "
            f"speed-up {timings[1] / timings[2]:.2f}x; reports {same}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture", nargs="?", default=str(DEFAULT))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    capture = Path(args.capture)
    if not capture.exists():
        raise SystemExit(f"bench: {capture} is missing; build it with: sudo .venv/bin/python bench/capture.py")
    tshark = shutil.which("tshark") or "tshark"
    tap = ROOT / "lua" / "sipdiag.lua"
    sipdiag = str(Path(sys.executable).with_name("sipdiag"))
    with tempfile.TemporaryDirectory(prefix="sipdiag-bench-") as tmp:
        out = Path(tmp) / "summary.pdml"
        cases = [
            ("(a) tshark dissection", [tshark, "-q", "-n", "-r", str(capture), "-Y", "sip||rtp||rtcp"]),
            ("(b) C taps rtp,streams + sip,stat",
             [tshark, "-q", "-n", "-r", str(capture), "-z", "rtp,streams", "-z", "sip,stat"]),
            ("(c) sipdiag tap", [tshark, "-q", "-n", "-r", str(capture), "-X", f"lua_script:{tap}",
                                 "-X", f"lua_script1:out={out}"]),
            ("(d) sipdiag analyze", [sipdiag, "analyze", str(capture), "--format", "json"]),
        ]
        results = {}
        for _ in range(args.runs):  # interleaved, so load changes hit every case alike
            for name, command in cases:
                results.setdefault(name, []).append(measure(command))
    batch = batch_speedup(sipdiag, args.runs)
    count = packets(capture)
    medians = {name: (statistics.median(w for w, _ in runs), max(m for _, m in runs)) for name, runs in results.items()}
    base = medians["(b) C taps rtp,streams + sip,stat"][0]
    lines = [
        f"# sipdiag benchmark: {capture.name}, {count} packets, median of {args.runs}",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}; "
        f"{subprocess.run([tshark, '-v'], capture_output=True, text=True).stdout.splitlines()[0]}",
        "",
        "| what | wall s | packets/s | peak RSS MiB | / (b) |",
        "|---|---|---|---|---|",
    ]
    for name, (wall, rss) in medians.items():
        lines.append(f"| {name} | {wall:.2f} | {count / wall:,.0f} | {rss:.0f} | {wall / base:.2f}x |")
    lines += ["", batch]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    results_md = ROOT / "build" / "bench" / "results.md"
    results_md.parent.mkdir(parents=True, exist_ok=True)
    results_md.write_text(text)


if __name__ == "__main__":
    main()
