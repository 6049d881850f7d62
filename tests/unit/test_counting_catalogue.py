"""docs/webhooks.md shows the events of putaway and cycle counting as the floor records them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.counting_story import COUNTING_EVENTS, counting_story

pytestmark = pytest.mark.unit

WEBHOOKS_MD = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECTION = "## Putaway and cycle counts"


def section_bodies() -> list[dict[str, Any]]:
    """The example bodies of the putaway and cycle counts section, in order."""
    text = WEBHOOKS_MD.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, flags=re.DOTALL)]


def test_every_putaway_and_count_event_is_documented_with_the_body_the_floor_records() -> None:
    recorded = counting_story()
    bodies = section_bodies()
    documented = {body["type"]: body["data"] for body in bodies}

    for event_type in COUNTING_EVENTS:
        assert event_type in documented, f"{event_type} has no example in docs/webhooks.md"
        assert documented[event_type] == recorded[event_type], event_type
    adjusted = [b["data"] for b in bodies if b["type"] == "inventory.adjusted"]
    assert adjusted == [recorded["inventory.adjusted/putaway"], recorded["inventory.adjusted/cycle_count"]]
    (variance,) = [b["data"] for b in bodies if b["type"] == "exception.raised"]
    assert variance == recorded["exception.raised/count_variance"]
