"""The rule catalog as a table, as JSON, and one rule's documentation."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tabulate import tabulate

from ..rules.base import Rule


def rules_table(rules: Sequence[Rule]) -> str:
    rows = [[r.id, r.name, r.scope, r.title] for r in rules]
    return tabulate(rows, headers=["id", "name", "scope", "what it finds"], tablefmt="simple") + "\n"


def rules_json(rules: Sequence[Rule]) -> str:
    data = [{"id": r.id, "name": r.name, "scope": r.scope, "title": r.title, "aliases": list(r.aliases),
             "statuses": sorted(s.value for s in r.statuses), "doc": r.documentation} for r in rules]
    return json.dumps(data, indent=2) + "\n"


def rule_doc(rule: Rule) -> str:
    return f"{rule.id} {rule.name} ({rule.scope})\n\n{rule.documentation}\n"
