"""Writing what sipdiag produces: all of it or nothing, and file names that are not UTF-8 shown, not fatal.

File names are bytes. Python carries the bytes of a name that is not valid
UTF-8 as lone surrogates (os.fsdecode's surrogateescape), so a report keeps
every capture's name exactly; when it is rendered, each such byte is shown as
the text `\\xNN` (so JSON, XML and HTML stay valid UTF-8). A name that really
contains a backslash followed by xNN reads the same: the rendered name is for
people, the report's path for programs.

A report is rendered completely before its file is touched, and written
atomically: a temporary file in the same folder, renamed over the destination.
A symbolic link at the destination is replaced, never written through, except
where writing through is the point: a character device or a pipe (/dev/null,
/dev/stdout, a named pipe), or a path under /dev or /proc, which is written in
place. A failed write (a full disk, /dev/full) is one line, exit code 2, and
leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

_SURROGATE = re.compile("[\ud800-\udfff]")
_IN_PLACE_PREFIXES = ("/dev/", "/proc/")  # /dev/stdout, /dev/fd/N, /proc/self/fd/N name what is open already
COPY_CHUNK = 1 << 20


class OutputError(Exception):
    """An output path the user gave cannot be written (exit code 2)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def shown_name(text: str) -> str:
    """A file name (or a message quoting one) as text: each byte that is not UTF-8 shown as `\\xNN`."""
    return _SURROGATE.sub(_escape, text)


def encoded(text: str, *, json: bool = False) -> bytes:
    """Rendered output as UTF-8. Any byte of a name left undecoded becomes `\\xNN` text; inside JSON
    (where such characters can only be in strings) as `\\\\xNN`, so that the string reads `\\xNN`."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub((lambda m: "\\" + _escape(m)) if json else _escape, text)
    return text.encode("utf-8")


def _failed(where: str, exc: OSError) -> OutputError:
    return OutputError(f"{where}: cannot write: {exc.strerror or exc}")


def write_stdout(data: bytes) -> None:
    """data to standard output; a failed write (ENOSPC, EPIPE) is an OutputError, and nothing is left
    buffered for the interpreter to fail on again at exit."""
    stream = getattr(sys.stdout, "buffer", None)
    try:
        if stream is None:  # a text-only stand-in (tests capturing output)
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
            return
        sys.stdout.flush()
        stream.write(data)
        stream.flush()
    except OSError as exc:
        _drop_stdout()
        raise _failed("standard output", exc) from None


def _drop_stdout() -> None:
    """Point standard output at /dev/null: what could not be written is discarded, not retried at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def _in_place(path: Path) -> bool:
    """Whether path is written where it points (a device, a pipe, /dev or /proc) rather than replaced."""
    if str(path.absolute()).startswith(_IN_PLACE_PREFIXES):
        return True
    try:
        mode = os.stat(path).st_mode  # through links: what a link leads to
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _new_file_mode(path: Path) -> int:
    """The mode the replaced file had (when it was a regular file, not a link), else what open() would give."""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _copy(source: bytes | Path, out: BinaryIO) -> None:
    if isinstance(source, bytes):
        out.write(source)
        return
    with open(source, "rb") as f:
        while chunk := f.read(COPY_CHUNK):
            out.write(chunk)


def write_file(path: Path, source: bytes | Path) -> None:
    """Write source (bytes, or a file's content) to path, atomically; OutputError with one line when it fails."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _failed(str(path), exc) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"{path}: cannot write: is a directory")
    if mode is not None and stat.S_ISBLK(mode):
        raise OutputError(f"{path}: cannot write: is a block device")
    if _in_place(path):
        try:
            with open(path, "wb") as out:
                _copy(source, out)
        except OSError as exc:
            raise _failed(str(path), exc) from None
        return
    folder = path.parent
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise _failed(str(path), exc) from None
    try:
        with os.fdopen(fd, "wb") as out:
            _copy(source, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, _new_file_mode(path))
        os.replace(temporary, path)  # a link at path is replaced, not followed
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _failed(str(path), exc) from None
        raise


def write_output(data: bytes, output: Path | None) -> None:
    """A rendered report to standard output or to its file."""
    if output is None:
        write_stdout(data)
    else:
        write_file(output, data)
