"""`sipdiag watch --follow DIR`: a dumpcap ring buffer's files fed to tshark's standard input as one stream.

dumpcap `-w DIR/name.pcapng -b files:N -b duration:S` writes name_00001_20261201113000.pcapng,
name_00002_..., deleting the oldest beyond N. The files are taken in the order of their ring number
(the name's order otherwise) and their records written, whole, into tshark's standard input
(`tshark -r -`), so a call that spans two files is one call and frame numbers go on across files:

- pcapng: each file is a section of its own (a Section Header Block, its interfaces), and tshark
  reads a stream of sections, each with its own interfaces and link types: the files are joined as
  they are.
- pcap: the first file's 24-byte header opens the stream and every later file's is dropped; a later
  file whose header differs (byte order or time resolution, snapshot length, link type) cannot be
  joined and ends the follow with an error. pcap and pcapng files cannot be joined either.

The newest file is read as it grows: only whole records (pcap) or blocks (pcapng) are written, the
rest waits for the bytes still to come. A file is over once a newer one exists (dumpcap closes the
old file before it opens the next): it is read to its end, a partial record at its end (dumpcap
killed mid-write) dropped with a warning, and the next file begins. A file opened stays readable
when dumpcap deletes it; files deleted before they were opened are counted by the gap in the ring
numbers and skipped with a warning.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .tshark import CaptureError

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
# dumpcap's ring buffer names: PREFIX_NNNNN_YYYYMMDDHHMMSS[.ext]
_RING = re.compile(r"^(?P<prefix>.*)_(?P<number>\d{5,})_(?P<stamp>\d{14})(?P<suffix>\.[A-Za-z0-9]+)?$")

PCAP_HEADER = 24
PCAP_RECORD_HEADER = 16
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = 0x1A2B3C4D
PCAPNG_PACKET_BLOCKS = (2, 3, 6)  # Packet (obsolete), Simple Packet, Enhanced Packet
MAX_RECORD = 256 * 1024 * 1024  # a record longer than this is a damaged file, not one to wait for
_PCAP_MAGICS = {
    bytes.fromhex("d4c3b2a1"): "<", bytes.fromhex("a1b2c3d4"): ">",  # microseconds
    bytes.fromhex("4d3cb2a1"): "<", bytes.fromhex("a1b23c4d"): ">",  # nanoseconds
}
READ_CHUNK = 1024 * 1024
POLL_S = 0.2


class FollowError(CaptureError):
    """The folder cannot be followed, or a file in it cannot be joined to the stream (exit code 3)."""


class Kind(StrEnum):
    PCAP = "pcap"
    PCAPNG = "pcapng"


# --- the folder ------------------------------------------------------------------------------------------


def is_capture_name(name: str) -> bool:
    """A capture file's name: a capture suffix, or dumpcap's ring buffer name; never a hidden file."""
    return not name.startswith(".") and (name.lower().endswith(CAPTURE_SUFFIXES) or _RING.match(name) is not None)


def order_key(name: str) -> str:
    """The order files are read in: the name, its ring number zero-padded (00099 before 100000)."""
    ring = _RING.match(name)
    if ring is None:
        return name
    return f"{ring['prefix']}_{int(ring['number']):012d}_{ring['stamp']}{ring['suffix'] or ''}"


def ring_number(name: str) -> tuple[str, int] | None:
    """A ring buffer file's prefix and number."""
    ring = _RING.match(name)
    return (ring["prefix"], int(ring["number"])) if ring else None


def missed_between(previous: str | None, following: str) -> int:
    """How many files of the same ring buffer were numbered between two files (deleted unread)."""
    if previous is None:
        return 0
    before, after = ring_number(previous), ring_number(following)
    if before is None or after is None or before[0] != after[0]:
        return 0
    return max(0, after[1] - before[1] - 1)


def capture_files(folder: Path) -> list[str]:
    """The capture files' names in the folder, in reading order; FollowError when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if is_capture_name(e.name) and e.is_file()]
    except FileNotFoundError:
        raise FollowError(f"{folder}: no such folder") from None
    except NotADirectoryError:
        raise FollowError(f"{folder}: not a folder (--follow takes the folder dumpcap -b writes in)") from None
    except OSError as exc:
        raise FollowError(f"{folder}: cannot read: {exc.strerror or exc}") from None
    return sorted(names, key=order_key)


def check_folder(folder: Path) -> list[str]:
    """The folder's capture files; FollowError when there is none."""
    names = capture_files(folder)
    if not names:
        raise FollowError(f"{folder}: no capture file (*.pcap, *.pcapng or dumpcap's NAME_NNNNN_YYYYMMDDHHMMSS) "
                          "in it; start dumpcap -b first")
    return names


# --- records -------------------------------------------------------------------------------------------


def kind_of(head: bytes) -> Kind | None:
    """pcap or pcapng from a file's first 4 bytes; None for anything else."""
    if head[:4] in _PCAP_MAGICS:
        return Kind.PCAP
    if len(head) >= 4 and struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
        return Kind.PCAPNG
    return None


@dataclass(frozen=True)
class PcapHeader:
    magic: bytes  # byte order and time resolution
    snaplen: int
    link_type: int  # with the FCS bits above the link type

    @property
    def order(self) -> str:
        return _PCAP_MAGICS[self.magic]


def pcap_header(head: bytes) -> PcapHeader:
    """A pcap file's global header (24 bytes)."""
    order = _PCAP_MAGICS[head[:4]]
    snaplen, link_type = struct.unpack(f"{order}II", head[16:24])
    return PcapHeader(magic=head[:4], snaplen=snaplen, link_type=link_type)


def header_difference(first: PcapHeader, later: PcapHeader) -> str | None:
    """Why a later pcap file's records cannot follow the first file's header; None when they can."""
    if later.magic != first.magic:
        return f"its byte order or time resolution (magic {later.magic.hex()}) differs from the first file's " \
               f"({first.magic.hex()})"
    if later.link_type != first.link_type:
        return f"its link type {later.link_type} differs from the first file's ({first.link_type})"
    if later.snaplen != first.snaplen:
        return f"its snapshot length {later.snaplen} differs from the first file's ({first.snaplen})"
    return None


def whole_pcap_records(data: bytes | bytearray, order: str) -> int:
    """How many bytes at the start of data are whole pcap records; ValueError for an impossible length."""
    end = 0
    while len(data) - end >= PCAP_RECORD_HEADER:
        (length,) = struct.unpack_from(f"{order}I", data, end + 8)
        if length > MAX_RECORD:
            raise ValueError(f"a record of {length} bytes")
        if len(data) - end < PCAP_RECORD_HEADER + length:
            break
        end += PCAP_RECORD_HEADER + length
    return end


def whole_pcapng_blocks(data: bytes | bytearray, order: str) -> tuple[int, str, int]:
    """How many bytes at the start of data are whole pcapng blocks, the byte order after them (each
    Section Header Block sets it) and how many of them are packets; ValueError for an impossible block."""
    end = packets = 0
    while len(data) - end >= 12:
        if struct.unpack_from("<I", data, end)[0] == PCAPNG_SHB:  # the same both ways round
            magic = data[end + 8:end + 12]
            if struct.unpack("<I", magic)[0] == PCAPNG_BYTE_ORDER:
                order = "<"
            elif struct.unpack(">I", magic)[0] == PCAPNG_BYTE_ORDER:
                order = ">"
            else:
                raise ValueError("a section header without its byte-order magic")
        (length,) = struct.unpack_from(f"{order}I", data, end + 4)
        if length < 12 or length % 4 or length > MAX_RECORD:
            raise ValueError(f"a block of {length} bytes")
        if len(data) - end < length:
            break
        packets += struct.unpack_from(f"{order}I", data, end)[0] in PCAPNG_PACKET_BLOCKS
        end += length
    return end, order, packets


def _count_pcap_records(data: bytes | bytearray, order: str) -> int:
    count = at = 0
    while at < len(data):
        at += PCAP_RECORD_HEADER + struct.unpack_from(f"{order}I", data, at + 8)[0]
        count += 1
    return count


# --- one file, as it grows -----------------------------------------------------------------------------


class CaptureFile:
    """One capture file read as it grows: `read` gives the whole records that came since, ready to be
    joined to the stream (a later pcap file's header dropped once it is checked)."""

    def __init__(self, name: str, handle: object, first: PcapHeader | Kind | None) -> None:
        self.name = name
        self._handle = handle
        self._first = first  # the stream's first file: its pcap header, or pcapng; None for the first file
        self._pending = bytearray()  # read, not yet whole
        self._begun = False  # the file's header is read (and checked)
        self.kind: Kind | None = None
        self.header: PcapHeader | None = None
        self._order = "<"
        self.exhausted = False  # the last read found no new byte
        self.packets = 0  # packet records given so far

    def read(self) -> bytes:
        """The whole records that came since the last read; FollowError when the file cannot be joined."""
        chunk = self._handle.read(READ_CHUNK)  # type: ignore[attr-defined]
        self.exhausted = not chunk
        self._pending += chunk
        out = bytearray()
        if not self._begun:
            out += self._begin()
            if not self._begun:
                return bytes(out)
        try:
            if self.kind is Kind.PCAP:
                end = whole_pcap_records(self._pending, self._order)
                self.packets += _count_pcap_records(self._pending[:end], self._order)
            else:
                end, self._order, packets = whole_pcapng_blocks(self._pending, self._order)
                self.packets += packets
        except ValueError as exc:
            raise FollowError(f"{self.name}: damaged ({exc})") from None
        out += self._pending[:end]
        del self._pending[:end]
        return bytes(out)

    @property
    def leftover(self) -> int:
        """Bytes read that are not a whole record yet."""
        return len(self._pending)

    def _begin(self) -> bytes:
        if len(self._pending) < 4:
            return b""
        kind = kind_of(bytes(self._pending[:4]))
        if kind is None:
            raise FollowError(f"{self.name}: not a pcap or pcapng file")
        first_kind = self._first if isinstance(self._first, Kind) else Kind.PCAP if self._first else None
        if first_kind is not None and kind is not first_kind:
            raise FollowError(f"{self.name}: a {kind} file after {first_kind} files; they cannot be joined")
        self.kind = kind
        if kind is Kind.PCAPNG:
            self._begun = True
            return b""
        if len(self._pending) < PCAP_HEADER:
            return b""
        self.header = pcap_header(bytes(self._pending[:PCAP_HEADER]))
        self._order = self.header.order
        self._begun = True
        if isinstance(self._first, PcapHeader):
            why = header_difference(self._first, self.header)
            if why is not None:
                raise FollowError(f"{self.name}: cannot follow the files before it: {why}")
            del self._pending[:PCAP_HEADER]
            return b""
        out = bytes(self._pending[:PCAP_HEADER])
        del self._pending[:PCAP_HEADER]
        return out

    def close(self) -> None:
        self._handle.close()  # type: ignore[attr-defined]


# --- the feeder ----------------------------------------------------------------------------------------


@dataclass
class FollowState:
    """What the feeder has done: the files read, skipped and cut short, and why it ended."""

    files: int = 0  # files begun
    written: int = 0  # bytes written to tshark
    skipped: int = 0  # deleted before they could be read
    dropped_bytes: int = 0  # partial records at the end of files that were over
    error: str | None = None  # a file that cannot be joined: the follow ended there
    idle: bool = False  # ended by --idle-exit
    warnings: list[str] = field(default_factory=list)


def write_all(fd: int, data: bytes) -> None:
    """All of data into fd (a pipe's write can be cut short by a signal)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Feeder:
    """Writes the folder's capture files, oldest first (or from the newest), into fd, tailing the newest.

    `pump` does one pass (what is there now); `run` pumps until stopped, the idle time runs out, or a file
    cannot be joined, then closes fd so tshark reads the end of the stream. warn gets each warning line as
    it happens; on_end is called once the feeding stops by itself (idle, error)."""

    def __init__(self, folder: Path, fd: int, *, from_newest: bool = False, idle_exit_s: float | None = None,
                 warn: Callable[[str], None] = lambda line: None, on_end: Callable[[], None] = lambda: None,
                 poll_s: float = POLL_S) -> None:
        self._folder, self._fd = folder, fd
        self._from_newest, self._idle_exit_s, self._poll_s = from_newest, idle_exit_s, poll_s
        self._warn, self._on_end = warn, on_end
        self._stop = threading.Event()
        self._current: CaptureFile | None = None
        self._last_name: str | None = None  # the file begun last
        self._first: PcapHeader | Kind | None = None
        self.state = FollowState()
        self._thread = threading.Thread(target=self.run, name="sipdiag-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop at the next record boundary (the data read so far is written first)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        last_data = time.monotonic()
        ended_by_itself = False
        try:
            while not self._stop.is_set():
                if self.pump():
                    last_data = time.monotonic()
                elif self._idle_exit_s is not None and time.monotonic() - last_data >= self._idle_exit_s:
                    self.state.idle = ended_by_itself = True
                    break
                else:
                    self._stop.wait(self._poll_s)
        except FollowError as exc:
            self.state.error = str(exc)
            ended_by_itself = True
        except (BrokenPipeError, OSError):  # tshark is gone (killed by a second signal, or failed)
            pass
        finally:
            if self._current is not None:
                self._current.close()
            with contextlib.suppress(OSError):
                os.close(self._fd)
        if ended_by_itself:
            self._on_end()

    def pump(self) -> bool:
        """One pass: the whole records there are now written; the next file begun when the current one is
        over. Whether a packet was written (a new file's headers alone are no news for --idle-exit)."""
        moved = False
        while not self._stop.is_set():
            if self._current is None and not self._open_next():
                return moved
            assert self._current is not None
            before = self._current.packets
            data = self._current.read()
            if data:
                self._write(data)
                moved = moved or self._current.packets > before
                continue
            if not self._newer_exists():
                return moved
            before = self._current.packets
            data = self._drain(self._current)  # a newer file exists: this one is complete
            if data:
                self._write(data)
                moved = moved or self._current.packets > before
            self._finish_current()
        return moved

    def _write(self, data: bytes) -> None:
        write_all(self._fd, data)
        self.state.written += len(data)

    def _drain(self, current: CaptureFile) -> bytes:
        out = bytearray()
        while True:
            out += current.read()
            if current.exhausted:
                return bytes(out)

    def _finish_current(self) -> None:
        assert self._current is not None
        if self._first is None:  # the first file that began the stream sets what the others must match
            self._first = self._current.header or self._current.kind
        if self._current.leftover:
            self.state.dropped_bytes += self._current.leftover
            self._say(f"{self._current.name} ends in the middle of a record: its last {self._current.leftover} "
                      "byte(s) dropped")
        self._current.close()
        self._current = None

    def _newer_exists(self) -> bool:
        assert self._last_name is not None
        key = order_key(self._last_name)
        return any(order_key(name) > key for name in capture_files(self._folder))

    def _open_next(self) -> bool:
        """Begin the next file after the last one begun; False when there is none yet."""
        names = capture_files(self._folder)
        if self._last_name is None and self._from_newest and names:
            names = names[-1:]
        key = order_key(self._last_name) if self._last_name is not None else None
        skipped = 0
        for name in (n for n in names if key is None or order_key(n) > key):
            skipped += missed_between(self._last_name, name)
            self._last_name = name
            try:
                handle = open(self._folder / name, "rb")  # noqa: SIM115 - kept open while the file grows
            except FileNotFoundError:  # deleted between the listing and now
                skipped += 1
                continue
            except OSError as exc:
                raise FollowError(f"{self._folder / name}: cannot read: {exc.strerror or exc}") from None
            self._skipped(skipped, name)
            self._current = CaptureFile(str(self._folder / name), handle, self._first)
            self.state.files += 1
            return True
        self._skipped(skipped, None)
        return False

    def _skipped(self, count: int, before: str | None) -> None:
        if not count:
            return
        self.state.skipped += count
        where = f" before {self._folder / before}" if before else f" in {self._folder}"
        self._say(f"skipped {count} capture file(s){where}: the ring buffer deleted them before they were read")

    def _say(self, line: str) -> None:
        self.state.warnings.append(line)
        self._warn(line)
