"""Compressed captures, decompressed by sipdiag itself within limits before tshark reads them.

tshark reads gzip (and, built with them, zstd and lz4) captures by itself, with
no bound on what they expand to: a few megabytes can expand to gigabytes and
hours of dissection. So a compressed capture, known by its first bytes whatever
its name, is decompressed here into the run's temporary folder, counting the
bytes as they come out (the gzip trailer's size field is never trusted), and
refused once it passes the limit; tshark then reads the plain copy and stops at
the packet limit (`-c`), and a capture stopped there is reported as truncated.
Plain captures are read as they are: their size is what it says.

Defaults: 2 GiB decompressed and 10 million packets. tshark keeps about 220
bytes of state per packet (bench: 294 MiB at 606,600 packets, 678 MiB at 2.4
million), so 10 million packets is about 2.3 GiB of memory and, at the bench's
85,000 packets/s, about two minutes; 2 GiB of ordinary VoIP packets (about 230
bytes each on disk) is about 9 million packets, so the two limits meet. Both
are set with --max-decompressed / --max-packets or SIPDIAG_MAX_DECOMPRESSED /
SIPDIAG_MAX_PACKETS; 0 means no limit.
"""

from __future__ import annotations

import os
import re
import subprocess
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .tshark import CaptureError, which
from .workers import child_setup

GIB = 1024**3
DEFAULT_MAX_DECOMPRESSED = 2 * GIB
DEFAULT_MAX_PACKETS = 10_000_000
ENV_MAX_DECOMPRESSED = "SIPDIAG_MAX_DECOMPRESSED"
ENV_MAX_PACKETS = "SIPDIAG_MAX_PACKETS"
PACKET_LIMIT_REACHED = "packet limit reached"  # how a read_error stopped by the packet limit begins
CHUNK = 1 << 20

# first bytes of the compressed formats tshark's file reader opens by itself
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4"}
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": GIB, "t": 1024**4}
_SIZE = re.compile(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    """What a compressed capture may expand to; 0 is no limit."""

    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED  # bytes
    max_packets: int = DEFAULT_MAX_PACKETS


def parse_size(text: str) -> int:
    """Bytes from '2G', '512MiB', '100k' or a plain number (binary units); ValueError when not a size."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 2G, 512M, 100k, or bytes)")
    return int(match[1]) * _UNITS[match[2].lower()]


def parse_count(text: str) -> int:
    """A packet count such as 10000000 or 10_000_000; ValueError when not one."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not cleaned.isdigit():
        raise ValueError(f"{text!r} is not a packet count")
    return int(cleaned)


def limits_from(max_decompressed: str | None, max_packets: str | None,
                environ: Mapping[str, str] = os.environ) -> Limits:
    """The command line's values, else the environment's, else the defaults; ValueError naming the culprit."""
    size_text = max_decompressed if max_decompressed is not None else environ.get(ENV_MAX_DECOMPRESSED)
    count_text = max_packets if max_packets is not None else environ.get(ENV_MAX_PACKETS)
    limits = Limits()
    try:
        size = parse_size(size_text) if size_text else limits.max_decompressed
    except ValueError as exc:
        where = "--max-decompressed" if max_decompressed is not None else ENV_MAX_DECOMPRESSED
        raise ValueError(f"{where}: {exc}") from None
    try:
        count = parse_count(count_text) if count_text else limits.max_packets
    except ValueError as exc:
        where = "--max-packets" if max_packets is not None else ENV_MAX_PACKETS
        raise ValueError(f"{where}: {exc}") from None
    return Limits(max_decompressed=size, max_packets=count)


def human_size(size: int) -> str:
    for unit, factor in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def compression_of(capture: Path) -> str | None:
    """gzip, zstd or lz4 when the file starts like one (its name does not matter), else None."""
    try:
        with open(capture, "rb") as f:
            head = f.read(4)
    except OSError:
        return None  # tshark's own message will say why
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


@dataclass(frozen=True)
class Readable:
    """What tshark is to read for a capture."""

    path: Path  # the capture itself, or its decompressed copy
    compression: str | None  # gzip, zstd, lz4, or None for a plain capture
    read_error: str | None = None  # the compressed data ended early or was damaged: what was read is analysed


class _Damaged(Exception):
    """The compressed data is damaged or cut short (what came out before is kept)."""


class _Input:
    """A file read in chunks, with what was read ahead kept for the next reader."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._buf = b""

    def take(self, n: int) -> bytes:
        while len(self._buf) < n and (more := self._f.read(CHUNK)):
            self._buf += more
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def take_string(self) -> None:
        """Skip a zero-terminated header field."""
        while (byte := self.take(1)) and byte != b"\0":
            pass

    def chunk(self) -> bytes:
        out, self._buf = (self._buf or self._f.read(CHUNK)), b""
        return out

    def give_back(self, data: bytes) -> None:
        self._buf = data + self._buf


def _gzip_header(inp: _Input, first: bool) -> bool:
    """Read one member's header (after any zero padding); False at the end of the file."""
    head = inp.take(1)
    while head == b"\0" and not first:
        head = inp.take(1)
    if not head:
        return False
    head += inp.take(9)
    if len(head) < 10 or head[:3] != b"\x1f\x8b\x08":
        raise _Damaged("not gzip data" if first else "unexpected data after the end of the compressed stream")
    flags = head[3]
    if flags & 4:  # FEXTRA
        extra = inp.take(2)
        inp.take(int.from_bytes(extra, "little") if len(extra) == 2 else 0)
    if flags & 8:  # FNAME
        inp.take_string()
    if flags & 16:  # FCOMMENT
        inp.take_string()
    if flags & 2:  # FHCRC
        inp.take(2)
    return True


def _gzip_chunks(capture: Path) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file (every member), at most CHUNK at a time.

    Raw deflate with the header and trailer read here, so that every byte that
    came out before damage, a cut or a trailer that does not match is kept."""
    with open(capture, "rb") as f:
        inp = _Input(f)
        first = True
        while _gzip_header(inp, first):
            first = False
            inflate = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
            crc = size = 0
            while not inflate.eof:
                data = inp.chunk()
                if not data:
                    raise _Damaged("it ends before its end marker (cut short)")
                while data:
                    try:
                        out = inflate.decompress(data, CHUNK)
                    except zlib.error as exc:
                        raise _Damaged(str(exc)) from None
                    if out:
                        crc, size = zlib.crc32(out, crc), size + len(out)
                        yield out
                    if inflate.eof:
                        inp.give_back(inflate.unused_data)
                        break
                    data = inflate.unconsumed_tail
            trailer = inp.take(8)
            if len(trailer) < 8:
                raise _Damaged("it ends inside its trailer (cut short)")
            if int.from_bytes(trailer[:4], "little") != crc:
                raise _Damaged("its CRC check failed")
            if int.from_bytes(trailer[4:], "little") != size & 0xFFFFFFFF:
                raise _Damaged("incorrect length check: its trailer does not give the length of its data")


def _tool_chunks(kind: str, capture: Path) -> Iterator[bytes]:
    """zstd and lz4 through their command-line tools (reading the file on standard input: no path argument)."""
    tool = which(kind)
    if tool is None:
        raise CaptureError(f"{capture}: compressed with {kind}, and the {kind} command is not installed to "
                           f"decompress it within limits; install it or decompress the capture first")
    with open(capture, "rb") as source:
        process = subprocess.Popen([tool, "-d", "-c", "-q"], stdin=source, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, preexec_fn=child_setup(os.getpid()))
    assert process.stdout is not None and process.stderr is not None
    try:
        while chunk := process.stdout.read(CHUNK):
            yield chunk
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.stderr.read().decode("utf-8", "replace").strip()
        process.stdout.close()
        process.stderr.close()
        code = process.wait()
    if code != 0:
        message = stderr.splitlines()[-1] if stderr else f"{kind} exited with status {code}"
        raise _Damaged(re.sub(r"^(?:\S*stdin\S*\s*:\s*)+", "", message.removeprefix(f"{kind}: ")))


def decompressed(capture: Path, workdir: Path, limits: Limits) -> Readable:
    """The capture as tshark should read it: as it is, or decompressed into workdir within the limits.

    Raises CaptureError when the data expands past the limit, or when nothing
    at all could be decompressed."""
    kind = compression_of(capture)
    if kind is None:
        return Readable(capture, None)
    target = workdir / "decompressed.cap"
    chunks = _gzip_chunks(capture) if kind == "gzip" else _tool_chunks(kind, capture)
    written = 0
    damage = None
    try:
        with open(target, "wb") as out:
            for chunk in chunks:
                written += len(chunk)
                if limits.max_decompressed and written > limits.max_decompressed:
                    raise CaptureError(
                        f"{capture}: decompresses to more than {human_size(limits.max_decompressed)}, the limit for "
                        f"compressed captures (--max-decompressed or {ENV_MAX_DECOMPRESSED}; 0 for none)")
                out.write(chunk)
    except _Damaged as exc:
        damage = str(exc)
    except OSError as exc:
        raise CaptureError(f"{capture}: cannot decompress into {workdir}: {exc.strerror or exc}") from None
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()  # stops a decompressing tool at once when the limit was passed
    if damage is not None:
        if written == 0:
            raise CaptureError(f"{capture}: damaged {kind} data: {damage}")
        return Readable(target, kind, f"{kind} data damaged after {written} decompressed bytes: {damage}")
    return Readable(target, kind)


def packet_limit_message(limits: Limits, total: int | None) -> str:
    of = f" of {total}" if total is not None else ""
    return (f"{PACKET_LIMIT_REACHED}: read the first {limits.max_packets} packets{of}, the limit for compressed "
            f"captures (--max-packets or {ENV_MAX_PACKETS}; 0 for none)")
