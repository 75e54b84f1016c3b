"""Writing export files so that a reader never gets half of one.

Every file is written under a temporary name in the export folder's ``.partial`` folder (the
same file system), flushed to disk (``fsync``), then renamed over the public name
(``os.replace``, atomic on POSIX) and the folder itself synced, so that after a crash, a full
disk or a kill either the old file or the new one is served, never a mix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from isal import isal_zlib

#: Where files being written wait for their turn; emptied at the start of every export.
PARTIAL = ".partial"

_CHUNK = 1 << 20
#: ISA-L's compression level (0-3) for every gzip file of the export.
GZIP_LEVEL = 1
_GZIP_WBITS = 31  # deflate in a gzip wrapper (RFC 1952)
#: Chunks a gzip file's thread may have waiting before a write waits for it.
_QUEUED = 4


class HashingFile:
    """A file open for writing that hashes (SHA-256) and counts the bytes written to it."""

    name = ""  # gzip.GzipFile writes this name into its header: keep the bytes reproducible

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._sha.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def abandon(self) -> None:
        """Close without syncing: the file is not used (it is removed with ``.partial``)."""
        self._file.close()

    def close(self, sync: bool = True) -> str:
        """Flush (to disk unless not ``sync``) and close; the SHA-256 (hex) of everything written."""
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())
        self._file.close()
        return self._sha.hexdigest()


class GzipPart:
    """A gzip file being written: ``count`` items and ``raw_size`` uncompressed bytes so far.

    Compressed with ISA-L (``isal``, Intel's deflate, already a dependency for PDFs): at its
    level 1 about 8 times faster than zlib at level 6 on JSON Lines of compiled releases, for
    files about a third bigger (``docs/bulk-downloads.md`` gives the figures). The output is
    ordinary gzip (RFC 1952) that every reader reads. The header carries no name and no time
    (``mtime=0``), so the same content gives the same bytes and the same SHA-256 on every export
    with the same ``isal`` version.

    Compressing, hashing and writing run in a thread of their own, a chunk (``_CHUNK``) at a
    time and in order: ISA-L, ``hashlib`` and file writes release the GIL, so they take the
    second core while the exporting process reads and splices the next releases (on one
    core, it costs a thread switch per megabyte). The bytes are the same as in one thread."""

    def __init__(self, path: Path, compresslevel: int = GZIP_LEVEL) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="gzip")
        self._queued: deque[Future[None]] = deque()
        self._out = HashingFile(path)
        self._deflate = isal_zlib.compressobj(compresslevel, isal_zlib.DEFLATED, _GZIP_WBITS)
        self._level = compresslevel
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.raw_size = 0
        self.count = 0
        self._member_start = 0  # where the current gzip member starts in the file
        self._member_raw = 0  # uncompressed bytes written to the current member

    def write(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        self.raw_size += len(data)
        self._member_raw += len(data)
        if self._buffered >= _CHUNK:
            self._drain()

    def write_line(self, data: bytes) -> None:
        """``write(data)`` then ``write(b"\\n")`` in one call (the chunks handed to the
        compressor, hence the file's bytes, are the same)."""
        size = len(data) + 1
        self.raw_size += size
        self._member_raw += size
        self._buffer.append(data)
        self._buffered += size - 1
        if self._buffered >= _CHUNK:
            self._drain()
        self._buffer.append(b"\n")
        self._buffered += 1
        if self._buffered >= _CHUNK:
            self._drain()

    def _drain(self) -> None:
        if self._buffer:
            self._queued.append(self._thread.submit(self._compress, b"".join(self._buffer)))
            self._buffer.clear()
            self._buffered = 0
            while len(self._queued) > _QUEUED:  # memory stays bounded if the thread lags
                self._queued.popleft().result()

    def _compress(self, chunk: bytes) -> None:
        self._out.write(self._deflate.compress(chunk))

    def _wait(self) -> None:
        """Everything handed to the thread is written (its errors raised here)."""
        self._drain()
        while self._queued:
            self._queued.popleft().result()

    def end_member(self) -> tuple[int, int]:
        """End the gzip member being written (the next write starts another): its offset and
        length in the file. Readers read the members as one stream; the export copies a
        member's bytes as they are when none of its lines changed (see ``build``)."""
        self._wait()
        self._out.write(self._deflate.flush())
        self._deflate = isal_zlib.compressobj(self._level, isal_zlib.DEFLATED, _GZIP_WBITS)
        start, self._member_start, self._member_raw = self._member_start, self._out.size, 0
        return start, self._out.size - start

    def append_file(self, path: Path) -> int:
        """Copy the gzip file at ``path`` (whole members, not written to any more) after the members
        written so far, in this file's thread: the offset where they start. The member being
        written must have been ended (:meth:`end_member`)."""
        self._wait()
        if self._member_raw:
            raise ValueError("a gzip member is open: end it before appending another file")
        start = self._out.size
        size = os.stat(path).st_size
        self._queued.append(self._thread.submit(self._copy, path))
        self._member_start = start + size
        return start

    def _copy(self, path: Path) -> None:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                self._out.write(chunk)

    def close(self, sync: bool = True) -> tuple[int, str]:
        """Finish the gzip stream, flush it (to disk unless not ``sync``): its size and SHA-256."""
        self._wait()
        self._thread.shutdown()
        if self._member_raw or self._member_start == 0:  # never an empty member after others
            self._out.write(self._deflate.flush())
        sha = self._out.close(sync)
        return self._out.size, sha


def concatenate(sources: list[Path], target: Path) -> tuple[int, str]:
    """Write the files ``sources`` one after the other into ``target``, flushed to disk: its
    size and SHA-256.

    The bytes are copied by the kernel (``copy_file_range``: no trip through this process)
    while a thread hashes them from the page cache (``hashlib`` releases the GIL): about a
    third of the time of copying and hashing through a buffer here, for the hundreds of
    megabytes of ``full.jsonl.gz``."""
    with ThreadPoolExecutor(1, thread_name_prefix="sha256") as pool:
        hashed = pool.submit(_sha256_of_all, sources)
        size = 0
        with open(target, "wb") as out:
            for source in sources:
                with open(source, "rb") as f:
                    size += _copy_all(f, out)
            out.flush()
            os.fsync(out.fileno())
        hashed_size, sha = hashed.result()
        if hashed_size != size:  # a source changed meanwhile: no name on a hash of other bytes
            raise OSError(f"{target.name}: {size} bytes copied but {hashed_size} hashed")
        return size, sha


def _copy_all(source, out) -> int:
    length = os.fstat(source.fileno()).st_size
    done = 0
    try:
        while done < length:
            copied = os.copy_file_range(source.fileno(), out.fileno(), length - done)
            if copied == 0:  # the file is shorter than it was: what is there is copied
                break
            done += copied
    except OSError:  # a file system or kernel without it: through a buffer from where it stopped
        source.seek(done)
        out.seek(0, os.SEEK_END)
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            done += len(chunk)
    return done


def _sha256_of_all(paths: list[Path]) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
    return size, sha.hexdigest()


def gzip_member(data: bytes, compresslevel: int = GZIP_LEVEL) -> bytes:
    """``data`` as one gzip member, with the same header as :class:`GzipPart` writes."""
    deflate = isal_zlib.compressobj(compresslevel, isal_zlib.DEFLATED, _GZIP_WBITS)
    return deflate.compress(data) + deflate.flush()


def sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def partial_dir(folder: Path) -> Path:
    """An empty ``.partial`` folder inside ``folder`` (what a killed export left is removed)."""
    partial = folder / PARTIAL
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def publish(temporary: Path, final: Path) -> None:
    """Put a finished (already synced) file in place of ``final`` atomically."""
    os.replace(temporary, final)
    fsync_dir(final.parent)


def write_atomically(final: Path, data: bytes) -> None:
    """Write small ``data`` (the manifest, SHA256SUMS) as ``final``, atomically."""
    temporary = final.parent / PARTIAL / (final.name + ".tmp")
    temporary.parent.mkdir(exist_ok=True)
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    publish(temporary, final)
