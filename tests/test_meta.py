"""Keeping the rules, the fixtures and the docs honest."""

from __future__ import annotations

import importlib
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import scenarios as sc

from sipdiag_post.docs import rules_markdown
from sipdiag_post.rules import RULES, THRESHOLDS
from sipdiag_post.rules.base import remedies
from sipdiag_post.verdict import Status

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _statuses_in_goldens() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for scenario in sc.SCENARIOS:
        report = json.loads((FIXTURES / scenario.name / "expected-verdicts.json").read_text())
        for capture in report["captures"]:
            for check in capture["capture_checks"] + [c for call in capture["calls"] for c in call["checks"]]:
                if "explained_by" not in check:  # an explained finding is info whatever the rule returns
                    seen[check["id"]].add(check["status"])
    return seen


SEEN = _statuses_in_goldens()


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_fails_in_one_scenario_and_passes_in_another(rule):
    required = {s.value for s in rule.statuses} & {Status.FAIL.value, Status.PASS.value, Status.INFO.value}
    if rule.statuses == frozenset({Status.PASS, Status.WARN, Status.NA}):
        required.add(Status.WARN.value)  # a rule that cannot fail must at least warn somewhere
    assert required <= SEEN[rule.id], f"{rule.id}: seen {sorted(SEEN[rule.id])}, needs {sorted(required)}"
    assert SEEN[rule.id] <= {s.value for s in rule.statuses}


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_is_documented_with_the_fixed_sections(rule):
    for section in ("What it checks:", "Why it matters:", "Evidence:", "Remedy:", "Exceptions:"):
        assert section in rule.doc, f"{rule.id} docstring lacks {section}"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_remedy_is_written_once_in_the_docstring_and_used_by_the_check(rule):
    module = importlib.import_module(rule.check.__module__)
    source = Path(module.__file__).read_text()
    keys = remedies(rule.doc)
    can_complain = bool(rule.statuses & {Status.FAIL, Status.WARN})
    assert bool(keys) == can_complain, f"{rule.id}: a rule that can fail or warn has remedies, others none"
    for key in keys:
        assert f'REMEDY["{key}"]' in source, f"{rule.id}: remedy {key!r} is written but never given"
    assert not re.search(r"remedy=\(?\s*f?\"", source), f"{rule.id}: a remedy written in code, not the docstring"


def test_thresholds_are_declared_by_the_rules_that_grade_with_them():
    assert len(THRESHOLDS) == sum(len(r.thresholds) for r in RULES), "a threshold name declared twice"
    for rule in RULES:
        source = Path(importlib.import_module(rule.check.__module__).__file__).read_text()
        assert "settings.thresholds" not in source, f"{rule.id}: read thresholds through their declaration"
        for threshold in rule.thresholds:
            assert threshold.name in rule.documentation


def test_rule_ids_and_names_are_unique_and_well_formed():
    assert len({r.id for r in RULES}) == len(RULES) == len({r.name for r in RULES})
    for rule in RULES:
        assert rule.id[:3] in ("CAP", "SIP", "SDP", "RTP", "CID") and rule.id[3:].isdigit()
        assert rule.name == rule.name.lower() and " " not in rule.name


def test_every_scenario_has_its_files_and_every_folder_a_scenario():
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == {s.name for s in sc.SCENARIOS}
    for scenario in sc.SCENARIOS:
        for name in ("capture.pcap", "scenario.md", "expected.pdml", "expected-verdicts.json"):
            assert (FIXTURES / scenario.name / name).is_file(), f"{scenario.name}/{name}"
        assert (FIXTURES / scenario.name / "capture.pcap").stat().st_size < 5 * 1024 * 1024


def test_rules_doc_is_generated_from_the_docstrings():
    assert (ROOT / "docs" / "rules.md").read_text() == rules_markdown(), "run `make docs`"


def test_the_readme_names_every_rule():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Rules\n", 1)[1].split("\n## ", 1)[0]
    missing = [f"{r.id} {r.name}" for r in RULES if f"`{r.id}` {r.name}" not in " ".join(section.split())]
    assert not missing, f"README's Rules section lacks {missing}"
