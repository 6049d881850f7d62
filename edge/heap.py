"""The garbage collector and the floor: hundreds of thousands of objects that live as long as the edge."""

from __future__ import annotations

import gc

from floorgate.edge.store import Loaded, Store

# Allocations (minus frees) between young-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 20_000


def load_frozen(store: Store, *, retire_before: float) -> Loaded:
    """The floor read back with the garbage collector paused, and then frozen (as `settle_heap` does later).

    Everything read lives on, so a collection while it is made frees nothing: with 100k locations the
    collections were 40% of the load, and the first full one after it would walk it all again.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        loaded = store.load(retire_before=retire_before)
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    return loaded


def settle_heap() -> None:
    """Keep the garbage collector's pauses off the press → light path.

    The restored floor is hundreds of thousands of long-lived objects; every full collection would walk
    them all (tens of milliseconds with 100k locations, seen as p99 spikes). Freezing moves what exists
    now out of the collector's sight, and a larger first generation makes the young collections that
    the hot path's short-lived objects trigger rarer. Reference counting still frees almost everything.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 50)


def resume_collections() -> None:
    """The collector back on once the edge's parts are built: `floorgate run` pauses it for its start
    (edge/cli.py), and what the start made is frozen out of its sight."""
    gc.freeze()
    gc.enable()
