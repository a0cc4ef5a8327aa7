"""docs/scaling.md's queries run on JSON lines and Parquet written by sipdiag, and give the columns it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sipdiag_post.sink import Sink

duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "scaling.md").read_text()
QUERIES = re.findall(r"```sql\n(.*?)```\n\n```\n(.*?)```", DOC, re.S)


def test_the_page_has_three_queries_with_their_output():
    assert len(QUERIES) == 3


@pytest.fixture(scope="module")
def results(fixture_runs, tmp_path_factory) -> Path:
    """The fixtures' reports as sipdiag writes them with -f jsonl -o results/jsonl and -f parquet -o ..."""
    base = tmp_path_factory.mktemp("scaling")
    reports = [run.report for run in fixture_runs.values()]
    for fmt in ("jsonl", "parquet"):
        sink = Sink.open(fmt, base / "results" / fmt, [r.path for r in reports])
        for report in reports:
            sink.add(report)
        sink.finish(reports)
    return base


@pytest.mark.parametrize(("query", "shown"), QUERIES, ids=["fails-per-trunk", "worst-media", "calls-per-hour"])
def test_each_query_runs_and_gives_the_columns_shown(results, monkeypatch, query, shown):
    monkeypatch.chdir(results)
    relation = duckdb.sql(query)
    header = [cell.strip() for cell in shown.splitlines()[1].strip("│").split("│")]
    assert relation.columns == header
    rows = relation.fetchall()
    assert rows and all(any(value is not None for value in row) for row in rows)
