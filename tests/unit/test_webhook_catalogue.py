"""docs/webhooks.md shows the events of batch picking and the put wall as the floor records them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.sorting_story import SORTING_EVENTS, sorting_story

pytestmark = pytest.mark.unit

WEBHOOKS_MD = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_bodies() -> dict[str, dict[str, object]]:
    text = WEBHOOKS_MD.read_text()
    bodies = {}
    for block in re.findall(r"```json\n(.*?)\n```", text, flags=re.DOTALL):
        body = json.loads(block)
        if isinstance(body, dict) and "type" in body:
            bodies.setdefault(body["type"], body)
    return bodies


def test_every_batch_and_put_wall_event_is_documented_with_the_body_the_floor_records() -> None:
    recorded = sorting_story()
    documented = documented_bodies()

    for event_type in SORTING_EVENTS:
        assert event_type in documented, f"{event_type} has no example in docs/webhooks.md"
        assert documented[event_type]["data"] == recorded[event_type], event_type
