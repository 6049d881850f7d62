"""Store errors: why the store could not do what was asked (StoreFailure), told as a person has to fix it.

Classifies SQLite result codes, PostgreSQL SQLSTATEs, errnos and driver messages into a few causes, and
asks the file system what it says to a write when SQLite's own words are ambiguous.
"""

from __future__ import annotations

import contextlib
import errno
import os
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

# The engine option that carries `[store] max_size_mb`, so that a failure can say the limit was reached.
MAX_SIZE_OPTION = "floorgate_max_size_mb"


class StoreFailure(StrEnum):
    """Why the store cannot do what was asked, as a person has to fix it."""

    FULL = "full"  # no space on the disk, or the store reached [store] max_size_mb
    READ_ONLY = "read_only"  # the file system (or the database server) refuses writes
    IO_ERROR = "io_error"  # the disk failed a read or write
    UNAVAILABLE = "unavailable"  # the database cannot be opened or reached
    # What a batch holds is refused by the store itself (a constraint, a value it cannot take): trying the
    # same batch again cannot help, so the writer sets the command that made it aside instead of waiting.
    UNSTORABLE = "unstorable"
    # The lease of an active/standby pair moved to the other edge: this one must never commit again.
    FENCED = "fenced"
    OTHER = "other"


class StoreError(Exception):
    """The store could not do what was asked; `cause` says why and `location` which store (no secrets)."""

    def __init__(
        self, message: str, *, cause: StoreFailure = StoreFailure.OTHER, location: str | None = None
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.location = location


# Start-up refuses a store with less room than this (on its disk, or below [store] max_size_mb): the
# edge would otherwise start, take work, and stop committing moments later.


# SQLite primary result codes (the start of `sqlite_errorname`, e.g. SQLITE_IOERR_WRITE) by cause.
_SQLITE_CAUSES: dict[str, StoreFailure] = {
    "SQLITE_FULL": StoreFailure.FULL,
    "SQLITE_READONLY": StoreFailure.READ_ONLY,
    "SQLITE_PERM": StoreFailure.READ_ONLY,
    "SQLITE_IOERR": StoreFailure.IO_ERROR,
    "SQLITE_CANTOPEN": StoreFailure.UNAVAILABLE,
    "SQLITE_NOTADB": StoreFailure.UNAVAILABLE,
    "SQLITE_CORRUPT": StoreFailure.IO_ERROR,
    "SQLITE_CONSTRAINT": StoreFailure.UNSTORABLE,
    "SQLITE_TOOBIG": StoreFailure.UNSTORABLE,
    "SQLITE_MISMATCH": StoreFailure.UNSTORABLE,
    "SQLITE_RANGE": StoreFailure.UNSTORABLE,
}
# PostgreSQL SQLSTATEs by cause: disk_full, read_only_sql_transaction, io_error, connection failures.
_SQLSTATE_CAUSES: dict[str, StoreFailure] = {
    "53100": StoreFailure.FULL,
    "25006": StoreFailure.READ_ONLY,
    "58030": StoreFailure.IO_ERROR,
    "08000": StoreFailure.UNAVAILABLE,
    "08001": StoreFailure.UNAVAILABLE,
    "08003": StoreFailure.UNAVAILABLE,
    "08006": StoreFailure.UNAVAILABLE,
    "57P01": StoreFailure.UNAVAILABLE,
}
# ...and by SQLSTATE class: 22 data exception (a value out of range, a NUL in text), 23 integrity.
_SQLSTATE_CLASS_CAUSES: dict[str, StoreFailure] = {
    "22": StoreFailure.UNSTORABLE,
    "23": StoreFailure.UNSTORABLE,
}
# For errors that carry no code (a driver's message, an error made by hand): the words SQLite uses.
_MESSAGE_CAUSES: tuple[tuple[str, StoreFailure], ...] = (
    ("database or disk is full", StoreFailure.FULL),
    ("no space left on device", StoreFailure.FULL),
    ("readonly database", StoreFailure.READ_ONLY),
    ("read-only file system", StoreFailure.READ_ONLY),
    ("disk i/o error", StoreFailure.IO_ERROR),
    ("unable to open database file", StoreFailure.UNAVAILABLE),
    # psycopg, when the server is gone or cannot be reached (no SQLSTATE: no server answered)
    ("connection refused", StoreFailure.UNAVAILABLE),
    ("server closed the connection", StoreFailure.UNAVAILABLE),
    ("the connection is lost", StoreFailure.UNAVAILABLE),
    ("the connection is closed", StoreFailure.UNAVAILABLE),
    ("connection failed", StoreFailure.UNAVAILABLE),
    ("could not connect", StoreFailure.UNAVAILABLE),
    ("error binding parameter", StoreFailure.UNSTORABLE),  # sqlite3: a value of a type it cannot take
)
# What the driver raises while binding a batch's values, before the database sees them: an integer past
# 64 bits (OverflowError), text UTF-8 cannot encode (UnicodeEncodeError), a NUL in PostgreSQL text.
# `Store.commit` catches them too. And the DB-API's own classes for a refused value, whatever the
# driver: psycopg raises DataError for a NUL in text without a SQLSTATE (it never reaches the server).
_REFUSED_VALUE_ERRORS = frozenset({"DataError", "IntegrityError"})
BINDING_ERRORS: tuple[type[Exception], ...] = (OverflowError, ValueError, TypeError)
_WRITE_CAUSES = frozenset({StoreFailure.FULL, StoreFailure.READ_ONLY, StoreFailure.IO_ERROR})
_ERRNO_CAUSES: dict[int, StoreFailure] = {
    errno.ENOSPC: StoreFailure.FULL,
    errno.EDQUOT: StoreFailure.FULL,
    errno.EROFS: StoreFailure.READ_ONLY,
    errno.EACCES: StoreFailure.READ_ONLY,
    errno.EPERM: StoreFailure.READ_ONLY,
    errno.EIO: StoreFailure.IO_ERROR,
}


def failure_cause(err: BaseException) -> StoreFailure:
    """The cause of a database or file error: by SQLite result code, SQLSTATE, errno, then message."""
    orig = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        primary = "_".join(name.split("_")[:2])
        if primary in _SQLITE_CAUSES:
            return _SQLITE_CAUSES[primary]
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate in _SQLSTATE_CAUSES:
        return _SQLSTATE_CAUSES[sqlstate]
    if isinstance(sqlstate, str) and sqlstate[:2] in _SQLSTATE_CLASS_CAUSES:
        return _SQLSTATE_CLASS_CAUSES[sqlstate[:2]]
    if isinstance(orig, BINDING_ERRORS) or any(
        c.__name__ in _REFUSED_VALUE_ERRORS for c in type(orig).__mro__
    ):
        return StoreFailure.UNSTORABLE
    if isinstance(orig, OSError) and orig.errno in _ERRNO_CAUSES:
        return _ERRNO_CAUSES[orig.errno]
    text = str(orig).lower()
    for words, cause in _MESSAGE_CAUSES:
        if words in text:
            return cause
    return StoreFailure.OTHER


def _driver_message(err: BaseException) -> str:
    """The database's own words, without the SQL and parameters SQLAlchemy appends (they may hold secrets)."""
    orig = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    if isinstance(orig, OSError) and orig.strerror:
        return orig.strerror
    lines = str(orig).strip().splitlines()
    return lines[0][:200] if lines else type(orig).__name__


def probe_directory(directory: Path) -> OSError | None:
    """Write, sync and remove a small file where the store lives: what the file system says to a write."""
    probe = directory / f".floorgate-write-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as err:
        return err
    try:
        os.write(fd, bytes(4096))
        os.fsync(fd)
    except OSError as err:
        return err
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def free_bytes(directory: Path) -> int | None:
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def store_location(engine: Engine) -> str:
    """Which store, for messages: the SQLite file, or the database URL without its password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return (url.database or ":memory:").removeprefix("file:")
    return url.render_as_string(hide_password=True)


def sqlite_directory(engine: Engine) -> Path | None:
    location = store_location(engine)
    if engine.url.get_backend_name() != "sqlite" or location.startswith(":"):
        return None
    return Path(location).parent


def size_limit_mb(engine: Engine) -> int | None:
    """The `[store] max_size_mb` the engine was made with, if any."""
    value = engine.get_execution_options().get(MAX_SIZE_OPTION)
    return value if isinstance(value, int) else None


def describe_failure(engine: Engine, err: BaseException, doing: str) -> StoreError:
    """A StoreError that names the store, the cause and what to do about it, from a database/file error.

    Runs only when something failed. For SQLite it asks the file system what it says to a write, so a
    "disk I/O error" from a disk the kernel switched to read-only is reported as read-only, and a
    "database or disk is full" is told apart from reaching `[store] max_size_mb`.
    """
    location = store_location(engine)
    cause = failure_cause(err)
    detail = _driver_message(err)
    directory = sqlite_directory(engine)
    probed = err if isinstance(err, OSError) else None
    if probed is None and cause in _WRITE_CAUSES and directory is not None and directory.is_dir():
        probed = probe_directory(directory)
        if probed is not None and probed.errno in _ERRNO_CAUSES:
            cause = _ERRNO_CAUSES[probed.errno]
            detail = f"{detail}; the file system says: {probed.strerror}"
    # SQLite says "full" both for a full disk and for max_page_count; a disk that takes a write is the limit.
    limit = size_limit_mb(engine) if probed is None else None
    message = _failure_message(cause, location, detail, doing, err, limit_reached=limit)
    return StoreError(message, cause=cause, location=location)


def _failure_message(
    cause: StoreFailure,
    location: str,
    detail: str,
    doing: str,
    err: BaseException,
    *,
    limit_reached: int | None,
) -> str:
    if cause is StoreFailure.FULL and limit_reached is not None:
        return (
            f"the store at {location} is full: it reached [store] max_size_mb = {limit_reached} ({detail}); "
            "raise the limit in the site file and restart the edge"
        )
    if cause is StoreFailure.FULL:
        return (
            f"the store at {location} is full: no space left on the disk that holds it ({detail}); "
            "free space on that disk"
        )
    if cause is StoreFailure.READ_ONLY:
        return (
            f"the store at {location} is read-only ({detail}); make it writable again "
            "(remount its disk read-write, or give the edge's user write permission)"
        )
    if cause is StoreFailure.IO_ERROR:
        return (
            f"the store at {location} cannot be written: the disk reported an I/O error ({detail}); "
            "check the disk (the kernel log names the fault)"
        )
    if cause is StoreFailure.UNAVAILABLE:
        return f"the store at {location} cannot be opened or reached ({detail})"
    if cause is StoreFailure.UNSTORABLE:
        return f"the store at {location} refused a value while {doing}: {type(err).__name__}: {detail}"
    return f"the store at {location} failed while {doing}: {type(err).__name__}: {detail}"
