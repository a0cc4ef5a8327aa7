"""Where the formats that scale go: JSON lines and Parquet, a capture at a time, as its report is ready.

`--format jsonl` without `-o` writes each call's line to standard output as
soon as the call is judged, while tshark still reads the capture (on_call;
the capture analysed in this process), else each capture's lines as soon as
the capture is done; then the capture's line, and a summary line last. With `-o DIR` (and
always for `--format parquet`) each capture gets files of its own in DIR,
written whole or not at all (sipdiag_post/output.py), named after the
capture's path below the folder all inputs share: `a/b/x.pcap` and
`a/c/x.pcap` become `b__x.pcap.jsonl` and `c__x.pcap.jsonl`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .output import OutputError, encoded, shown_name, write_file, write_stdout
from .render.jsonl import call_line, capture_line, capture_lines, summary_line
from .render.parquet import report_parquet
from .report import CallReport, CaptureReport

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]")


def shown(report: CaptureReport) -> CaptureReport:
    """A report whose path and error show bytes that are not UTF-8 as \\xNN (sipdiag_post/output.py)."""
    return replace(report, path=shown_name(report.path), error=shown_name(report.error) if report.error else None)


def file_stems(paths: Sequence[str]) -> dict[str, str]:
    """A file name (without suffix) for each capture path: its path below the folder all share, parts joined
    by '__', unsafe characters as '_'; a name that would repeat gets a short hash of the path."""
    parts = {path: [p for p in shown_name(path).split("/") if p] or ["capture"] for path in paths}
    folders = [p[:-1] for p in parts.values()]
    common = 0
    while folders and all(len(f) > common and f[common] == folders[0][common] for f in folders):
        common += 1
    stems = {path: _UNSAFE.sub("_", "__".join(p[common:]))[-150:].lstrip(".") or "capture"
             for path, p in parts.items()}
    seen: dict[str, int] = {}
    for stem in stems.values():
        seen[stem] = seen.get(stem, 0) + 1
    return {path: stem if seen[stem] == 1 else
            f"{stem}-{hashlib.sha1(path.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
            for path, stem in stems.items()}


@dataclass
class Sink:
    """Receives each capture's report when it is done (add), then all of them (finish)."""

    fmt: str  # jsonl or parquet
    folder: Path | None  # None: JSON lines on standard output
    stems: dict[str, str] = field(default_factory=dict)
    streamed: set[str] = field(default_factory=set)  # captures whose call lines went out one by one

    @classmethod
    def open(cls, fmt: str, folder: Path | None, paths: Sequence[str]) -> Sink:
        """A sink for these captures; the folder is made when missing. OutputError when it cannot be."""
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise OutputError(f"{folder}: cannot write: not a directory (-o names a folder for {fmt})") from None
            except OSError as exc:
                raise OutputError(f"{folder}: cannot write: {exc.strerror or exc}") from None
        return cls(fmt, folder, file_stems(paths))

    @property
    def streams_calls(self) -> bool:
        """Whether call lines can go out one by one (JSON lines on standard output)."""
        return self.folder is None and self.fmt == "jsonl"

    def on_call(self, path: str) -> Callable[[CallReport, float | None], None]:
        """What writes a capture's call lines one by one as they are judged (given the capture's start
        time); the capture's line then comes alone (add)."""
        self.streamed.add(path)
        shown_path = shown_name(path)

        def write(call: CallReport, start_epoch: float | None) -> None:
            capture = CaptureReport(path=shown_path, status="ok", error=None, start_epoch=start_epoch)
            write_stdout(encoded(call_line(capture, call), json=True))

        return write

    def add(self, report: CaptureReport) -> None:
        stem = self.stems.get(report.path) or file_stems([report.path])[report.path]
        streamed = report.path in self.streamed
        report = shown(report)
        if self.folder is None:
            write_stdout(encoded(capture_line(report) if streamed else capture_lines(report), json=True))
        elif self.fmt == "jsonl":
            write_file(self.folder / f"{stem}.jsonl", encoded(capture_lines(report) + summary_line([report]),
                                                              json=True))
        else:
            for table, data in report_parquet(report).items():
                write_file(self.folder / f"{stem}.{table}.parquet", data)

    def finish(self, reports: Sequence[CaptureReport]) -> None:
        if self.folder is None:
            write_stdout(encoded(summary_line([shown(r) for r in reports]), json=True))
