"""Rendering reports: pure functions from reports to text, one module per format."""

from __future__ import annotations

from .catalog import rule_doc, rules_json, rules_table
from .common import BatchSummary, summarise, summary_line
from .csvfmt import report_csv
from .html import HtmlOptions, report_html
from .jsonfmt import REPORT_SCHEMA, CallText, call_text, report_json
from .junit import report_junit
from .markdown import report_markdown
from .table import TableOptions, report_table

__all__ = [
    "REPORT_SCHEMA",
    "BatchSummary",
    "CallText",
    "HtmlOptions",
    "TableOptions",
    "call_text",
    "report_csv",
    "report_html",
    "report_json",
    "report_junit",
    "report_markdown",
    "report_table",
    "rule_doc",
    "rules_json",
    "rules_table",
    "summarise",
    "summary_line",
]
