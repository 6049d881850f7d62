"""Reading a running edge's event log through its HTTP API, for end-to-end tests that check what happened."""

from __future__ import annotations

from typing import Any

import httpx


def event_data(api: httpx.Client, kind: str) -> list[dict[str, Any]]:
    """The data of every event of `kind` among the log's first thousand, in log order."""
    events = api.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
    return [e["data"] for e in events if e["type"] == kind]
