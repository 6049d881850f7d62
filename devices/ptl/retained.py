"""Retained light commands the edge did not write: what to do about each, decided without I/O.

The broker keeps the last `cmd` published on each module's topic, and a module that (re)connects shows it.
What the broker keeps may not be what the floor says: a command planted by hand, one left by an earlier run
on another store, or one the broker lost (a restart without persistence). After every connect the PTL
adapter reads what is retained under its site (`MqttLink.scan_retained`) and `plan_corrections` says, per
module, how to make it the floor's: publish the floor's command again, have the floor outrank a seq at or
above its own first (a module ignores older seqs), or delete a command on a module no location has.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field

from floorgate.core.instructions import Instruction
from floorgate.devices.ptl.codec import (
    MalformedPayload,
    ModuleCommand,
    PtlTopic,
    decode_command,
    encode_command,
    parse_ptl_topic,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class FloorLights:
    """The floor's lights as committed: what the edge wants the bus to hold.

    `commands`: the current command of every module the floor has a light for (lit or dark).
    `modules`: every module of this edge's locations, lit or not, so a module never lit is still known.
    """

    commands: Sequence[Instruction]
    modules: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class Corrections:
    """What to do about the retained commands found.

    `republish`: the floor's command, above the retained one's seq; publishing it replaces the copy.
    `supersede`: module -> the retained seq the floor must first move past (durably, through the writer).
    `clear`: topics of retained commands on modules no location of this edge has: deleted (empty payload).
    `left`: modules whose retained command is left alone: another edge's, or not ours to judge.
    """

    republish: list[Instruction] = field(default_factory=list)
    supersede: dict[str, int] = field(default_factory=dict)
    clear: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.republish or self.supersede or self.clear)


def _decoded(payload: bytes) -> ModuleCommand | None:
    try:
        return decode_command(payload)
    except MalformedPayload:
        return None


def plan_corrections(
    site: str,
    found: Mapping[str, bytes],
    lights: FloorLights,
    *,
    foreign: Container[str] = frozenset(),
    clear_unknown: bool = True,
) -> Corrections:
    """Compare the retained commands `found` (topic -> payload) with the floor's `lights`.

    `foreign`: modules of other edges' zones (the site file's locations in zones this edge does not own).
    `clear_unknown`: whether a module nobody here knows may be cleared; False when this edge shares its site
    with others, since a location another edge took over the API is then indistinguishable from none.
    """
    current = {instruction.module: instruction for instruction in lights.commands}
    plan = Corrections()
    for topic, payload in sorted(found.items()):
        parsed = parse_ptl_topic(site, topic)
        if parsed is None or parsed[1] is not PtlTopic.CMD or not payload:
            continue
        module = parsed[0]
        wanted = current.get(module)
        if wanted is None and module not in lights.modules:
            if module in foreign or not clear_unknown:
                plan.left.append(module)
            else:
                plan.clear.append(topic)
            continue
        retained = _decoded(payload)
        if wanted is not None and retained == decode_command(encode_command(wanted)):
            continue
        floor_seq = wanted.seq if wanted is not None else 0
        if wanted is None or (retained is not None and retained.seq >= floor_seq):
            # A seq the module may show and would not leave for ours, or a module the floor has never lit
            # (seq 0 outranks nothing): the floor moves past it first and then sends its light.
            plan.supersede[module] = retained.seq if retained is not None else 0
        else:
            plan.republish.append(wanted)
    return plan
