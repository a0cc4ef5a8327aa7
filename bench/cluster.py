"""Time `sipdiag analyze --cluster` on 1 and 2 single-threaded Dask workers, against a local serial run.

    .venv/bin/python bench/cluster.py [--copies 8] [--runs 3]      (make bench-cluster)

The input is every fixture capture --copies times (hard links in a temporary
folder: distinct files, one copy on disk). Measured, median of --runs (the three
cases taking turns, so that a change in load hits them alike), wall time of
the whole command (Python start, connecting, submitting, gathering):
  local   sipdiag analyze DIR --jobs 1      one process, the captures one after another
  1 worker, 2 workers                       a real `dask scheduler` and `dask worker --nthreads 1`
                                            processes on 127.0.0.1 (tests/daskproc.py)
The reports must be byte-identical in all three. The speed-up is 1 worker / 2
workers (target >= 1.7x on 2 cores). The per-task overhead is what a task
costs on the cluster beyond the analysis itself, (1 worker - local) /
captures, in wall time and in CPU time (the client's, plus every process of
the worker's: nanny, worker, tshark); CPU time does not grow when other work
shares the machine, wall time does, so the load average is printed too.
Workers run as docs/scaling.md recommends: `--nthreads 1`, Dask's
statistical profiler off (DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False).
Writes bench/results-cluster.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.daskproc import DaskProcesses, session_of  # noqa: E402

SIPDIAG = str(Path(sys.executable).with_name("sipdiag"))
WORKER_ENV = dict(os.environ, DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False")


def session_cpu(sessions: list[int]) -> float:
    """CPU seconds of the live processes of these sessions and the children they waited for."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and session_of(int(entry.name)) in sessions:
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def timed(command: list[str], sessions: list[int] = ()) -> tuple[float, float, bytes]:
    """Wall seconds, CPU seconds (the command's and the sessions') and stdout of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = session_cpu(list(sessions))
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu += session_cpu(list(sessions)) - cpu_before
    if done.returncode not in (0, 1) or done.stderr:
        raise SystemExit(f"bench: {' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8, help="each fixture capture this many times")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fixtures = sorted((ROOT / "fixtures").glob("*/capture.pcap"))
    with tempfile.TemporaryDirectory(prefix="sipdiag-bench-cluster-") as tmp:
        folder = Path(tmp) / "captures"
        folder.mkdir()
        for copy in range(args.copies):
            for capture in fixtures:
                os.link(capture, folder / f"{capture.parent.name}-{copy}.pcap")
        captures = args.copies * len(fixtures)
        command = [SIPDIAG, "analyze", str(folder), "--format", "json"]
        walls: dict[str, list[float]] = {"local": [], "1 worker": [], "2 workers": []}
        cpus: dict[str, list[float]] = {name: [] for name in walls}
        outputs: dict[str, bytes] = {}
        loads = [os.getloadavg()[0]]
        # two clusters, idle while the other runs, so that the three cases can take turns (a change in the
        # machine's load then hits them alike)
        one, two = DaskProcesses(Path(tmp) / "one"), DaskProcesses(Path(tmp) / "two")
        try:
            workers: dict[str, list[int]] = {}
            for cluster, name, count in ((one, "1 worker", 1), (two, "2 workers", 2)):
                cluster.folder.mkdir()
                cluster.start_scheduler()
                started = [cluster.start_worker(f"worker-{i}", env=WORKER_ENV) for i in range(count)]
                cluster.wait_for_workers(count)
                workers[name] = [session_of(w.pid) or 0 for w in started]
            for run in range(args.runs):
                for name in walls:
                    print(f"[bench] run {run + 1}/{args.runs}: {name}, {captures} captures", file=sys.stderr,
                          flush=True)
                    if name == "local":
                        wall, cpu, outputs[name] = timed([*command, "--jobs", "1"])
                    else:
                        cluster = one if name == "1 worker" else two
                        wall, cpu, outputs[name] = timed([*command, "--cluster", cluster.address], workers[name])
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            loads.append(os.getloadavg()[0])
        finally:
            one.close()
            two.close()
    wall = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    same = "identical" if len(set(outputs.values())) == 1 else "DIFFERENT"
    speedup = wall["1 worker"] / wall["2 workers"]
    overhead_ms = (wall["1 worker"] - wall["local"]) / captures * 1000
    overhead_cpu_ms = (cpu["1 worker"] - cpu["local"]) / captures * 1000
    version = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [
        f"# sipdiag on a Dask cluster: {len(fixtures)} fixture captures x {args.copies} = {captures} captures, "
        f"median of {args.runs}",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; {version}; dask {_version('distributed')}.",
        "",
        "| run | wall s | captures/s | CPU s |",
        "|---|---|---|---|",
        *[f"| {name} | {w:.2f} | {captures / w:.1f} | {cpu[name]:.1f} |" for name, w in wall.items()],
        "",
        f"Speed-up 2 workers over 1: {speedup:.2f}x (target >= 1.7x: {'met' if speedup >= 1.7 else 'MISSED'}); "
        f"per-task overhead of the cluster over the local serial run: {overhead_cpu_ms:.0f} ms of CPU, "
        f"{overhead_ms:.0f} ms of wall time; reports {same}. Load average (1 min) before and after: "
        f"{loads[0]:.2f}, {loads[-1]:.2f}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    (ROOT / "bench" / "results-cluster.md").write_text(text)
    if same != "identical":
        raise SystemExit("bench: the cluster's reports differ from the local run's")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
