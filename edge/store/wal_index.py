"""How long an SQLite store's write-ahead log is now, read from its wal-index (the `-shm` file).

The checkpoint policy (checkpoint.py) needs the log's length after each commit. The log's file does not
say it: the file is kept at its limit rather than cut back after each checkpoint (growing a file again
costs every commit that extends it a metadata sync: about 60-100 µs of system time and more wall time a
commit on the bench's disk), so after the first round the file is longer than the log in it.

SQLite's wal-index header, at the start of the `-shm` file, holds the number of valid frames in the log
(`mxFrame`) and the page size (https://www.sqlite.org/walformat.html, "The WAL-Index Format"). The
writer reads it right after its own commit, on the thread that committed, so the header it reads is the
one that commit wrote.

The descriptor is opened once and closed only when the store closes, after its connections: closing any
descriptor of a file drops every POSIX lock the process holds on it, and SQLite's connections lock the
`-shm` file (see `Store._sync_database_file` for the same rule on the database file).
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

# struct WalIndexHdr: iVersion u32, unused u32, iChange u32, isInit u8, bigEndCksum u8, szPage u16,
# mxFrame u32 ... in the host's byte order.
_HEADER = struct.Struct("=IIIBBHI")
_WAL_HEADER_BYTES = 32
_FRAME_HEADER_BYTES = 24


class LogIndex:
    """Reads the log's length in bytes from the wal-index; None when it cannot (no `-shm` file yet)."""

    def __init__(self, shm: Path) -> None:
        self._shm = shm
        self._fd: int | None = None
        # Descriptors of a `-shm` file SQLite removed (its last connection closed): kept until `close`.
        self._retired: list[int] = []

    def log_bytes(self) -> int | None:
        fd = self._descriptor()
        if fd is None:
            return None
        try:
            header = os.pread(fd, _HEADER.size, 0)
        except OSError:
            return None
        if len(header) < _HEADER.size:
            return None
        _version, _unused, _change, is_init, _big_endian, page_size, frames = _HEADER.unpack(header)
        if not is_init:
            return None
        page = 65536 if page_size == 1 else page_size
        return _WAL_HEADER_BYTES + frames * (page + _FRAME_HEADER_BYTES) if frames else 0

    def _descriptor(self) -> int | None:
        if self._fd is not None:
            try:
                if os.fstat(self._fd).st_nlink > 0:
                    return self._fd
            except OSError:
                pass
            self._retired.append(self._fd)  # removed and perhaps made anew: not ours to read any more
            self._fd = None
        try:
            self._fd = os.open(self._shm, os.O_RDONLY)
        except OSError:
            return None
        return self._fd

    def close(self) -> None:
        """Only once the store's connections are closed (see the module's docstring)."""
        for fd in [*self._retired, *([] if self._fd is None else [self._fd])]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._retired.clear()
        self._fd = None
