"""Progress lines: what the bench is doing, printed as it goes."""

from __future__ import annotations


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)
