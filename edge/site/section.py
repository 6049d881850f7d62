"""The base of every section of the site file: strict, immutable, and a URL's password never in its repr."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from floorgate.edge.site.quoting import redact_url


class Section(BaseModel):
    # Strict: TOML is typed, so `port = "8000"` is a mistake to report, not a string to coerce.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" and isinstance(value, str) else value
