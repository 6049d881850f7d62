"""Simulated pick-to-light modules on MQTT: a bank of modules with lights, displays, buttons and acks.

Each module behaves like the firmware the edge talks to (see the PTL table in DESIGN.md): it applies
`ptl/{module}/cmd` (retained, so a module that (re)connects shows what it should), acks each applied
seq on `ptl/{module}/ack`, reports key presses on `ptl/{module}/event`, and keeps
`ptl/{module}/status` (retained) at `online` while it is connected. A confirm or short is sent again, with
its id, until a `cmd` with a newer seq answers it (firmware_sim/ptl_presses.py); an empty `cmd` (its
retained copy deleted) is no command and is ignored.

The bank exists so that thousands of modules fit in one process: they share one asyncio loop and,
optionally, a few MQTT connections (`connections=K`). Tests, pickers and the CLI observe it through
`state()`, `lit()`, `stats` and change feeds (`watch()`), never by polling the broker; what they read
is defined in firmware_sim/ptl_observation.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, replace
from types import TracebackType
from typing import Self

import aiomqtt

from floorgate.core.commands import Button
from floorgate.devices.cancellation import raise_if_cancelling
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.ptl.codec import (
    MalformedPayload,
    ModuleEvent,
    PtlTopic,
    encode_ack,
    encode_event,
    parse_ptl_topic,
    ptl_topic,
)
from floorgate.firmware_sim.mqtt_client import drop_socket, make_client
from floorgate.firmware_sim.ptl_connection import BankConnection
from floorgate.firmware_sim.ptl_observation import (
    BankCounters,
    BankStats,
    ChangeCause,
    ChangeFeed,
    CommandOutcome,
    CommandReceipt,
    ModuleChange,
    ModuleState,
    decode_payload,
)
from floorgate.firmware_sim.ptl_presses import ANSWERED_BUTTONS, RESEND_EVERY, HeldPress, PressOutbox

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"

# Topics per SUBSCRIBE packet: one packet for 10k modules would be ~400 kB, which some brokers refuse.
_SUBSCRIBE_CHUNK = 500
# How long a clean stop may spend saying "offline" before it disconnects anyway.
_GOODBYE_TIMEOUT = 5.0
_FORBIDDEN_IN_MODULE_ID = ("/", "+", "#")

# Display edits by key: plus/minus step the shown quantity; the others only report it.
_DISPLAY_STEP: dict[Button, int] = {Button.PLUS: 1, Button.MINUS: -1}


class ModuleOffline(RuntimeError):
    """A key press that could not be reported because the module's connection is down."""


@dataclass(kw_only=True, slots=True)
class _Module:
    state: ModuleState
    acking: bool
    presses: int = 0


class ModuleBank:
    """Many simulated PTL modules of one site, on one or a few MQTT connections.

    With the default `connections=None` every module has its own connection, and so its own MQTT
    will: a module that drops off abruptly is reported `offline` (retained) by the broker, exactly
    like real firmware. With `connections=K` the modules are spread over K connections in contiguous
    blocks to save sockets; MQTT allows one will per connection, so the will then covers only the
    FIRST module of each connection. When such a connection drops abruptly the other modules on it
    keep a stale retained `online`, and the edge only learns they are gone from its ack timeout.
    A clean stop publishes `offline` for every module either way.

    With `resend_every` (seconds; None: never) a confirm or short is kept and sent again until the edge
    answers it, and one pressed while the module's connection is down waits for it instead of failing.

    `async with bank:` connects every connection and waits until each is subscribed and announced.
    Connections reconnect on their own with jittered exponential backoff; on every (re)connect the
    retained cmds are applied again (an equal seq is simply re-acked).
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        site: str,
        modules: Sequence[str],
        *,
        connections: int | None = None,
        ack: bool = True,
        identifier_prefix: str = "ptl-sim",
        reconnect_min: float = 0.2,
        reconnect_max: float = 10.0,
        rng: random.Random | None = None,
        on_cmd: Callable[[CommandReceipt], None] | None = None,
        resend_every: float | None = RESEND_EVERY,
    ) -> None:
        """`on_cmd` sees every cmd received (applied, repeated, stale or malformed); it runs inside
        the connection's message loop, so it must be quick and must not raise."""
        names = tuple(modules)
        if not names:
            raise ValueError("a ModuleBank needs at least one module")
        if len(set(names)) != len(names):
            raise ValueError("module ids must be unique")
        for name in names:
            if not name or any(char in name for char in _FORBIDDEN_IN_MODULE_ID):
                raise ValueError(f"module id {name!r} cannot be an MQTT topic level")
        if connections is not None and connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        self._endpoint = endpoint
        self._site = site
        self._names = names
        self._rng = rng or random.Random()
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._on_cmd = on_cmd
        self._modules = {name: _Module(state=ModuleState(module=name), acking=ack) for name in names}
        # A per-bank nonce in client ids: two banks of the same site (a test and a leftover, two
        # demo runs) would otherwise take each other's session over and over.
        nonce = secrets.token_hex(3)
        count = len(names) if connections is None else min(connections, len(names))
        self._connections: list[BankConnection] = []
        for index in range(count):
            block = names[index * len(names) // count : (index + 1) * len(names) // count]
            tag = block[0] if connections is None else f"c{index}"
            self._connections.append(
                BankConnection(
                    index=index,
                    identifier=f"{identifier_prefix}-{site}-{tag}-{nonce}",
                    modules=block,
                    members=frozenset(block),
                )
            )
        self._connection_of = {
            name: connection for connection in self._connections for name in connection.modules
        }
        self._feeds: set[ChangeFeed] = set()
        self._ack_tasks: set[asyncio.Task[None]] = set()
        self._counters = BankCounters()
        self._started = False
        self._outbox = PressOutbox(resend_every) if resend_every is not None else None
        self._resender: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, *, wait: bool = True, ready_within: float = 10.0) -> None:
        """Start every connection; with `wait`, return once all are online.

        Raises TimeoutError (after stopping again) when some connection is not online within
        `ready_within` seconds. With `wait=False` the connections keep trying in the background.
        """
        if self._started:
            raise RuntimeError("this ModuleBank is already running")
        self._started = True
        for connection in self._connections:
            if not connection.killed:
                connection.alive.set()
            connection.task = asyncio.create_task(
                self._run_connection(connection), name=f"ptl-sim-{connection.identifier}"
            )
            connection.task.add_done_callback(self._log_crash)
        if self._outbox is not None:
            self._resender = asyncio.create_task(self._outbox.run(self._send_due), name="ptl-sim-resend")
            self._resender.add_done_callback(self._log_crash)
        if not wait:
            return
        try:
            async with asyncio.timeout(ready_within):
                await self.wait_ready()
        except TimeoutError as err:
            down = [c.label for c in self._connections if not c.killed and not c.ready.is_set()]
            await self.stop()
            raise TimeoutError(
                f"PTL simulator connections {down} not online at {self._endpoint.url} within {ready_within}s"
            ) from err

    async def wait_ready(self) -> None:
        """Wait until every connection that is not killed is connected, subscribed and announced."""
        for connection in self._connections:
            if not connection.killed:
                await connection.ready.wait()

    async def stop(self) -> None:
        """Say `offline` for every module (the will covers only one per connection), then disconnect."""
        if not self._started:
            return
        self._started = False
        online = [
            (connection, connection.client)
            for connection in self._connections
            if connection.client is not None and connection.ready.is_set()
        ]
        try:
            async with asyncio.timeout(_GOODBYE_TIMEOUT):
                results = await asyncio.gather(
                    *(self._announce(connection, client, OFFLINE) for connection, client in online),
                    return_exceptions=True,
                )
        except TimeoutError:
            log.warning("PTL simulator: saying offline took over %ss; disconnecting", _GOODBYE_TIMEOUT)
        else:
            for (connection, _), result in zip(online, results, strict=True):
                if isinstance(result, BaseException):
                    log.warning("PTL simulator %s: could not publish offline: %s", connection.label, result)
        tasks = [c.task for c in self._connections if c.task is not None]
        tasks.extend(self._ack_tasks)
        if self._resender is not None:
            tasks.append(self._resender)
            self._resender = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in self._connections:
            connection.task = None

    # -- observation ----------------------------------------------------------------------------

    @property
    def modules(self) -> tuple[str, ...]:
        return self._names

    @property
    def site(self) -> str:
        return self._site

    @property
    def stats(self) -> BankStats:
        """A snapshot of the counters."""
        return BankStats(**asdict(self._counters))

    def state(self, module: str) -> ModuleState:
        return self._module(module).state

    def lit(self) -> dict[str, ModuleState]:
        """Every lit module and what it shows, in module order."""
        return {name: entry.state for name, entry in self._modules.items() if entry.state.lit}

    def unanswered(self, module: str | None = None) -> list[ModuleEvent]:
        """Presses of `module` (or of every module) the edge has not answered yet, in the order pressed."""
        return [held.event for held in self._outbox.held(module)] if self._outbox is not None else []

    def online(self, module: str) -> bool:
        return self._connection(module).ready.is_set()

    async def wait_online(self, module: str) -> None:
        """Wait until the module's connection is up (wrap in `asyncio.timeout` to bound it)."""
        await self._connection(module).ready.wait()

    def connection_index(self, module: str) -> int:
        """Which of the bank's connections carries `module` (0-based)."""
        return self._connection(module).index

    def watch(self, modules: Collection[str] | None = None, *, maxlen: int = 10_000) -> ChangeFeed:
        """A feed of changes to `modules` (all when None), registered now so nothing is missed.

        Use as `with bank.watch() as feed:` and then `async for change in feed` or `await feed.wait()`.
        """
        if modules is not None:
            for name in modules:
                self._module(name)
        feed = ChangeFeed(frozenset(modules) if modules is not None else None, maxlen, self._feeds.discard)
        self._feeds.add(feed)
        return feed

    # -- acting on modules ----------------------------------------------------------------------

    def set_acking(self, module: str, acking: bool) -> None:
        """With False the module still applies cmds but never acks them, like a half-dead module."""
        self._module(module).acking = acking

    async def press(self, module: str, button: Button) -> ModuleEvent:
        """Press a key: plus/minus first change the shown quantity, then the press is reported (QoS 1).

        The event carries what the module shows after the key (no `display` when it is off); plus and
        minus only edit a lit display that is a quantity. Raises ModuleOffline when the module's
        connection is down: a module cannot report then, and its display is left as it was; except that a
        bank that re-sends keeps a confirm or short then, and sends it once the module is back.
        """
        entry = self._module(module)
        connection = self._connection(module)
        client = connection.client
        held = self._outbox is not None and button in ANSWERED_BUTTONS
        if not held and (client is None or not connection.ready.is_set()):
            raise ModuleOffline(f"PTL module {module} is offline; cannot report {button.value}")
        step = _DISPLAY_STEP.get(button)
        shown = entry.state.quantity
        if step is not None and entry.state.lit and shown is not None:
            # Never below zero: a picker who found the bin empty reports 0, not a negative count.
            self._set_state(
                entry, replace(entry.state, display=str(max(0, shown + step))), ChangeCause.BUTTON
            )
        entry.presses += 1
        event = ModuleEvent(
            id=f"{module}-{entry.presses}-{secrets.token_hex(4)}",
            button=button,
            display=entry.state.display if entry.state.lit else None,
        )
        if held:
            assert self._outbox is not None
            self._outbox.hold(module, event, entry.state.seq)  # sent now, and again until answered
            return event
        assert client is not None
        try:
            await connection.publish(
                client, ptl_topic(self._site, module, PtlTopic.EVENT), encode_event(event)
            )
        except aiomqtt.MqttError as err:
            raise_if_cancelling()
            raise ModuleOffline(f"PTL module {module} lost its connection reporting {button}") from err
        self._counters.events_sent += 1
        return event

    def kill(self, module: str) -> None:
        """Drop the connection carrying `module` abruptly, like pulling its power.

        The broker sees the socket close without DISCONNECT and publishes the will (`offline` for the
        connection's first module). Every module on that connection goes dark and forgets its state;
        the connection stays down until `revive(module)`, which then reapplies the retained cmds.
        """
        connection = self._connection(module)
        connection.killed = True
        connection.alive.clear()
        connection.ready.clear()
        if connection.client is not None:
            drop_socket(connection.client)
        if self._outbox is not None:
            self._outbox.forget(connection.modules)
        for name in connection.modules:
            entry = self._modules[name]
            self._set_state(entry, ModuleState(module=name), ChangeCause.POWER_LOSS)

    def revive(self, module: str) -> None:
        """Power the connection carrying `module` up again after `kill()`."""
        connection = self._connection(module)
        connection.killed = False
        connection.alive.set()

    # -- internals ------------------------------------------------------------------------------

    def _module(self, module: str) -> _Module:
        try:
            return self._modules[module]
        except KeyError:
            raise KeyError(f"no simulated PTL module {module!r} in this bank") from None

    def _connection(self, module: str) -> BankConnection:
        self._module(module)
        return self._connection_of[module]

    def _set_state(self, entry: _Module, state: ModuleState, cause: ChangeCause) -> None:
        before = entry.state
        if state == before:
            return
        entry.state = state
        change = ModuleChange(module=state.module, before=before, after=state, cause=cause)
        for feed in tuple(self._feeds):
            feed._offer(change)  # the feed's producer side belongs to the bank

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._reconnect_max, self._reconnect_min * 2.0 ** min(failures, 16))
        # Jitter so that thousands of modules do not all reconnect in the same instant.
        return ceiling * self._rng.uniform(0.5, 1.0)

    async def _run_connection(self, connection: BankConnection) -> None:
        failures = 0
        first = connection.modules[0]
        will = aiomqtt.Will(
            topic=ptl_topic(self._site, first, PtlTopic.STATUS), payload=OFFLINE, qos=1, retain=True
        )
        while True:
            await connection.alive.wait()
            client = make_client(self._endpoint, identifier=connection.identifier, will=will)
            try:
                async with client:
                    connection.client = client
                    if connection.killed:
                        # kill() came while we were connecting: drop the new socket so the message
                        # loop below ends at once, and the will fires as for any power cut.
                        drop_socket(client)
                    else:
                        await self._subscribe(connection, client)
                        await self._announce(connection, client, ONLINE)
                        connection.ready.set()
                        if self._outbox is not None:
                            # Presses kept while it was away go out now, after the cmds are subscribed.
                            self._outbox.hurry(connection.modules)
                        self._counters.connects += 1
                        if failures:
                            log.info(
                                "PTL simulator %s: back online at %s",
                                connection.label,
                                self._endpoint.url,
                            )
                        failures = 0
                    async for message in client.messages:
                        self._on_message(connection, client, message)
            except aiomqtt.MqttError as err:
                raise_if_cancelling()
                if connection.killed:
                    log.info("PTL simulator %s: killed (power cut)", connection.label)
                elif failures == 0:
                    # Log the drop once; the retries after it are debug noise until it comes back.
                    log.warning(
                        "PTL simulator %s: disconnected from %s (%s); reconnecting with backoff",
                        connection.label,
                        self._endpoint.url,
                        err,
                    )
                else:
                    log.debug("PTL simulator %s: still cannot connect: %s", connection.label, err)
                failures += 1
            finally:
                connection.client = None
                connection.ready.clear()
            if not connection.killed:
                await asyncio.sleep(self._backoff(failures))

    async def _subscribe(self, connection: BankConnection, client: aiomqtt.Client) -> None:
        # Per-module topics rather than `ptl/+/cmd`: with K connections a wildcard would make every
        # connection receive (and discard) every cmd of the site.
        topics = [ptl_topic(self._site, name, PtlTopic.CMD) for name in connection.modules]
        for start in range(0, len(topics), _SUBSCRIBE_CHUNK):
            chunk = topics[start : start + _SUBSCRIBE_CHUNK]
            await client.subscribe([(topic, 1) for topic in chunk])

    async def _announce(self, connection: BankConnection, client: aiomqtt.Client, status: bytes) -> None:
        await asyncio.gather(
            *(
                connection.publish(
                    client,
                    ptl_topic(self._site, name, PtlTopic.STATUS),
                    status,
                    retain=True,
                )
                for name in connection.modules
            )
        )

    def _on_message(
        self, connection: BankConnection, client: aiomqtt.Client, message: aiomqtt.Message
    ) -> None:
        if connection.killed:
            return  # already queued when the power went: a dark module applies nothing
        parsed = parse_ptl_topic(self._site, message.topic.value)
        if parsed is None or parsed[1] is not PtlTopic.CMD or parsed[0] not in connection.members:
            log.debug("PTL simulator %s: ignoring %s", connection.label, message.topic.value)
            return
        module = parsed[0]
        entry = self._modules[module]
        self._counters.cmds_received += 1
        payload = message.payload
        if payload == b"":
            # The retained copy was deleted (an empty retained publish): no command, nothing to show or ack.
            self._counters.cmds_deleted += 1
            self._report(
                CommandReceipt(module=module, outcome=CommandOutcome.DELETED, command=None, acked=False)
            )
            return
        try:
            command = decode_payload(payload)
        except MalformedPayload as err:
            # A real module shrugs off garbage: count it, say so, keep showing what it showed.
            self._counters.cmds_malformed += 1
            log.warning("PTL module %s: malformed cmd %.80r: %s", module, payload, err)
            self._report(
                CommandReceipt(
                    module=module,
                    outcome=CommandOutcome.MALFORMED,
                    command=None,
                    acked=False,
                    error=str(err),
                )
            )
            return
        last = entry.state.seq
        if last is not None and command.seq < last:
            self._counters.cmds_stale += 1
            self._report(
                CommandReceipt(module=module, outcome=CommandOutcome.STALE, command=command, acked=False)
            )
            return
        if last is not None and command.seq == last:
            outcome = CommandOutcome.REPEATED
            self._counters.cmds_repeated += 1
        else:
            outcome = CommandOutcome.APPLIED
            self._counters.cmds_applied += 1
            self._set_state(entry, ModuleState.showing(module, command), ChangeCause.COMMAND)
            if self._outbox is not None:
                self._counters.presses_answered += self._outbox.answered(module, command.seq)
        if entry.acking:
            self._send_ack(connection, client, module, command.seq)
        self._report(CommandReceipt(module=module, outcome=outcome, command=command, acked=entry.acking))

    def _send_due(self, held: HeldPress) -> None:
        connection = self._connection_of[held.module]
        client = connection.client
        if client is not None and connection.ready.is_set():  # else it goes out when the module is back
            task = asyncio.create_task(self._send_held(connection, client, held), name="ptl-resend")
            self._ack_tasks.add(task)
            task.add_done_callback(self._ack_tasks.discard)

    async def _send_held(self, connection: BankConnection, client: aiomqtt.Client, held: HeldPress) -> None:
        topic = ptl_topic(self._site, held.module, PtlTopic.EVENT)
        try:
            await connection.publish(client, topic, held.payload)
        except aiomqtt.MqttError as err:
            raise_if_cancelling()
            log.debug("PTL module %s: press %s not sent: %s", held.module, held.event.id, err)
            return  # sent again when due, or when the connection is back
        if held.sends == 0:
            self._counters.events_sent += 1
        else:
            self._counters.events_resent += 1
        held.sends += 1

    def _report(self, receipt: CommandReceipt) -> None:
        if self._on_cmd is not None:
            self._on_cmd(receipt)

    def _send_ack(self, connection: BankConnection, client: aiomqtt.Client, module: str, seq: int) -> None:
        # Acks go out from their own tasks so the message loop never waits a broker round trip per
        # cmd; tasks start in creation order and the window serves its waiters first come, first
        # served, so acks leave in cmd order.
        task = asyncio.create_task(
            self._publish_ack(connection, client, module, seq), name=f"ptl-ack-{module}"
        )
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)

    async def _publish_ack(
        self, connection: BankConnection, client: aiomqtt.Client, module: str, seq: int
    ) -> None:
        try:
            await connection.publish(client, ptl_topic(self._site, module, PtlTopic.ACK), encode_ack(seq))
        except aiomqtt.MqttError as err:
            raise_if_cancelling()
            # The edge resends an unacked cmd, and the retained copy is re-acked on reconnect.
            log.debug("PTL module %s: ack of seq %s lost: %s", module, seq, err)
            return
        self._counters.acks_sent += 1

    @staticmethod
    def _log_crash(task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("PTL simulator task %s crashed", task.get_name(), exc_info=error)
