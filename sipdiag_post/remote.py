"""Captures named by URL (s3://, gs://, file://, ...), read through fsspec where the analysis runs.

A URL is copied, in chunks, into the analysing process's temporary folder
(on a cluster: the worker's local disk) and tshark reads that copy, which is
removed with the rest of the run's files. The client that submits the work
only lists a folder URL; it never reads a capture. fsspec (and the package of
each protocol: s3fs for s3://, gcsfs for gs://) is optional: `pip install
'sipdiag[cluster]'` brings fsspec, and a URL whose protocol is not installed
is an unreadable capture with one line saying what to install.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from .tshark import CaptureError

CHUNK = 1 << 20
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
NEEDS_FSSPEC = "captures named by URL need fsspec: pip install 'sipdiag[cluster]'"


def is_url(text: str) -> bool:
    """Whether a capture argument names an object by URL (scheme://...) rather than a local path."""
    return bool(_URL.match(text))


def _filesystem(url: str) -> tuple[Any, str]:
    """fsspec's filesystem for url and the path inside it; CaptureError when it cannot be had."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise CaptureError(f"{url}: {NEEDS_FSSPEC}") from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:  # a protocol whose package is missing, or unknown to fsspec
        raise CaptureError(f"{url}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def expand_url(url: str, suffixes: tuple[str, ...]) -> list[str]:
    """A folder URL replaced by the captures under it (sorted, as URLs); any other URL as it is.

    What cannot be listed stays as given, to be reported when it is read."""
    try:
        fs, path = _filesystem(url)
        if not (url.endswith("/") or fs.isdir(path)):
            return [url]
        found = sorted(p for p in fs.find(path) if p.lower().endswith(suffixes))
    except (CaptureError, OSError, ValueError):
        return [url]
    return [fs.unstrip_protocol(p) for p in found] or [url]


def fetch(url: str, folder: Path) -> Path:
    """The object at url copied into folder, streamed in chunks; CaptureError with one line when it cannot be read."""
    fs, path = _filesystem(url)
    name = _SAFE.sub("_", url.rstrip("/").rsplit("/", 1)[-1])[-100:] or "capture"
    target = folder / f"remote-{name}"
    try:
        if fs.isdir(path):
            raise CaptureError(f"{url}: no captures (*.pcap, *.pcapng, *.cap) under this URL")
        with fs.open(path, "rb") as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
    except FileNotFoundError:
        raise CaptureError(f"{url}: no such file or object") from None
    except PermissionError:
        raise CaptureError(f"{url}: permission denied") from None
    except (OSError, ValueError) as exc:
        raise CaptureError(f"{url}: cannot read: {_one_line(exc)}") from None
    return target
