"""What one command did to the floor: the events it caused, the light instructions, the API's reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from floorgate.core import events as ev
from floorgate.core.instructions import Instruction


@dataclass(slots=True)
class Outcome:
    """What one command did. `reply` carries what the API answers (e.g. created vs replayed)."""

    events: list[ev.Event] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
