"""The edge's HTTP server: uvicorn, imported only once the floor's lights are out (edge/runtime.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class EdgeServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the edge decides how Ctrl-C shuts everything down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
