"""The light board: what each pick-to-light module shows, who holds each location's light, and who waits.

Shared by every capability that lights bins. One piece of work holds a location's light at a time: an order
line, or a claim of another kind of task (a batch pick, a putaway, a count) made by a `LightTaker`. Others
wanting the light queue first come, first served in one queue per location, whatever their kind (by ticket,
one counter for all kinds, which survives a restart), so a bin is never lit for two kinds of work at once.
Modules that are not bins (a put wall's cubbies) are owned by a `ModuleTaker`. Each picker working a zone
gets one colour there while they have work in it. Every change of a module's light bumps its sequence
number, so a module can tell a stale instruction from the current one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from floorgate.core import commands as cmd
from floorgate.core.instructions import PICKER_PALETTE, Blink, ClearBin, Instruction, LightBin
from floorgate.core.model import Light, LineStatus, Order, OrderLine, OrderStatus
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState

ACTIVE_ORDER = frozenset({OrderStatus.OPEN, OrderStatus.PICKING})


class LightTaker(Protocol):
    """A capability that lights bins for its own tasks (batch picks, putaways, counts)."""

    kind: str  # "batch", "putaway", "count"; never "order"

    def lit(self, code: str, task: str, outcome: Outcome) -> None:
        """Its claim on `code`, queued until now, holds the light: show it (board.set_light)."""
        ...

    def press(self, command: cmd.PressButton, code: str, task: str, now: float, outcome: Outcome) -> None:
        """A button on the module of `code` while this taker's claim `task` holds it."""
        ...

    def claims(self) -> Iterable[tuple[str, str, bool, int | None]]:
        """From the restored state: (code, task, lit, ticket) for every claim it holds or queues."""
        ...


class ModuleTaker(Protocol):
    """A capability owning modules that are not bins (the put wall's cubbies)."""

    def press_module(self, command: cmd.PressButton, now: float, outcome: Outcome) -> None: ...


@dataclass(frozen=True, slots=True)
class _Claim:
    """A task of another kind than an order line wanting, or holding, a location's light."""

    kind: str
    task: str


# What waits in a location's queue: an order line (order_id, line_id) or a claim.
_Entry = tuple[str, str] | _Claim


class LightBoard:
    """The floor's lights and the queues in front of them."""

    def __init__(self, state: FloorState) -> None:
        self._state = state
        self._location_by_module: dict[str, str] = {}
        # location code -> (order_id, line_id) whose light it shows now
        self._holder: dict[str, tuple[str, str]] = {}
        # location code -> the claim whose light it shows now (never also in _holder)
        self._claimed: dict[str, _Claim] = {}
        # location code -> lines and claims waiting for that light, first come first served
        self._waiting: dict[str, deque[_Entry]] = {}
        self._takers: dict[str, LightTaker] = {}
        self._module_takers: dict[str, ModuleTaker] = {}
        # zone -> picker key -> (colour, orders of that picker with work left in the zone)
        self._pickers: dict[str, dict[str, tuple[str, set[str]]]] = {}
        self._next_ticket = 1

    def rebuild(self) -> None:
        """Derive the module index, the holders, the queues and the pickers' colours from the state."""
        state = self._state
        self._location_by_module = {
            loc.module: loc.code for loc in state.locations.values() if loc.module is not None
        }
        self._holder.clear()
        self._claimed.clear()
        self._waiting.clear()
        self._pickers.clear()
        # Capabilities own their modules again in their own rebuild, from their restored state.
        self._module_takers.clear()
        waiting: list[tuple[int, str, _Entry]] = []
        for order in state.orders.values():
            active = order.status in ACTIVE_ORDER
            for line in order.lines.values():
                self._next_ticket = max(self._next_ticket, (line.ticket or 0) + 1)
                if not active or line.location is None:
                    continue
                if line.status is LineStatus.LIT:
                    self._holder[line.location] = (order.order_id, line.line_id)
                elif line.ticket is not None:
                    waiting.append((line.ticket, line.location, (order.order_id, line.line_id)))
            if active:
                for run in order.runs.values():
                    if not run.done:
                        zone_pickers = self._pickers.setdefault(run.zone, {})
                        zone_pickers.setdefault(run.picker, (run.color, set()))[1].add(order.order_id)
        for kind, taker in self._takers.items():
            for code, task, lit, ticket in taker.claims():
                self._next_ticket = max(self._next_ticket, (ticket or 0) + 1)
                if lit:
                    self._claimed[code] = _Claim(kind, task)
                elif ticket is not None:
                    waiting.append((ticket, code, _Claim(kind, task)))
        for _ticket, location, entry in sorted(waiting, key=lambda w: w[0]):
            self._waiting.setdefault(location, deque()).append(entry)

    # -- other kinds of work ------------------------------------------------------------------------

    def register(self, taker: LightTaker) -> None:
        """A capability that lights bins for its own tasks (at floor construction)."""
        if taker.kind == "order" or taker.kind in self._takers:
            raise ValueError(f"a light taker of kind {taker.kind!r} is already registered")
        self._takers[taker.kind] = taker

    def taker(self, kind: str) -> LightTaker:
        return self._takers[kind]

    def own_modules(self, modules: Iterable[str], taker: ModuleTaker) -> None:
        """Modules that are not bins: their presses go to `taker` (at definition, and again on rebuild)."""
        for module in modules:
            self._module_takers[module] = taker

    def module_taker(self, module: str) -> ModuleTaker | None:
        return self._module_takers.get(module)

    def claim(self, code: str, kind: str, task: str, outcome: Outcome) -> int | None:
        """Ask for the location's light for a task of `kind`.

        None: the claim holds the light now (the caller shows it with set_light). An int: the claim was
        queued behind the work holding the light, with this ticket (the caller persists it with the task);
        the taker's `lit` is called when its turn comes.
        """
        if code in self._holder or code in self._claimed:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._waiting.setdefault(code, deque()).append(_Claim(kind, task))
            return ticket
        self._claimed[code] = _Claim(kind, task)
        return None

    def release(self, code: str, kind: str, task: str, outcome: Outcome) -> None:
        """The claim is done or withdrawn: a holding one hands the light on, a queued one leaves the queue."""
        claim = _Claim(kind, task)
        if self._claimed.get(code) == claim:
            self.hand_on(code, outcome)
            return
        queue = self._waiting.get(code)
        if queue is not None and claim in queue:
            queue.remove(claim)

    def claim_of(self, code: str) -> tuple[str, str] | None:
        """(kind, task) of the claim holding the location's light, if a claim holds it."""
        claim = self._claimed.get(code)
        return (claim.kind, claim.task) if claim is not None else None

    # -- modules and locations ---------------------------------------------------------------------

    def location_of_module(self, module: str) -> str | None:
        return self._location_by_module.get(module)

    def move_module(self, code: str, *, old: str | None, new: str | None) -> None:
        """Location `code` is now lit by module `new` instead of `old`."""
        if old is not None:
            self._location_by_module.pop(old, None)
        if new is not None:
            self._location_by_module[new] = code

    def holder(self, code: str) -> tuple[str, str] | None:
        """The (order, line) whose pick the location's light shows now, if an order line holds it."""
        return self._holder.get(code)

    def held(self) -> Iterator[tuple[str, str, str]]:
        """(location, order, line) for every lit location."""
        for code, (order_id, line_id) in self._holder.items():
            yield code, order_id, line_id

    # -- lines -------------------------------------------------------------------------------------

    def light_or_queue(self, order: Order, line: OrderLine, outcome: Outcome) -> bool:
        """Light the line's location for it, or queue it behind the work holding it. True when lit."""
        location = line.location
        assert location is not None  # only placed lines are picked
        if location in self._holder or location in self._claimed:
            line.ticket = self._next_ticket
            self._next_ticket += 1
            self._waiting.setdefault(location, deque()).append((order.order_id, line.line_id))
            return False
        self._light_line(order, line, outcome)
        return True

    def withdraw(self, order: Order, line: OrderLine, outcome: Outcome) -> None:
        """The line no longer wants its light: hand a lit one on, take a queued one out of the queue."""
        if line.location is None:
            return
        if line.status is LineStatus.LIT:
            line.status = LineStatus.OPEN
            self.hand_on(line.location, outcome)
        elif line.ticket is not None:
            queue = self._waiting.get(line.location)
            if queue is not None:
                queue.remove((order.order_id, line.line_id))
            line.ticket = None

    def hand_on(self, code: str, outcome: Outcome) -> None:
        """The work holding this location's light is done: light the next waiting line or claim, or clear."""
        self._holder.pop(code, None)
        self._claimed.pop(code, None)
        queue = self._waiting.get(code)
        while queue:
            entry = queue.popleft()
            if isinstance(entry, _Claim):
                # A taker takes its claim out of the queue when it withdraws it: a queued claim is live.
                self._claimed[code] = entry
                self._takers[entry.kind].lit(code, entry.task, outcome)
                return
            order_id, line_id = entry
            order = self._state.orders[order_id]
            line = order.lines[line_id]
            if order.status is OrderStatus.CANCELLED or line.status is not LineStatus.OPEN:
                continue
            self._light_line(order, line, outcome)
            return
        module = self._state.locations[code].module
        if module is not None:
            self.set_light(module, outcome, color=None)

    def _light_line(self, order: Order, line: OrderLine, outcome: Outcome) -> None:
        state = self._state
        location = state.locations[line.location or ""]
        run = order.runs[location.zone]
        line.status = LineStatus.LIT
        line.ticket = None
        state.changes.lines.add((order.order_id, line.line_id))
        self._holder[location.code] = (order.order_id, line.line_id)
        if location.module is not None:
            self.set_light(
                location.module,
                outcome,
                color=run.color,
                blink=Blink.NONE,
                display=str(line.qty - line.picked),
                holder=(order.order_id, line.line_id),
            )

    def set_light(
        self,
        module: str,
        outcome: Outcome,
        *,
        color: str | None,
        blink: Blink = Blink.NONE,
        display: str = "",
        holder: tuple[str, str] | None = None,
    ) -> None:
        lights = self._state.lights
        light = lights.get(module)
        if light is None:
            light = lights[module] = Light(module=module)
        light.seq += 1
        light.color = color
        light.blink = blink
        light.display = display
        light.order_id, light.line_id = holder if holder else (None, None)
        self._state.changes.lights.add(module)
        if color is None:
            outcome.instructions.append(ClearBin(module=module, seq=light.seq))
        else:
            outcome.instructions.append(
                LightBin(module=module, seq=light.seq, color=color, blink=blink, display=display)
            )

    def reissue(self, module: str, outcome: Outcome, *, past: int = 0) -> None:
        """Send the module what it should show now again, under a new seq above its own and above `past`.

        A module re-sends a press until it sees a newer seq than the one it showed, so a press that leaves
        the light as it was must still be answered; and a retained command the floor did not send, at seq
        `past`, is outranked this way. An unknown module gets a light record (dark), so its seq can grow.
        """
        light = self._state.lights.get(module)
        if light is None:
            light = self._state.lights[module] = Light(module=module)
        light.seq = max(light.seq, past)
        holder = (
            (light.order_id, light.line_id)
            if light.order_id is not None and light.line_id is not None
            else None
        )
        self.set_light(
            module, outcome, color=light.color, blink=light.blink, display=light.display, holder=holder
        )

    # -- pickers' colours --------------------------------------------------------------------------

    def assign_color(self, zone: str, picker: str, order_id: str) -> str:
        pickers = self._pickers.setdefault(zone, {})
        if picker in pickers:
            color, orders = pickers[picker]
            orders.add(order_id)
            return color
        used = {color for color, _ in pickers.values()}
        free = [c for c in PICKER_PALETTE if c not in used]
        # More pickers than colours: reuse in palette order rather than refuse work.
        color = free[0] if free else PICKER_PALETTE[len(pickers) % len(PICKER_PALETTE)]
        pickers[picker] = (color, {order_id})
        return color

    def release_picker(self, zone: str, picker: str, order_id: str) -> None:
        pickers = self._pickers.get(zone)
        if not pickers or picker not in pickers:
            return
        _color, orders = pickers[picker]
        orders.discard(order_id)
        if not orders:
            del pickers[picker]

    # -- what the modules should show --------------------------------------------------------------

    def light_commands(self) -> list[Instruction]:
        """The command every module the floor has lit should show now, lit ones first: re-sent on start-up.

        Dark modules are sent their "off" again too. One committed just before a crash, or while the
        broker was away, may never have reached the broker, whose retained copy would then keep the
        module lit for a pick that is done: a light nobody may press.
        """
        return light_commands(self._state.lights.values())

    def lit_commands(self) -> list[LightBin]:
        """The command every lit module should show now."""
        return lit_commands(self._state.lights.values())


def light_commands(lights: Iterable[Light]) -> list[Instruction]:
    """The command each of these modules' lights says it should show, lit ones first (`LightBoard`'s, for
    lights read straight from a store: what a restart sends before the whole floor is back)."""
    lights = list(lights)
    dark: list[Instruction] = [
        ClearBin(module=light.module, seq=light.seq)
        for light in lights
        if light.color is None and light.seq > 0
    ]
    return [*lit_commands(lights), *dark]


def lit_commands(lights: Iterable[Light]) -> list[LightBin]:
    """The command of each of these lights that is lit."""
    return [
        LightBin(
            module=light.module,
            seq=light.seq,
            color=light.color,
            blink=light.blink,
            display=light.display,
        )
        for light in lights
        if light.color is not None
    ]
