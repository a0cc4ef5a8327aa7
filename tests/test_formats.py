"""Every output format over every fixture, read back with a standard parser."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace

import pytest
import scenarios as sc
from lxml import etree

from sipdiag_post import render
from sipdiag_post.render.csvfmt import COLUMNS
from sipdiag_post.report import CallReport, CaptureReport
from sipdiag_post.rules import CALL_RULES, CAPTURE_RULES
from sipdiag_post.verdict import Check, Evidence, Status, Verdict
from tests.contract import check_report

NAMES = [s.name for s in sc.SCENARIOS]


def _checks(report: CaptureReport) -> list[Check]:
    return list(report.all_checks())


@pytest.mark.parametrize("name", NAMES)
def test_json_parses_and_keeps_the_contract(fixture_runs, name):
    check_report(json.loads(render.report_json([fixture_runs[name].report])))


def test_json_with_calls_formatted_ahead_is_the_same_document(fixture_runs):
    """analyze --format json formats each call as it is judged, while tshark reads: the document is the same."""
    one = [fixture_runs["concurrent-calls"].report]
    batch = [*one, fixture_runs["486-busy-inbound"].report]
    ahead = {id(c): render.call_text(c) for r in batch for c in r.calls}
    assert render.report_json(one, formatted=ahead) == render.report_json(one)
    assert render.report_json(batch, with_summary=True, formatted=ahead) == render.report_json(batch, with_summary=True)
    # a text formatted for another place in a document is formatted again there
    elsewhere = {key: replace(text, level=text.level + 1) for key, text in ahead.items()}
    assert render.report_json(one, formatted=elsewhere) == render.report_json(one)


@pytest.mark.parametrize("name", NAMES)
def test_csv_has_one_row_per_check(fixture_runs, name):
    report = fixture_runs[name].report
    rows = list(csv.DictReader(io.StringIO(render.report_csv([report]))))
    assert rows and tuple(rows[0]) == COLUMNS
    assert len(rows) == len(_checks(report))
    assert [r["status"] for r in rows] == [c.status.value for c in _checks(report)]
    assert {r["call_id"] for r in rows} - {""} == {c.call_id for c in report.calls}


@pytest.mark.parametrize("name", NAMES)
def test_junit_is_valid_xml_with_one_testcase_per_call_and_rule(fixture_runs, name):
    report = fixture_runs[name].report
    root = etree.fromstring(render.report_junit([report]).encode())
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(CAPTURE_RULES) + (len(CALL_RULES) + 1) * len(report.calls)  # + each verdict
    verdicts = [c for c in cases if c.get("name").startswith("VERDICT ")]
    assert [v.get("classname") for v in verdicts] == [c.call_id for c in report.calls]
    fails = sum(c.status is Status.FAIL for c in _checks(report)) + sum(
        c.verdict.status is Status.FAIL for c in report.calls)
    assert len(suite.findall("testcase/failure")) == fails == int(suite.get("failures"))
    assert len(suite.findall("testcase/skipped")) == sum(c.status is Status.NA for c in _checks(report))
    warns = [c for c in cases if (c.findtext("system-out") or "").startswith("WARN:")]
    assert len(warns) == sum(c.status is Status.WARN for c in _checks(report)) + sum(
        c.verdict.status is Status.WARN for c in report.calls)
    assert root.get("tests") == suite.get("tests") == str(len(cases))


@pytest.mark.parametrize("name", NAMES)
def test_markdown_has_a_table_per_call(fixture_runs, name):
    report = fixture_runs[name].report
    text = render.report_markdown([report])
    assert text.count("| status | id | check | finding |") == 1 + len(report.calls)
    assert text.count("### Call ") == len(report.calls)


def _hostile_report() -> CaptureReport:
    evil = '=HYPERLINK("http://x")|`*_[x]<script>\x1b[31m\x00&"'
    check = Check(id="SIP005", name="busy-here", status=Status.FAIL, summary=evil,
                  evidence=(Evidence("Server", evil),), frames=(3,), display_filter=f'sip.Server == "{evil}"',
                  remedy="-2+3")
    call = CallReport(call_id=evil, direction="unknown", from_=evil, to="@SUM(A1)", first_frame=1, final_status=486,
                      start=0.0, duration=1.0, checks=(check,), verdict=Verdict(Status.FAIL, "SIP005", evil))
    broken = CaptureReport(path="bad.pcap", status="error", error=evil)
    return CaptureReport(path="x.pcap", status="ok", error=None, calls=(call,)), broken


def test_hostile_text_is_neutralised_in_every_format():
    reports = list(_hostile_report())
    rows = list(csv.reader(io.StringIO(render.report_csv(reports))))[1:]
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "'-2+3" in cells and "'@SUM(A1)" in cells
    root = etree.fromstring(render.report_junit(reports).encode())  # well-formed despite \x00 and \x1b
    assert root.find("testsuite/testcase/error") is not None
    markdown = render.report_markdown(reports)
    # outside code spans (whose content Markdown shows as it is) no markup survives
    prose = re.sub(r"(`+) .*? \1", "", markdown)
    assert "<script>" not in prose and "\x1b" not in markdown and "\\|" in markdown
    assert "`` sip.Server == " in markdown  # the filter as a code span, fenced past its backticks
    table = render.report_table(reports, render.TableOptions(verbose=True))
    assert "\x1b" not in table and "\x00" not in table


def test_colour_only_when_asked():
    report = _hostile_report()[0]
    assert "\x1b[1;31mFAIL" in render.report_table([report], render.TableOptions(colour=True))
    assert "\x1b[" not in render.report_table([report], render.TableOptions())


def test_table_folds_passing_rows_unless_all(fixture_runs):
    report = fixture_runs["486-busy-inbound"].report
    folded = render.report_table([report])
    assert "SIP005" in folded and "SIP001" not in folded and "passed" in folded
    assert "SIP001" in render.report_table([report], render.TableOptions(show_all=True))
    assert "remedy:" not in folded
    assert "remedy: No agent joined" in render.report_table([report], render.TableOptions(verbose=True))


def test_batch_summary_counts_captures_calls_and_fails(fixture_runs):
    reports = [fixture_runs[n].report for n in ("486-busy-inbound", "media-loss", "healthy-call")]
    line = render.summary_line(render.summarise(reports))
    assert line.startswith("3 capture(s) (3 ok), 3 call(s); failed: ")
    assert "SIP005 x1" in line and "RTP003 x1" in line
    document = json.loads(render.report_json(reports, with_summary=True))
    assert document["summary"]["fails_by_rule"]["SIP005"] == 1
