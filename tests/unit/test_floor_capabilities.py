"""The floor's shape: capabilities that register their handlers and share collaborators, never privates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor
from floorgate.core.instructions import Blink, LightBin
from floorgate.core.outcome import Outcome
from tests.support.floor_commands import NOW, make_floor, restored_copy

pytestmark = pytest.mark.unit

CORE = Path(__file__).resolve().parents[2] / "core"


def concrete_commands() -> set[type[cmd.Command]]:
    return {
        value
        for value in vars(cmd).values()
        if isinstance(value, type) and issubclass(value, cmd.Command) and value is not cmd.Command
    }


def test_every_command_has_exactly_one_capability_handling_it() -> None:
    floor = Floor()
    claimed = [t for capability in floor.capabilities for t in capability.handlers()]

    assert len(claimed) == len(set(claimed))
    assert set(claimed) == concrete_commands()


def test_two_capabilities_claiming_one_command_is_refused_when_the_floor_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from floorgate.core.station_scans import StationScans

    monkeypatch.setattr(StationScans, "handlers", lambda self: {cmd.PressButton: lambda c, now: Outcome()})

    with pytest.raises(ValueError, match="PressButton"):
        Floor()


def test_no_core_module_reaches_into_another_objects_private_members() -> None:
    """A capability that needs another's help is handed it as a collaborator and uses its public steps."""
    offending = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
            ):
                offending.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offending == []


class CycleCount:
    """A stand-in for a later task kind: it shows a count request on a bin through the shared light board."""

    def __init__(self, floor: Floor) -> None:
        self._floor = floor

    def ask_for_count(self, code: str) -> Outcome:
        outcome = Outcome()
        module = self._floor.locations[code].module
        assert module is not None
        self._floor.board.set_light(module, outcome, color="white", blink=Blink.SLOW, display="?")
        return outcome


def test_a_new_capability_shares_the_light_board_with_picking() -> None:
    floor = make_floor()

    (shown,) = CycleCount(floor).ask_for_count("A-01").instructions

    assert isinstance(shown, LightBin)
    assert shown.display == "?"
    assert floor.lit_commands() == [shown]
    assert floor.changes.lights == {shown.module}


def test_restore_rebuilds_the_light_boards_holders_and_the_books_open_problems() -> None:
    floor = make_floor()
    floor.handle(cmd.PressButton(module="M-UNKNOWN", button=cmd.Button.CONFIRM, display="1"), NOW)
    restored = restored_copy(floor)

    again = restored.handle(cmd.PressButton(module="M-UNKNOWN", button=cmd.Button.CONFIRM, display="1"), NOW)

    assert again.events == []  # counted on the open exception, not raised anew
    assert next(iter(restored.exceptions.values())).count == 2
    assert restored.location_of_module("M-A-01") == "A-01"
