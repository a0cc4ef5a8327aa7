"""--format parquet: a capture's report as three Parquet tables (pyarrow, an optional extra).

    NAME.calls.parquet     one row per call: the call line of --format jsonl, its verdict flattened
    NAME.checks.parquet    one row per check: capture-level checks with call_id null
    NAME.capture.parquet   one row: the capture's status, error, start time and number of calls

Rows are built from the JSON-lines records (render/jsonl.py), so the columns
are the JSON keys (`from`, `to`, `verdict_status` for verdict.status, ...).
Read a folder of them with DuckDB (`read_parquet('out/*.calls.parquet')`) or
pandas (`pd.read_parquet(...)`).
"""

from __future__ import annotations

from typing import Any

from ..report import CaptureReport
from .jsonfmt import check_json
from .jsonl import call_record, capture_record, start_time

NEEDS_PYARROW = "--format parquet needs pyarrow: pip install 'sipdiag[parquet]'"


class ParquetUnavailable(Exception):
    """pyarrow is not installed."""


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ParquetUnavailable(NEEDS_PYARROW) from None
    return pa, pq


def _schemas(pa: Any) -> dict[str, Any]:
    text, count, stamp = pa.string(), pa.int64(), pa.timestamp("ms", tz="UTC")
    return {
        "calls": pa.schema([
            ("capture", text), ("call_id", text), ("direction", text), ("from", text), ("to", text),
            ("first_frame", count), ("final_status", count), ("start_time", stamp), ("duration_s", pa.float64()),
            ("verdict_status", text), ("verdict_rule", text), ("verdict_summary", text),
            ("fails", count), ("warns", count)]),
        "checks": pa.schema([
            ("capture", text), ("call_id", text), ("id", text), ("name", text), ("status", text),
            ("summary", text), ("explained_by", text), ("frames", pa.list_(count)),
            ("display_filter", text), ("remedy", text),
            ("evidence", pa.list_(pa.struct([("label", text), ("value", text)])))]),
        "capture": pa.schema([
            ("capture", text), ("status", text), ("error", text), ("start_time", stamp), ("calls", count),
            ("fails", count), ("warns", count)]),
    }


def _counts(statuses: list[str]) -> dict[str, int]:
    return {"fails": statuses.count("fail"), "warns": statuses.count("warn")}


def tables(capture: CaptureReport) -> dict[str, list[dict[str, object]]]:
    """The rows of each table, as plain dicts (what the Parquet files hold)."""
    calls, checks = [], []
    for call in capture.calls:
        record = call_record(capture, call)
        verdict = record.pop("verdict")
        assert isinstance(verdict, dict)
        call_checks = record.pop("checks")
        assert isinstance(call_checks, list)
        record.pop("type")
        record.update({f"verdict_{key}": value for key, value in verdict.items()},
                      start_time=start_time(capture.start_epoch, call.start),
                      **_counts([c["status"] for c in call_checks]))
        calls.append(record)
        checks += [{"capture": capture.path, "call_id": call.call_id, "explained_by": None, **c} for c in call_checks]
    checks[:0] = [{"capture": capture.path, "call_id": None, "explained_by": None, **check_json(c)}
                  for c in capture.capture_checks]
    summary = capture_record(capture)
    row = {"capture": capture.path, "status": summary["status"], "error": summary["error"],
           "start_time": start_time(capture.start_epoch), "calls": len(capture.calls),
           **_counts([c.status.value for c in capture.all_checks()])}
    return {"calls": calls, "checks": checks, "capture": [row]}


def report_parquet(capture: CaptureReport) -> dict[str, bytes]:
    """A capture's tables as Parquet files' bytes, by table name (calls, checks, capture)."""
    pa, pq = _pyarrow()
    schemas = _schemas(pa)
    out = {}
    for name, rows in tables(capture).items():
        table = pa.Table.from_pylist(rows, schema=schemas[name])
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        out[name] = sink.getvalue().to_pybytes()
    return out
