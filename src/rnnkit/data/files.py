"""Opening a user's data file: the one triage of unreadable files, for every reader.

Each reader in ``rnnkit.data`` gets its bytes, text or lines from here, so an unreadable
file gives the same one-line ``DataError`` whatever the format. ``what`` names what the
reader expected, with its article; for ``what="a FASTA file"``:

    x.fa: no such file
    x.fa: is a folder, expected a FASTA file
    x.fa: cannot read (Permission denied)
    x.fa: empty file, expected a FASTA file
    x.fa: not a FASTA file (binary: NUL byte at offset 8)
    x.fa: not a FASTA file (not valid UTF-8: byte 0xe9 at offset 12)
    x.fa.gz: gzip stream is truncated or corrupt (Compressed file ended before ...)

Text is UTF-8 (a byte-order mark is dropped) with universal newlines (``\\r\\n`` and
``\\r`` become ``\\n``, as ``open`` does), and gzip is recognised by its magic bytes, not
by the name; offsets of bad bytes in a gzipped file count in the decompressed data. A NUL
byte never occurs in real text (UTF-16 files and binaries both have them), so it is
reported as binary before any UTF-8 error. The format checks (bad rows, line numbers)
stay in the readers.
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from rnnkit.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 20  # bytes read at a time by open_text_lines
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def check_file(path: str | Path, what: str = "a file") -> Path:
    """The path, once it is known to be a readable, non-empty file; for files that another
    library opens itself (audio through libsndfile). DataError: missing, a folder,
    unreadable (permissions) or empty."""
    path = Path(path)
    with _open(path, what) as fh:
        first = _read(fh, path, 1)
    if not first:
        raise DataError(f"{path}: empty file, expected {what}")
    return path


def read_bytes(path: str | Path, what: str = "a file") -> bytes:
    """The whole file; DataError: missing, a folder, unreadable or empty."""
    path = Path(path)
    with _open(path, what) as fh:
        raw = _read(fh, path)
    if not raw:
        raise DataError(f"{path}: empty file, expected {what}")
    return raw


def read_text(path: str | Path, what: str = "a UTF-8 text file") -> str:
    """The whole file as text, gunzipped if it is gzip; DataError as ``read_bytes``, and
    for a damaged gzip stream, binary content, bytes that are not UTF-8, or only
    whitespace (an empty file)."""
    path = Path(path)
    raw = read_bytes(path, what)
    gz = raw[:2] == GZIP_MAGIC
    if gz:
        try:
            raw = gzip.decompress(raw)
        except _GZIP_ERRORS as e:
            raise _gzip_error(path, e) from None
    text = _universal_newlines(_decode(raw, 0, path, what, gz).removeprefix("\ufeff"))
    if not text.strip():
        raise DataError(f"{path}: empty file, expected {what}")
    return text


def open_text_lines(path: str | Path, what: str = "a UTF-8 text file") -> Iterator[str]:
    """The lines of a file (each ending in ``\\n`` but perhaps the last), gunzipped as it
    is read, for readers of files too large to hold (genomes). DataError as ``read_text``,
    raised on the first ``next`` (missing, folder, unreadable, binary start) or once the
    reading reaches the 1 MiB block that holds the problem. An empty file yields no lines:
    a streaming reader reports that as "no records" (an empty gzip stream is only known
    empty once read)."""
    path = Path(path)
    with _open(path, what) as fh:
        try:
            gz = fh.peek(2)[:2] == GZIP_MAGIC
            stream = gzip.GzipFile(fileobj=fh) if gz else fh
            # A binary file need not have a NUL on its first line (PNG: "\x89PNG\r\n");
            # the first buffer (8 KiB or so, cf. git's 8000 bytes) decides, as in read_text.
            _check_no_nul(stream.peek(1), 0, path, what, gz)
            offset = 0
            for block in _line_blocks(stream):
                text = _decode(block, offset, path, what, gz)
                if offset == 0:
                    text = text.removeprefix("\ufeff")
                offset += len(block)
                # newline="\n": split at "\n" only, as open() does once \r is translated
                yield from io.StringIO(_universal_newlines(text), newline="\n")
        except _GZIP_ERRORS as e:
            raise _gzip_error(path, e) from None
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


# ---- the triage ----------------------------------------------------------------------------


def _open(path: Path, what: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected {what}") from None
    except OSError as e:  # PermissionError, NotADirectoryError (a file in the path), ...
        if path.is_dir():  # some systems refuse to open a folder with EACCES
            raise DataError(f"{path}: is a folder, expected {what}") from None
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _read(fh: BinaryIO, path: Path, n: int = -1) -> bytes:
    try:
        return fh.read(n)
    except OSError as e:  # EIO on a failing disk, EISDIR where open() let a folder through
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _check_no_nul(data: bytes, offset: int, path: Path, what: str, gz: bool) -> None:
    k = data.find(b"\x00")
    if k >= 0:
        raise DataError(f"{path}: not {what} (binary: NUL byte at offset "
                        f"{offset + k}{_in_gzip(gz)})")


def _decode(data: bytes, offset: int, path: Path, what: str, gz: bool) -> str:
    """UTF-8 text of ``data``, which starts at byte ``offset`` of the file."""
    _check_no_nul(data, offset, path, what, gz)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not {what} (not valid UTF-8: byte 0x{data[e.start]:02x} "
                        f"at offset {offset + e.start}{_in_gzip(gz)})") from None


def _in_gzip(gz: bool) -> str:
    return " of the decompressed data" if gz else ""


def _gzip_error(path: Path, e: Exception) -> DataError:
    return DataError(f"{path}: gzip stream is truncated or corrupt ({e})")


def _line_blocks(stream: BinaryIO) -> Iterator[bytes]:
    """Blocks of whole lines (the last may lack its newline) of about ``_BLOCK`` bytes: NUL
    search and decoding then run in C over many lines at once, and since a block ends at a
    newline no UTF-8 character or \\r\\n pair is cut in two."""
    pending: list[bytes] = []  # the start of a line, read in earlier blocks
    while chunk := stream.read(_BLOCK):
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            pending.append(chunk)
            continue
        yield b"".join([*pending, chunk[:cut]])
        pending = [chunk[cut:]]
    if tail := b"".join(pending):
        yield tail


def _universal_newlines(text: str) -> str:
    if "\r" not in text:  # the common case, and a search is cheaper than two replaces
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def write_atomically(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a hidden file beside ``path``, fsync it, then rename it into place
    (and fsync the folder, so the rename survives a power cut): a killed run leaves the old
    file or the new one, never half of one. The one way rnnkit writes a file that must not
    be lost: checkpoints, result.json, MIDI and WAV files."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # same file system
    try:
        with open(tmp, "xb") as fh:  # "x": honours the umask, unlike mkstemp's 0600
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX only
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def publish_folder(work: Path, dest: Path) -> None:
    """Rename a completely written hidden folder ``work`` to ``dest`` (same file system), so
    ``dest`` exists only whole. Another process that published ``dest`` first wins: its
    copy is used and ``work`` is left for the caller to remove."""
    try:
        work.rename(dest)
    except OSError:
        if not dest.is_dir():  # else another process finished first: use its copy
            raise
