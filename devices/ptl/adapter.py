"""Pick-to-light adapter: module events, acks and status in as core commands; light commands out until acked.

Inbound (`floorgate/{site}/ptl/+/event|ack|status`) becomes `PressButton`, `ReportDeviceStatus` or, for a
frame that cannot be understood, `RecordDeviceFault`, handed to `submit` (the writer's bounded queue:
awaiting it is the backpressure). Outbound, `send()` records the module's latest wanted command and
hands it to the link at once (`ptl/{module}/cmd`, QoS 1, retained; the connection sends everything of
one event-loop turn together, so a commit's PUBACKs and light commands leave in one write); one timer
task resends it until the module acks its `seq`, then reports the module offline.

After every connect it puts the bus right (with `lights`, the floor's committed lights): when the broker
kept no session for the edge (a restart without persistence loses the retained commands too) and on the
process's first connect, every module's current command is published again; then what the broker retains
under `ptl/+/cmd` is read and made the floor's (devices/ptl/retained.py): a stale copy is replaced, a seq
at or above the floor's is outranked first (`SupersedeRetainedCommand` through the writer), and a command
on a module no location has is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from floorgate.core.commands import (
    PressButton,
    RecordDeviceFault,
    ReportDeviceStatus,
    SupersedeRetainedCommand,
)
from floorgate.core.instructions import Instruction
from floorgate.core.module_lights import MAX_SEEN_SEQ
from floorgate.devices.mqtt.link import Connected, InboundMessage, LinkDown, MqttLink
from floorgate.devices.mqtt.scan import ScanRefused, ScanTimedOut
from floorgate.devices.ports import Submit
from floorgate.devices.ptl.codec import (
    MalformedPayload,
    PtlTopic,
    decode_ack,
    decode_event,
    decode_status,
    encode_command,
    parse_ptl_topic,
    ptl_filter,
    ptl_topic,
)
from floorgate.devices.ptl.retained import FloorLights, plan_corrections

logger = logging.getLogger(__name__)


DEVICE_KIND = "ptl"
TRANSPORT = "mqtt"
NO_ACK = "no_ack"
PAYLOAD_EXCERPT_CHARS = 200
_NOT_IN_A_TOPIC_LEVEL = frozenset("/+#\x00")
# Commands republished per event-loop turn after a reconnect (10k lit modules go out in 20 turns).
REPUBLISH_BURST = 500
# How long a scan of the retained commands may take: 10k modules' commands arrive well within a second.
RETAINED_SCAN_WITHIN = 10.0

# The floor's committed lights, read between two of the writer's batches.
LightsProvider = Callable[[], Awaitable[FloorLights]]


@dataclass(slots=True)
class PtlStats:
    """Counters for metrics: messages received, malformed frames, commands resent and published, retained
    commands corrected."""

    received: int = 0
    malformed: int = 0
    resent: int = 0
    published: int = 0
    retained_corrected: int = 0  # retained commands found unlike the floor's and replaced or deleted


class PendingAck(NamedTuple):
    """A command waiting for its module's ack: its seq, publishes so far, seconds since it was sent."""

    seq: int
    attempts: int
    age: float


@dataclass(slots=True, eq=False)
class _Wanted:
    """The latest command a module should show, while it is not acked."""

    instruction: Instruction
    since: float
    payload: bytes | None = None
    attempts: int = 0  # publishes on the current connection without an ack
    publishes: int = 0  # every publish of this command, for the `resent` counter
    generation: int = 0  # changes on every publish: a deadline armed for an older one is stale


class PtlAdapter:
    """Speaks the PTL MQTT protocol over an `MqttLink`. Build it before the link runs; run `run()`."""

    def __init__(
        self,
        link: MqttLink,
        site: str,
        submit: Submit,
        *,
        ack_timeout: float = 1.0,
        max_attempts: int = 5,
        clock: Callable[[], float] = time.monotonic,
        lights: LightsProvider | None = None,
        foreign_modules: Container[str] = frozenset(),
        clear_unknown: bool = True,
    ) -> None:
        """`lights` gives the floor's committed lights; without it the adapter republishes only what is
        unacked after a connect and leaves the retained commands alone. `foreign_modules` (other edges'
        modules) and `clear_unknown` say which retained commands it may delete (see `plan_corrections`)."""
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be positive, got {ack_timeout}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._link = link
        self._site = site
        self._submit = submit
        self._ack_timeout = ack_timeout
        self._max_attempts = max_attempts
        self._clock = clock
        self._stats = PtlStats()
        self._latest_seq: dict[str, int] = {}
        self._pending: dict[str, _Wanted] = {}
        self._silent: set[str] = set()  # reported offline for want of an ack, until one arrives
        self._deadlines: list[tuple[float, int, str]] = []
        self._timer_wake = asyncio.Event()
        self._generations = itertools.count(1)
        self._lights = lights
        self._foreign = foreign_modules
        self._clear_unknown = clear_unknown
        self._lights_out = asyncio.Event()
        link.route(ptl_filter(site, PtlTopic.EVENT), self._on_event)
        link.route(ptl_filter(site, PtlTopic.ACK), self._on_ack)
        link.route(ptl_filter(site, PtlTopic.STATUS), self._on_status)
        link.add_connect_listener(self._on_link_connected)

    # -- public API ---------------------------------------------------------------------------------

    @property
    def stats(self) -> PtlStats:
        """A snapshot of the counters."""
        return replace(self._stats)

    def send(self, instruction: Instruction) -> None:
        """Make `instruction` the module's wanted command and have it published; never blocks.

        A command older than (or the same as) the module's latest is ignored: the newer one already
        replaced it, on the wire and in the retained message.
        """
        latest = self._latest_seq.get(instruction.module)
        if latest is not None and instruction.seq <= latest:
            if instruction.seq < latest:
                logger.debug(
                    "stale PTL command ignored",
                    extra={"device": instruction.module, "seq": instruction.seq, "latest": latest},
                )
            return
        self._want(instruction)

    def resend_all(self, instructions: Iterable[Instruction]) -> int:
        """Publish every given module's command again, whatever was sent before (an adapter built with
        `lights` does this itself on its first connect and whenever the broker lost its session).

        Returns how many were accepted.
        """
        return sum(self._want(instruction) for instruction in instructions)

    def pending(self) -> Mapping[str, PendingAck]:
        """Commands waiting for an ack, by module (for the dashboard)."""
        now = self._clock()
        return {
            module: PendingAck(wanted.instruction.seq, wanted.attempts, now - wanted.since)
            for module, wanted in self._pending.items()
        }

    async def lights_out(self) -> None:
        """Return once a connect of the link has published the floor's lights (every module's after the
        first connect), so work that can wait (recounting the KPIs) does not slow that burst down."""
        await self._lights_out.wait()

    async def run(self) -> None:
        """Watch ack deadlines (and resend) until cancelled."""
        await self._ack_timer()

    # -- inbound ------------------------------------------------------------------------------------

    def _module_of(self, message: InboundMessage) -> str | None:
        parsed = parse_ptl_topic(self._site, message.topic)
        if parsed is None:
            # Our filters only match PTL topics of this site, so this is a broker delivering
            # something we did not ask for (amqtt does after a persistent-session reconnect).
            logger.debug("not a PTL topic of this site", extra={"topic": message.topic})
            return None
        return parsed[0]

    async def _on_event(self, message: InboundMessage) -> None:
        self._stats.received += 1
        module = self._module_of(message)
        if module is None:
            return
        try:
            event = decode_event(message.payload)
        except MalformedPayload as err:
            await self._malformed(module, message, err)
            return
        await self._submit(
            PressButton(
                message_id=f"ptl:{module}:{event.id}",
                module=module,
                button=event.button,
                display=event.display,
            ),
            on_commit=message.delivery.take(),
        )

    async def _on_ack(self, message: InboundMessage) -> None:
        self._stats.received += 1
        module = self._module_of(message)
        if module is None:
            return
        try:
            seq = decode_ack(message.payload)
        except MalformedPayload as err:
            await self._malformed(module, message, err)
            return
        wanted = self._pending.get(module)
        if wanted is not None and seq >= wanted.instruction.seq:
            # Dropping it from `_pending` also makes every deadline armed for it stale.
            del self._pending[module]
        if module in self._silent:
            self._silent.discard(module)
            logger.info("PTL module acks again", extra={"device": module, "seq": seq})
            await self._submit(
                ReportDeviceStatus(
                    device=module, kind=DEVICE_KIND, online=True, transport=TRANSPORT, reason="ack"
                )
            )

    async def _on_status(self, message: InboundMessage) -> None:
        self._stats.received += 1
        module = self._module_of(message)
        if module is None:
            return
        if not message.payload:
            # An empty retained message is how a decommissioned module's status is cleared.
            return
        try:
            online = decode_status(message.payload)
        except MalformedPayload as err:
            await self._malformed(module, message, err)
            return
        await self._submit(
            ReportDeviceStatus(device=module, kind=DEVICE_KIND, online=online, transport=TRANSPORT),
            on_commit=message.delivery.take(),
        )

    async def _malformed(self, module: str, message: InboundMessage, err: MalformedPayload) -> None:
        self._stats.malformed += 1
        excerpt = message.payload[: PAYLOAD_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        logger.warning(
            "malformed PTL frame",
            extra={"device": module, "topic": message.topic, "reason": str(err)},
        )
        await self._submit(
            RecordDeviceFault(
                device=module,
                kind=DEVICE_KIND,
                reason=str(err),
                detail={"topic": message.topic, "payload": excerpt[:PAYLOAD_EXCERPT_CHARS]},
            ),
            on_commit=message.delivery.take(),
        )

    # -- outbound -----------------------------------------------------------------------------------

    def _want(self, instruction: Instruction) -> bool:
        module = instruction.module
        if not module or any(char in module for char in _NOT_IN_A_TOPIC_LEVEL):
            # Publishing would fail (or, with a "/", light some other module); refuse it here rather
            # than let one bad location record kill the publisher.
            logger.error("PTL module id cannot be an MQTT topic level", extra={"device": module})
            return False
        if module in self._foreign:
            # Another edge's zone has it (every edge of a site hears every press, and answers one on a
            # module it does not know): its retained command is that edge's to write, not ours.
            logger.debug("PTL command for another edge's module not sent", extra={"device": module})
            return False
        self._latest_seq[module] = instruction.seq
        wanted = _Wanted(instruction=instruction, since=self._clock(), generation=next(self._generations))
        self._pending[module] = wanted
        self._publish(module, wanted)
        return True

    async def _on_link_connected(self, connected: Connected) -> None:
        # What the broker retains is read first, before this connect publishes anything over it: a module
        # may show a planted seq above ours, and only the planted copy says so.
        found = await self._scan_retained() if self._lights is not None else None
        republished: set[str] = set()
        if self._lights is not None and (connected.first or not connected.session_present):
            # The broker kept nothing of ours (or this process never published): every module's light,
            # whatever was sent before. Read after the connect, so a light committed while the link was
            # down is in it.
            lights = await self._lights()
            logger.info(
                "publishing every module's light state",
                extra={"modules": len(lights.commands), "session_present": connected.session_present},
            )
            republished = await self._republish(lights.commands)
        # Whatever was published on the old connection may never have reached the module (or its ack
        # never reached us): publish every pending command again, with a fresh round of attempts.
        unacked = [module for module in self._pending if module not in republished]
        if unacked:
            logger.info("republishing unacked PTL commands", extra={"count": len(unacked)})
        for count, module in enumerate(unacked, start=1):
            wanted = self._pending.get(module)
            if wanted is None:
                continue  # acked meanwhile
            wanted.attempts = 0
            self._publish(module, wanted)
            if count % REPUBLISH_BURST == 0:
                await asyncio.sleep(0)  # let the connection send this burst and the floor go on
        self._lights_out.set()
        if found is not None:
            await self._correct_retained(found, republished)

    async def _republish(self, commands: Iterable[Instruction]) -> set[str]:
        """Publish each command again with a fresh round of attempts, unless a newer one replaced it."""
        done: set[str] = set()
        for instruction in commands:
            latest = self._latest_seq.get(instruction.module)
            if latest is not None and instruction.seq < latest:
                continue  # committed and sent since the floor was read
            if self._want(instruction):
                done.add(instruction.module)
                if len(done) % REPUBLISH_BURST == 0:
                    await asyncio.sleep(0)  # let the connection send this burst and the floor go on
        return done

    async def _scan_retained(self) -> dict[str, bytes] | None:
        """Every `cmd` retained under this site now; None when the broker would not say."""
        try:
            return await self._link.scan_retained(
                ptl_filter(self._site, PtlTopic.CMD), within=RETAINED_SCAN_WITHIN
            )
        except (ScanTimedOut, ScanRefused) as err:
            # Not fatal: the floor's own commands still go out; the next connect scans again.
            logger.warning("could not read the retained PTL commands", extra={"error": str(err)})
            return None

    async def _correct_retained(self, found: Mapping[str, bytes], republished: set[str]) -> None:
        """Make every retained `cmd` found the floor's (devices/ptl/retained.py)."""
        assert self._lights is not None
        # Read after the scan: a command sent meanwhile is the floor's, and replaced the copy found.
        lights = await self._lights()
        plan = plan_corrections(
            self._site, found, lights, foreign=self._foreign, clear_unknown=self._clear_unknown
        )
        if plan.left:
            logger.info(
                "retained PTL commands of modules this edge does not know left alone",
                extra={"modules": plan.left[:20], "count": len(plan.left)},
            )
        if not plan:
            return
        logger.warning(
            "retained PTL commands differ from the floor's; correcting them",
            extra={
                "republish": [i.module for i in plan.republish][:20],
                "supersede": dict(list(plan.supersede.items())[:20]),
                "clear": plan.clear[:20],
            },
        )
        self._stats.retained_corrected += len(plan.republish) + len(plan.supersede) + len(plan.clear)
        await self._republish(i for i in plan.republish if i.module not in republished)
        for topic in plan.clear:
            # Deletes the retained copy; a module takes an empty `cmd` as "nothing retained" and ignores it.
            self._link.publish_nowait(topic, b"", qos=1, retain=True)
        for module, seen_seq in plan.supersede.items():
            if seen_seq > MAX_SEEN_SEQ:
                # No seq the floor may take outranks it: delete the copy, so a module that restarts is
                # at least not lit by it again.
                logger.error(
                    "retained PTL command with a seq too high to outrank; deleting it",
                    extra={"device": module, "seq": seen_seq},
                )
                self._link.publish_nowait(
                    ptl_topic(self._site, module, PtlTopic.CMD), b"", qos=1, retain=True
                )
                continue
            # Through the writer like any light change: the new seq is committed, then sent by `send`.
            await self._submit(SupersedeRetainedCommand(module=module, seen_seq=seen_seq))

    def _publish(self, module: str, wanted: _Wanted) -> None:
        if wanted.payload is None:
            wanted.payload = encode_command(wanted.instruction)
        try:
            # No wait for the broker's PUBACK: the module's own ack is what counts, and a missing one
            # sends the command again.
            self._link.publish_nowait(
                ptl_topic(self._site, module, PtlTopic.CMD), wanted.payload, qos=1, retain=True
            )
        except LinkDown:
            # Still pending: the connect listener publishes it again once the link is back.
            return
        self._stats.published += 1
        if wanted.publishes:
            self._stats.resent += 1
        wanted.publishes += 1
        wanted.attempts += 1
        self._arm(module, wanted)

    # -- ack deadlines ------------------------------------------------------------------------------

    def _arm(self, module: str, wanted: _Wanted) -> None:
        wanted.generation = next(self._generations)
        entry = (self._clock() + self._ack_timeout, wanted.generation, module)
        heapq.heappush(self._deadlines, entry)
        if self._deadlines[0] is entry:
            self._timer_wake.set()

    async def _ack_timer(self) -> None:
        # One task for every module's deadline: a heap ordered by deadline, and a wait that lasts exactly
        # until the nearest one (or until an earlier one is armed). Stale entries are skipped when popped.
        while True:
            if self._deadlines and self._deadlines[0][0] <= self._clock():
                _, generation, module = heapq.heappop(self._deadlines)
                await self._ack_overdue(module, generation)
                continue
            self._timer_wake.clear()
            delay = self._deadlines[0][0] - self._clock() if self._deadlines else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._timer_wake.wait()

    async def _ack_overdue(self, module: str, generation: int) -> None:
        wanted = self._pending.get(module)
        if wanted is None or wanted.generation != generation:
            return
        if not self._link.connected:
            # Our outage, not the module's: the connect listener starts a fresh round of attempts.
            return
        if wanted.attempts < self._max_attempts:
            self._publish(module, wanted)
            return
        if module in self._silent:
            return
        self._silent.add(module)
        logger.warning(
            "PTL module does not ack",
            extra={"device": module, "seq": wanted.instruction.seq, "attempts": wanted.attempts},
        )
        await self._submit(
            ReportDeviceStatus(
                device=module, kind=DEVICE_KIND, online=False, transport=TRANSPORT, reason=NO_ACK
            )
        )
