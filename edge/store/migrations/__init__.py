"""The store's schema revisions, run by Alembic: `versions/rNNNN_<what>.py` holds revision "NNNN".

The revisions form one line, each naming the one before it as `down_revision`; the newest is the head,
which is the schema `tables.py` describes. `edge/store/migrate.py` runs them (`env.py` is what Alembic
runs to do so); docs/migrations.md says how to add one.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

SCRIPTS = Path(__file__).parent
"""Alembic's script directory: this folder, with `env.py` and the revisions in `versions/`."""
VERSIONS = SCRIPTS / "versions"
REVISION_FILE = re.compile(r"r(\d{4})_\w+\.py")


class UpgradeRefused(Exception):
    """A revision found the store in a shape it cannot upgrade; the message says what it found."""


@functools.cache
def head_revision() -> str:
    """The newest revision, from the revisions' file names alone: what a store at head records.

    Read without importing Alembic or any revision, so that opening a store already at head costs one
    listing of this folder and one query. A test checks that Alembic finds the same single head.
    """
    numbers = [match[1] for path in VERSIONS.iterdir() if (match := REVISION_FILE.fullmatch(path.name))]
    if not numbers:
        raise RuntimeError(f"no schema revision in {VERSIONS}: the installation is incomplete")
    return max(numbers)
