"""Split a capture by time with editcap without cutting calls in half, and check it.

    .venv/bin/python bench/split.py [CAPTURE] [--parts 2] [--overlap 60]

Part i covers [t_i, t_(i+1) + overlap): every call that starts inside
[t_i, t_(i+1)) is whole in it when it lasts less than the overlap. The parts
are analysed in parallel (one process each) and each call is taken from the
part it started in: a call that crosses a cut also shows as a fragment at the
start of the next part, and the earlier part wins. Each check's status and
summary line (with its numbers: packets, loss, durations) must equal the whole
run's; only frame numbers differ, as they count from each part's first packet.
Times, peak RSS and the comparison are printed (see docs/scaling.md).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sipdiag_post.engine import evaluate  # noqa: E402
from sipdiag_post.pipeline import TapOptions, summarise  # noqa: E402
from sipdiag_post.rules.base import Settings  # noqa: E402
from sipdiag_post.tshark import find_tshark  # noqa: E402

# frame numbers count from each part's first packet: compared without them
FRAMES = re.compile(r"\b(frames?) \d[\d, -]*")


def span(capture: Path) -> tuple[float, float]:
    out = subprocess.run(["capinfos", "-a", "-e", "-S", "-T", "-r", str(capture)], capture_output=True,
                         text=True, check=True).stdout.splitlines()[-1].split("\t")
    return float(out[-2]), float(out[-1])


def verdicts(part: Path, own_from: float, own_to: float) -> tuple[dict[str, dict[str, tuple[str, str]]], float]:
    """Call-ID -> rule -> (status, summary) for the calls that start inside [own_from, own_to) of the part,
    and the peak RSS of tshark (MiB) in this process so far."""
    summary = summarise(TapOptions(find_tshark()), part)
    origin = summary.facts.start_epoch or 0.0
    own = tuple(c.call_id for c in summary.calls
                if c.messages and own_from <= origin + c.messages[0].time < own_to)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if not own:
        return {}, rss
    report = evaluate(str(part), summary, Settings(), call_ids=own)
    return {call.call_id: {check.id: (check.status.value, FRAMES.sub(r"\1 N", check.summary)) for check in call.checks}
            for call in report.calls}, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture", nargs="?", default=str(ROOT / "build" / "bench" / "600k.pcap"))
    parser.add_argument("--parts", type=int, default=2)
    parser.add_argument("--overlap", type=float, default=60.0, help="seconds; longer than any call")
    args = parser.parse_args()
    capture = Path(args.capture)
    first, last = span(capture)
    cuts = [first + (last - first) * i / args.parts for i in range(args.parts)] + [last + 1]

    start = time.perf_counter()
    whole, whole_rss = verdicts(capture, first, last + 1)
    single = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="sipdiag-split-") as tmp:
        start = time.perf_counter()
        parts = []
        for i in range(args.parts):
            part = Path(tmp) / f"part{i}.pcap"
            subprocess.run(["editcap", "-A", f"{cuts[i]:.6f}", "-B", f"{cuts[i + 1] + args.overlap:.6f}",
                            str(capture), str(part)], check=True)
            parts.append(part)
        cutting = time.perf_counter() - start
        # a fresh process per part, so each one's peak RSS is its own tshark's
        with ProcessPoolExecutor(max_workers=min(args.parts, os.cpu_count() or 1), max_tasks_per_child=1) as pool:
            results = list(pool.map(verdicts, parts, cuts[:-1], cuts[1:]))
        split = time.perf_counter() - start
    merged: dict[str, dict[str, tuple[str, str]]] = {}
    for result, _ in results:  # in time order: the part a call starts in comes first
        for call, checks in result.items():
            merged.setdefault(call, checks)
    calls = len(whole)
    differ = sorted(call for call in whole.keys() | merged.keys() if whole.get(call) != merged.get(call))
    same = "identical" if not differ else f"DIFFERENT for {len(differ)} calls, e.g. {differ[0]}"
    part_rss = max(rss for _, rss in results)
    print(f"{capture.name}: one run {single:.2f} s, tshark peak RSS {whole_rss:.0f} MiB; {args.parts} parts with "
          f"{args.overlap:g} s overlap: editcap {cutting:.2f} s, total {split:.2f} s, largest part's tshark peak RSS "
          f"{part_rss:.0f} MiB; {calls} calls, verdicts {same}")


if __name__ == "__main__":
    main()
