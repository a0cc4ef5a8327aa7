"""Mutated fixture captures through the whole pipeline: no crash, no traceback, no malformed PDML.

    .venv/bin/python tests/fuzz.py [--cases 5000] [--seed 20261126] [--jobs N] [--keep DIR]   (make fuzz)

Case n mutates fixture n mod F with mutation kind n mod K (tests/mutate.py; when F
and K share no factor every pairing comes up once in F*K cases, otherwise the
kind index also advances by n div (F*K)) and a seed drawn from --seed, so a run is reproducible and a failing case can
be replayed alone (`--only N`). Each case:
  1. runs the real tshark with the Lua tap over the mutated capture: tshark may
     refuse the file, but no Lua error may escape the tap (its stderr is read)
     and tshark must not die from a signal;
  2. parses the PDML the tap wrote with a strict XML parser (well-formed, root
     <pdml sipdiag_schema=...>), then reads it with sipdiag's own reader;
  3. runs `sipdiag check` on it in one of the six formats and validates the
     output (JSON parses, JUnit is XML, CSV parses without formula cells, the
     table, CSV, Markdown and HTML hold no control, bidi, invisible or
     line-separator character but their own newlines, JSON and JUnit no C1
     control, the HTML no markup from the capture); exit code 0 or 1. The
     kind nonfinite-pdml first makes some of the PDML's numbers non-finite or
     out of range (mutate.PDML_MUTATIONS): then the reader must refuse it and
     `check` exit 3 with one line;
  4. for every case whose capture tshark refused, every hostile-name case (the
     capture named by mutate.HOSTILE_NAMES: terminal escapes, markup, line
     breaks, bidi, bytes that are not UTF-8; analysed in one of the six
     formats, validated as in 3) and one case in six otherwise, runs
     `sipdiag analyze` end to end: exit 0, 1 or 3 (then one line on stderr),
     never a traceback.
Steps 3 and 4 run the CLI's own entry point in-process with SIPDIAG_DEBUG=1,
so an unexpected exception surfaces as a crash instead of the "internal error"
line users would see. Prints counts per mutation kind and outcome; exit 1 when
any case failed (the failures are listed, with --keep DIR their captures kept).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "fixtures", ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import mutate  # noqa: E402
import scenarios as sc  # noqa: E402
from lxml import etree  # noqa: E402

from sipdiag_post import cli, pdml  # noqa: E402
from sipdiag_post.tshark import find_tshark, tap_command  # noqa: E402

DEFAULT_SEED = 20261126
FORMATS = ("json", "csv", "junit", "markdown", "table", "html")
LUA_ERROR = re.compile(r"Lua: Error|stack traceback|attempt to (?:index|call|compare|perform|concatenate)|"
                       r"bad argument #|\.lua:\d+:", re.IGNORECASE)
# what no format for people may hold (its own newlines aside): controls, line separators, bidi, invisible
HUMAN_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200b-\u200f\u202a-\u202e"
                             "\u2060-\u2069\ufeff\U000e0000-\U000e007f]")
# what JSON and JUnit may not hold raw: C1 controls (and, in JSON, what its escapes leave raw)
MACHINE_FORBIDDEN = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b\ufeff]")
STRICT = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@dataclass(frozen=True)
class Case:
    number: int
    fixture: str
    kind: str
    seed: int
    decode_as: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    case: Case
    result: str  # "report", "clean-error" or "FAIL: ..."
    detail: str = ""


def cases(count: int, seed: int) -> list[Case]:
    scenarios = [s for s in sc.SCENARIOS if (ROOT / "fixtures" / s.name / "capture.pcap").exists()]
    kinds = list(mutate.MUTATIONS)
    rng = random.Random(seed)
    out = []
    for n in range(count):
        scenario = scenarios[n % len(scenarios)]
        kind = kinds[(n + n // (len(scenarios) * len(kinds))) % len(kinds)]
        out.append(Case(n, scenario.name, kind, rng.randrange(1 << 31), tuple(scenario.decode_as)))
    return out


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """sipdiag's entry point in this process: exit code, stdout, stderr. Unexpected exceptions propagate."""
    out, err = io.TextIOWrapper(io.BytesIO(), "utf-8"), io.TextIOWrapper(io.BytesIO(), "utf-8")
    saved = sys.argv
    sys.argv = ["sipdiag", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        sys.argv = saved
    out.flush()
    err.flush()
    return code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode()


def _check_output(fmt: str, text: str) -> str | None:
    """What is wrong with a report in this format, or None."""
    try:
        if fmt == "json":
            json.loads(text)
        elif fmt == "junit":
            etree.fromstring(text.encode(), STRICT)
        elif fmt == "csv":
            for row in csv.reader(io.StringIO(text)):
                bad = [cell for cell in row if cell[:1] in ("=", "+", "-", "@")]
                if bad:
                    return f"csv formula cell {bad[0][:40]!r}"
    except (ValueError, etree.XMLSyntaxError) as exc:
        return f"{fmt} output does not parse: {str(exc).splitlines()[0][:120]}"
    if fmt in ("table", "csv", "markdown", "html"):
        found = HUMAN_FORBIDDEN.search(text)
        if found:
            return f"{fmt} output holds {found[0]!r} raw"
    elif fmt == "json" and (found := MACHINE_FORBIDDEN.search(text)):
        return f"json output holds {found[0]!r} raw"
    elif fmt == "junit" and (found := re.search("[\x7f-\x9f]", text)):
        return f"junit output holds {found[0]!r} raw"
    if fmt == "html" and (text.count("<script") != 1 or text.count("<style") != 1):
        return "html output has markup from the capture (a second <script> or <style>)"
    return None


def _one_line_error(code: int, stderr: str) -> str | None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if code == 3 and (len(lines) != 1 or not lines[0].startswith("sipdiag: ")):
        return f"exit 3 without one error line: {stderr[:200]!r}"
    if "Traceback" in stderr or "internal error" in stderr:
        return f"traceback or internal error: {stderr[:200]!r}"
    return None


def run_case(case: Case, keep: str | None = None) -> Outcome:
    os.environ["SIPDIAG_DEBUG"] = "1"
    try:
        data = (ROOT / "fixtures" / case.fixture / "capture.pcap").read_bytes()
        mutated = mutate.mutate(data, case.kind, case.seed)
        with tempfile.TemporaryDirectory(prefix="sipdiag-fuzz-") as tmp:
            name = "case.pcap"
            if case.kind == "hostile-name":
                name = mutate.HOSTILE_NAMES[case.seed % len(mutate.HOSTILE_NAMES)]
            capture, out = Path(tmp) / name, Path(tmp) / "summary.pdml"
            capture.write_bytes(mutated)
            outcome = _run(case, capture, out)
            if keep and outcome.result.startswith("FAIL"):
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(capture, Path(keep) / f"case{case.number}-{case.fixture}-{case.kind}.pcap")
                if out.exists():
                    shutil.copyfile(out, Path(keep) / f"case{case.number}-{case.fixture}-{case.kind}.pdml")
            return outcome
    except Exception:  # the harness reports whatever broke
        return Outcome(case, "FAIL: exception", traceback.format_exc(limit=-3))


def _run(case: Case, capture: Path, out: Path) -> Outcome:
    tshark = find_tshark()
    command = tap_command(tshark, capture, out)
    for rule in case.decode_as:
        command += ["-d", rule]
    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    try:
        done = subprocess.run(command, capture_output=True, env=env, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(case, "FAIL: tshark with the tap took over 300 s")
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode < 0:
        return Outcome(case, f"FAIL: tshark died from signal {-done.returncode}", stderr[-300:])
    if LUA_ERROR.search(stderr):
        return Outcome(case, "FAIL: a Lua error escaped the tap", stderr[:400])
    analyze_too = not out.exists() or case.number % 6 == 0 or case.kind == "hostile-name"
    fmt = FORMATS[case.number % len(FORMATS)]
    if out.exists():
        try:
            root = etree.parse(str(out), STRICT).getroot()
        except etree.XMLSyntaxError as exc:
            return Outcome(case, "FAIL: malformed PDML", str(exc)[:300])
        if root.tag != "pdml" or root.get("sipdiag_schema") is None:
            return Outcome(case, "FAIL: PDML without <pdml sipdiag_schema>")
        try:
            pdml.read_summary(out)
        except pdml.PdmlError as exc:
            return Outcome(case, "FAIL: sipdiag refuses the tap's own PDML", str(exc))
        if case.kind in mutate.PDML_MUTATIONS:
            return _hostile_pdml(case, out, fmt)
        code, stdout, err = run_cli(["check", str(out), "--format", fmt])
        problem = _one_line_error(code, err) or _check_output(fmt, stdout)
        if code not in (0, 1):
            problem = problem or f"check exited {code}: {err.strip()[:200]}"
        if problem:
            return Outcome(case, f"FAIL: check --format {fmt}", problem)
    if analyze_too:
        fmt = fmt if case.kind == "hostile-name" else "json"
        args = ["analyze", str(capture), "--format", fmt]
        for rule in case.decode_as:
            args += ["--decode-as", rule]
        code, stdout, err = run_cli(args)
        problem = _one_line_error(code, err)
        if code not in (0, 1, 3):
            problem = problem or f"analyze exited {code}: {err.strip()[:200]}"
        if code in (0, 1) and not problem:
            problem = _check_output(fmt, stdout)
        if problem:
            return Outcome(case, "FAIL: analyze", problem)
        if code == 3:
            return Outcome(case, "clean-error", err.strip())
    return Outcome(case, "report")


def _hostile_pdml(case: Case, out: Path, fmt: str) -> Outcome:
    """The tap's PDML with non-finite or out-of-range numbers: refused by the reader, `check` exits 3 with one
    line (in any format; the HTML graph once looped forever on a time of inf)."""
    out.write_bytes(mutate.PDML_MUTATIONS[case.kind](out.read_bytes(), random.Random(case.seed + 1)))
    try:
        pdml.read_summary(out)
        return Outcome(case, "FAIL: the reader accepted non-finite numbers")
    except pdml.PdmlError as exc:
        if "\n" in str(exc):
            return Outcome(case, "FAIL: the reader's error is not one line", str(exc)[:300])
    code, _, err = run_cli(["check", str(out), "--format", fmt])
    problem = _one_line_error(code, err)
    if code != 3:
        problem = problem or f"check of non-finite numbers exited {code}: {err.strip()[:200]}"
    if problem:
        return Outcome(case, f"FAIL: check --format {fmt}", problem)
    return Outcome(case, "clean-error", err.strip())


def run(count: int, seed: int, jobs: int, keep: str | None = None, only: int | None = None,
        progress: bool = False) -> list[Outcome]:
    chosen = cases(count if only is None else only + 1, seed)
    if only is not None:
        chosen = chosen[only:]
    outcomes = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for i, outcome in enumerate(pool.map(run_case, chosen, [keep] * len(chosen), chunksize=4)):
            outcomes.append(outcome)
            if progress and (i + 1) % 250 == 0:
                failed = sum(o.result.startswith("FAIL") for o in outcomes)
                print(f"[fuzz] {i + 1}/{len(chosen)} cases, {failed} failed", file=sys.stderr, flush=True)
    return outcomes


def summary(outcomes: list[Outcome], seed: int, seconds: float) -> str:
    kinds: dict[str, Counter[str]] = {}
    for o in outcomes:
        kinds.setdefault(o.case.kind, Counter())["FAIL" if o.result.startswith("FAIL") else o.result] += 1
    lines = [f"{'mutation':<18} {'cases':>6} {'report':>7} {'clean error':>12} {'FAIL':>5}"]
    for kind, c in kinds.items():
        lines.append(f"{kind:<18} {sum(c.values()):>6} {c['report']:>7} {c['clean-error']:>12} {c['FAIL']:>5}")
    failed = [o for o in outcomes if o.result.startswith("FAIL")]
    lines.append(f"{len(outcomes)} cases, seed {seed}, {seconds:.0f} s: {len(failed)} failed "
                 f"(crashes, tracebacks, escaped Lua errors, malformed PDML or output)")
    for o in failed[:30]:
        lines.append(f"  case {o.case.number} ({o.case.fixture}, {o.case.kind}, seed {o.case.seed}): "
                     f"{o.result} {o.detail.strip()[:300]!r}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", help="folder for the captures of failing cases")
    parser.add_argument("--only", type=int, help="run case N alone")
    args = parser.parse_args()
    start = time.perf_counter()
    outcomes = run(args.cases, args.seed, args.jobs, args.keep, args.only, progress=True)
    print(summary(outcomes, args.seed, time.perf_counter() - start))
    sys.exit(1 if any(o.result.startswith("FAIL") for o in outcomes) else 0)


if __name__ == "__main__":
    main()
