"""Where the tap's time goes, in instructions: valgrind's cachegrind over tshark.

    .venv/bin/python bench/cachegrind.py [CAPTURE] [--packets 100000]      (make bench-profile)

A noisy machine blurs wall-clock times; instruction counts it cannot. Each
case runs tshark under `valgrind --tool=cachegrind --cache-sim=no` on the
first --packets packets of CAPTURE (default build/bench/600k.pcap), net of
tshark's start-up (the same command on a one-packet slice), with the tap's
tshark preferences in every case so that they compare like with like:

  C taps               -z rtp,streams -z sip,stat
  empty sip listener   a Lua script with Listener.new("sip") and nothing else
  empty rtp listener   the same for "rtp"
  + the tap's fields   an empty rtp listener plus every Field.new the tap makes
  the tap              lua/sipdiag.lua as `sipdiag analyze` runs it

It prints the table (G instructions, ratio to the C taps) and, with
--top N, the N functions of the tap's run with the most instructions
(cg_annotate). Several minutes: each run is about 50 times slower under
valgrind.

With --misses, cachegrind also simulates the caches, its last level sized as
this machine's per-core L2 (read from sysfs; 512 KiB when it says nothing),
and the table gains the data misses there: what reaches the shared L3 or
memory, where a lookup waits tens of cycles. Instructions alone miss that
cost (wall time runs above the instruction ratio); these counts are as
deterministic as the instructions. About twice as slow again.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sipdiag_post.tshark import TAP_PREFERENCES, find_tshark, tap_script  # noqa: E402

DEFAULT_CAPTURE = ROOT / "build" / "bench" / "600k.pcap"


def _fields() -> list[str]:
    """The field names the tap asks for with Field.new."""
    text = tap_script().read_text()
    return re.findall(r'Field\.new\("([^"]+)"\)', text)


def _scripts(folder: Path) -> dict[str, Path]:
    sip = folder / "empty_sip.lua"
    sip.write_text('local l = Listener.new("sip")\nfunction l.packet() end\n')
    rtp = folder / "empty_rtp.lua"
    rtp.write_text('local l = Listener.new("rtp")\nfunction l.packet() end\n')
    fields = folder / "fields.lua"
    fields.write_text("".join(f'local f{i} = Field.new("{name}")\n' for i, name in enumerate(_fields()))
                      + 'local l = Listener.new("rtp")\nfunction l.packet() end\n')
    return {"empty sip listener": sip, "empty rtp listener": rtp, "+ the tap's fields": fields}


L2_UNKNOWN = 512 * 1024  # bytes, when sysfs does not say


def l2_bytes() -> int:
    """This machine's per-core L2 cache size in bytes (sysfs), L2_UNKNOWN when it does not say."""
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
    except OSError:
        return L2_UNKNOWN
    found = re.fullmatch(r"(\d+)([KM]?)", text)
    return int(found[1]) * {"": 1, "K": 1024, "M": 1024 * 1024}[found[2]] if found else L2_UNKNOWN


def counts(command: list[str], out: Path, l2: int | None = None) -> tuple[int, int]:
    """Instructions (Ir) one command executes under cachegrind, and with l2 (bytes) its data misses in a
    last-level cache of that size (0 without)."""
    sim = ["--cache-sim=yes", f"--LL={l2},8,64"] if l2 else ["--cache-sim=no"]
    done = subprocess.run(["valgrind", "--tool=cachegrind", *sim, f"--cachegrind-out-file={out}", *command],
                          capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if not found:
        raise SystemExit(f"cachegrind: no instruction count for {' '.join(command)}:\n{done.stderr[-2000:]}")
    missed = re.search(r"LLd misses:\s+([\d,]+)", done.stderr) if l2 else None
    return int(found[1].replace(",", "")), int(missed[1].replace(",", "")) if missed else 0


def slice_capture(capture: Path, packets: int, out: Path) -> Path:
    subprocess.run(["editcap", "-F", "pcap", "-r", str(capture), str(out), f"1-{packets}"], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture", nargs="?", type=Path, default=DEFAULT_CAPTURE)
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=0, help="list the tap run's N costliest functions")
    parser.add_argument("--only", choices=("tap", "pair"), help="only the tap, or the C taps and the tap")
    parser.add_argument("--prefs", help="tshark preferences for every case, comma-separated (default: the tap's)")
    parser.add_argument("--misses", action="store_true", help="also count data misses in a simulated L2")
    args = parser.parse_args()
    if not args.capture.exists():
        raise SystemExit(f"{args.capture}: no such capture (sudo make bench builds build/bench/600k.pcap)")
    tshark = find_tshark().path
    chosen = TAP_PREFERENCES if args.prefs is None else tuple(p for p in args.prefs.split(",") if p)
    prefs = [w for p in chosen for w in ("-o", p)]
    with tempfile.TemporaryDirectory(prefix="sipdiag-cg-") as tmp:
        folder = Path(tmp)
        piece = slice_capture(args.capture, args.packets, folder / "slice.pcap")
        one = slice_capture(args.capture, 1, folder / "one.pcap")
        scripts = _scripts(folder)
        cases: dict[str, list[str]] = {
            "C taps": ["-z", "rtp,streams", "-z", "sip,stat"],
            **{name: ["-X", f"lua_script:{path}"] for name, path in scripts.items()},
            "the tap": ["-X", f"lua_script:{tap_script()}", "-X", f"lua_script1:out={folder / 'out.pdml'}"],
        }
        if args.only:
            keep = ("the tap",) if args.only == "tap" else ("C taps", "the tap")
            cases = {name: extra for name, extra in cases.items() if name in keep}
        l2 = l2_bytes() if args.misses else None
        rows = []
        for name, extra in cases.items():
            command = [tshark, "-q", "-n", *prefs, *extra]
            start = counts([*command[:1], "-r", str(one), *command[1:]], folder / "start.cg", l2)
            total = counts([*command[:1], "-r", str(piece), *command[1:]], folder / f"{len(rows)}.cg", l2)
            rows.append((name, total[0] - start[0], total[1] - start[1]))
            print(f"{name}: {(total[0] - start[0]) / 1e9:.2f} G", file=sys.stderr)
        base, base_missed = rows[0][1], rows[0][2] or 1
        print(f"Instructions on the first {args.packets:,} packets of {args.capture.name}, net of tshark's start-up "
              f"(preferences: {', '.join(chosen) or 'none'}):\n")
        if l2:
            print(f"| run | G instructions | / C taps | M data misses, {l2 // 1024} KiB L2 (simulated) | / C taps |\n"
                  "|---|---|---|---|---|")
        else:
            print("| run | G instructions | / C taps |\n|---|---|---|")
        for name, count, missed in rows:
            more = f" {missed / 1e6:.2f} | {missed / base_missed:.2f} |" if l2 else ""
            print(f"| {name} | {count / 1e9:.2f} | {count / base:.2f} |{more}")
        if args.top:
            shown = subprocess.run(["cg_annotate", "--auto=no", str(folder / f"{len(rows) - 1}.cg")],
                                   capture_output=True, text=True, check=False).stdout
            lines = [line for line in shown.splitlines() if re.match(r"^\s*[\d,]+ ", line)]
            print(f"\nThe tap's costliest {args.top} functions (cg_annotate):\n")
            print("\n".join(lines[:args.top]))


if __name__ == "__main__":
    main()
