"""Shared test set-up: the repository root on sys.path for `tests.builders` and `fixtures`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "fixtures"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402


@dataclass(frozen=True)
class FixtureRun:
    """One fixture capture through the real tshark and tap: the PDML, the report and its JSON."""

    scenario: object  # fixtures/scenarios.py Scenario
    pdml: bytes
    report: object  # sipdiag_post.report.CaptureReport
    json: dict


@pytest.fixture(scope="session")
def tshark():
    from sipdiag_post.tshark import TsharkError, find_tshark

    try:
        return find_tshark()
    except TsharkError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def fixture_runs(tshark, tmp_path_factory) -> dict[str, FixtureRun]:
    """Every fixture scenario analysed once per test session (paths relative to the repository)."""
    import scenarios as sc

    from sipdiag_post import render
    from sipdiag_post.analysis.direction import parse_local
    from sipdiag_post.engine import evaluate
    from sipdiag_post.pipeline import TapOptions, export
    from sipdiag_post.rules.base import Settings

    out: dict[str, FixtureRun] = {}
    tmp = tmp_path_factory.mktemp("pdml")
    for scenario in sc.SCENARIOS:
        capture = Path("fixtures") / scenario.name / "capture.pcap"
        pdml_path = tmp / f"{scenario.name}.pdml"
        summary = export(TapOptions(tshark=tshark, decode_as=scenario.decode_as), ROOT / capture, pdml_path)
        report = evaluate(str(capture), summary, Settings(local_nets=parse_local(scenario.local)))
        out[scenario.name] = FixtureRun(scenario, pdml_path.read_bytes(), report,
                                        json.loads(render.report_json([report])))
    return out
