"""The running edge: builds the store, writer, MQTT link, PTL adapter and web server, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floorgate.core import barcodes
from floorgate.core import commands as cmd
from floorgate.core.floor import Floor
from floorgate.core.instructions import Instruction
from floorgate.core.light_board import light_commands
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.ports import StationDevice
from floorgate.devices.ptl.adapter import PtlAdapter
from floorgate.devices.ptl.early import publish_stored_lights
from floorgate.devices.ptl.retained import FloorLights
from floorgate.edge.heap import load_frozen, resume_collections, settle_heap
from floorgate.edge.site import SiteConfig
from floorgate.edge.store import Loaded, Store, StoreError, make_engine
from floorgate.edge.store.queries import events_since
from floorgate.edge.store.retention import Retention, prune_store
from floorgate.edge.webhooks.deliveries import DeliveryStore
from floorgate.edge.webhooks.endpoints import WebhookService
from floorgate.edge.webhooks.outbox import Endpoint, EndpointRegistry
from floorgate.edge.webhooks.relay import RetryPolicy, WebhookRelay
from floorgate.edge.wiring.stations import station_devices
from floorgate.edge.wiring.types import DeviceContext
from floorgate.edge.writer import Writer, WriterUnavailable

if TYPE_CHECKING:
    import uvicorn

    from floorgate.web.kpis import KpiTracker
    from floorgate.web.roles import Role
    from floorgate.web.stream import StreamHub

log = logging.getLogger(__name__)


class EdgeStartupError(Exception):
    """The edge cannot start as configured; the message says what to change."""


def listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP port before anything else starts, so a port in use is a clear error at once."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        raise EdgeStartupError(
            f"cannot listen for HTTP on {host}:{port}: {err.strerror or err}; "
            "another process has the port, or the host is not this machine's: change [http] in the site file"
        ) from err
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True, kw_only=True)
class PairLink:
    """An active/standby pair's MQTT side: one client id for both edges, driven by the lease holder."""

    client_id: str
    may_drive: Callable[[], bool]


@dataclass(kw_only=True)
class EdgeParts:
    """What a running edge is made of; tests and the demo reach the parts through it."""

    config: SiteConfig
    store: Store
    writer: Writer
    link: MqttLink
    ptl: PtlAdapter
    hub: StreamHub
    server: uvicorn.Server
    tokens: Mapping[str, Role]
    http_socket: socket.socket
    devices: list[StationDevice] = field(default_factory=list)
    relay: WebhookRelay | None = None
    webhooks: WebhookService | None = None
    started_at: float = field(default_factory=time.time)
    loaded_seq: int = 0  # the event log's last seq when the floor was read back

    @property
    def url(self) -> str:
        scheme = "https" if self.config.http.https else "http"
        return f"{scheme}://{self.config.http.host}:{self.config.http.port}"


async def build(
    config: SiteConfig,
    *,
    mqtt: MqttEndpoint,
    admin_tokens: Sequence[str] = (),
    http_socket: socket.socket | None = None,
    pair: PairLink | None = None,
    early_lights: bool = False,
) -> EdgeParts:
    """Open the store, rebuild the floor from it and wire every part; nothing runs yet.

    `http_socket`: one already listening (a standby pair's, kept across takeovers); `pair`: the MQTT
    session an active/standby pair shares, and whether this edge may drive it now (edge/standby/);
    `early_lights`: publish the stored lights before the rest of the floor is read (devices/ptl/early.py).
    """
    if http_socket is None:
        http_socket = listen(config.http.host, config.http.port)
    loop = asyncio.get_running_loop()

    def publish_early(commands: list[Instruction]) -> None:
        # In the store's thread, which waits: the lights' burst has the interpreter to itself, and it ends
        # before the link publishes anything (an early command must not overtake a newer one of the link's).
        asyncio.run_coroutine_threadsafe(
            publish_stored_lights(
                mqtt,
                client_id=f"floorgate-{config.site.id}-{config.edge.id}-lights",
                site=config.site.id,
                commands=commands,
                foreign=_module_ownership(config)["foreign_modules"],
            ),
            loop,
        ).result()

    try:
        store, loaded, endpoints = await asyncio.to_thread(
            _open_store, config, publish_early if early_lights else None
        )
    except StoreError as err:
        http_socket.close()
        raise EdgeStartupError(str(err)) from err
    # The web's modules (FastAPI, uvicorn, pydantic's models) take a good part of a second to import: only
    # now, with the floor's lights out, not before them.
    import uvicorn

    from floorgate.edge.http_server import EdgeServer
    from floorgate.edge.web_ports import LiveFloor, web_context
    from floorgate.web.app import create_app
    from floorgate.web.roles import Role
    from floorgate.web.stream import StreamHub

    deliveries = DeliveryStore(store.engine)
    registry = EndpointRegistry(endpoints)
    writer = Writer(
        store=store,
        floor=loaded.floor,
        last_seq=loaded.last_seq,
        recent_inbound_ids=loaded.recent_inbound_ids,
        outbox=registry,
        retain_finished_s=config.edge.retire_finished_orders_after_h * 3600,
    )

    async def endpoint_gone(endpoint: Endpoint, reason: str) -> None:
        try:
            await writer.execute(
                cmd.RaiseException(
                    kind="webhook_endpoint_gone",
                    message=f"webhook endpoint {endpoint.id!r} was disabled: {reason}; "
                    "deliveries wait for it to be re-enabled",
                    device=f"webhook:{endpoint.id}",
                    detail={"endpoint": endpoint.id},
                )
            )
        except WriterUnavailable as err:
            # The endpoint is disabled all the same (its deliveries wait); only the exception for a
            # person could not be recorded while the store fails. The log says so.
            log.error(  # noqa: TRY400 - the reason is the message
                "webhook endpoint disabled, but the exception could not be recorded",
                extra={"endpoint": endpoint.id, "error": str(err)},
            )

    retry = config.webhook_delivery
    relay = WebhookRelay(
        deliveries=deliveries,
        registry=registry,
        on_gone=endpoint_gone,
        policy=RetryPolicy(
            max_attempts=retry.max_attempts,
            base_delay=retry.retry_base_s,
            max_delay=retry.retry_max_s,
            timeout=retry.timeout_s,
        ),
    )
    webhooks = WebhookService(registry=registry, deliveries=deliveries, relay=relay)
    link = MqttLink(
        mqtt,
        config.site.id,
        config.edge.id,
        client_id=None if pair is None else pair.client_id,
        may_drive=None if pair is None else pair.may_drive,
    )
    ptl = PtlAdapter(
        link,
        config.site.id,
        writer.submit,
        lights=lambda: writer.read_committed(floor_lights),
        **_module_ownership(config),
    )
    hub = StreamHub(
        floor=LiveFloor(floor=lambda: writer.floor),
        last_seq=lambda: writer.last_seq,
        pending_commands=lambda: {
            module: {"seq": p.seq, "attempts": p.attempts, "age_s": round(p.age, 3)}
            for module, p in ptl.pending().items()
        },
    )
    # The shift's KPIs are counted again from the event log once the lights are out (`_run_parts`); the
    # hub keeps what commits meanwhile.
    hub.recount_kpis()

    def send_lights(committed: Any) -> None:
        for instruction in committed.instructions:
            ptl.send(instruction)

    devices = station_devices(DeviceContext(config=config, submit=writer.submit, link=link))
    writer.subscribe(send_lights)
    writer.subscribe(lambda committed: relay.wake() if committed.events else None)
    writer.subscribe(hub.on_commit)
    # Tokens besides the site file's (the demo's own) act as admin.
    tokens = {**config.tokens_by_value(), **dict.fromkeys(admin_tokens, Role.ADMIN)}
    parts_started = time.time()
    context = web_context(
        site_id=config.site.id,
        edge_id=config.edge.id,
        writer=writer,
        store=store,
        tokens=tokens,
        token_names=config.token_names(),
        hub=hub,
        pending_commands=hub.pending_commands,
        figures=lambda: _ptl_metrics(ptl),
        webhooks=webhooks,
        started_at=parts_started,
        mqtt_connected=lambda: link.connected,
        # Asked only while the server below serves: once it is told to stop, the edge takes no more work.
        inactive=lambda: "the edge is stopping" if server.should_exit else None,
        foreign_locations=_foreign_locations(config),
    )
    server = EdgeServer(
        uvicorn.Config(
            create_app(context),
            host=config.http.host,
            port=config.http.port,
            # With a certificate the socket speaks TLS only: a plain http:// request is not answered.
            ssl_certfile=config.http.cert_file,
            ssl_keyfile=config.http.key_file,
            log_level="warning",
            access_log=False,
            # No lifespan: the edge starts and stops its own parts, and uvicorn waits without a timeout
            # for a lifespan task that an early Ctrl-C has already cancelled.
            lifespan="off",
            ws="websockets-sansio",
            # The stream sends every dashboard the same text, but permessage-deflate compresses it again
            # for each connection: with 50 dashboards at 500 events/s that was most of the edge's CPU,
            # and at 200 it slowed the floor itself (bench.dashboard_lag). Uncompressed costs bandwidth
            # (about 0.7 MB/s a dashboard at that rate), which a site's LAN has and its CPU does not.
            ws_per_message_deflate=False,
        )
    )
    return EdgeParts(
        config=config,
        store=store,
        writer=writer,
        link=link,
        ptl=ptl,
        hub=hub,
        server=server,
        tokens=tokens,
        http_socket=http_socket,
        devices=devices,
        relay=relay,
        webhooks=webhooks,
        started_at=parts_started,
        loaded_seq=loaded.last_seq,
    )


def floor_lights(floor: Floor) -> FloorLights:
    """The floor's lights for the PTL adapter: every module's command, and every module of a location or a
    put wall."""
    return FloorLights(
        commands=floor.light_commands(),
        modules=frozenset(loc.module for loc in floor.locations.values() if loc.module is not None)
        | frozenset(cubby for wall in floor.walls.values() for cubby in wall.cubbies),
    )


def _module_ownership(config: SiteConfig) -> dict[str, Any]:
    """Which retained commands the PTL adapter may delete: never one of another edge's zone's modules, and
    none it does not know at all when other edges share the site (it cannot tell theirs from nobody's)."""
    owned = {zone.id for zone in config.owned_zones()}
    foreign = frozenset(
        loc.module for loc in config.locations if loc.module is not None and loc.zone not in owned
    ) | frozenset(
        c for wall in config.walls if wall.zone is not None and wall.zone not in owned for c in wall.cubbies
    )
    shared = any(zone.id not in owned for zone in config.zones)
    return {"foreign_modules": foreign, "clear_unknown": not shared}


def _foreign_locations(config: SiteConfig) -> dict[str, str]:
    owned = {zone.id for zone in config.owned_zones()}
    return {loc.code: loc.zone for loc in config.locations if loc.zone not in owned}


def _open_store(
    config: SiteConfig, lights_read: Callable[[list[Instruction]], None] | None = None
) -> tuple[Store, Loaded, list[Endpoint]]:
    """Open the store, refuse it now if it cannot take writes, and read the floor and the endpoints back;
    `lights_read` is handed the stored lights' commands first, before the rest of the floor is read."""
    store = Store(make_engine(config.store.url, max_size_mb=config.store.max_size_mb))
    try:
        store.check_folder()
        store.create_schema()
        store.check_writable()
        if lights_read is not None:
            lights_read(light_commands(store.lights()))
        started = time.perf_counter()
        retain_s = config.edge.retire_finished_orders_after_h * 3600
        loaded = load_frozen(store, retire_before=time.time() - retain_s)
        log.info(
            "floor restored from the store",
            extra={
                "store": store.location,
                "orders": len(loaded.floor.orders),
                "locations": len(loaded.floor.locations),
                "lit": len(loaded.floor.lit_commands()),
                "last_seq": loaded.last_seq,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        endpoints = WebhookService.load(DeliveryStore(store.engine), config, time.time())
    except StoreError:
        store.close()
        raise
    return store, loaded, endpoints


# How long the KPIs' recount waits for the lights to be out before it starts anyway (a broker that is down).
KPI_RECOUNT_WAITS_S = 5.0


async def _recount_kpis(parts: EdgeParts, *, through_seq: int) -> None:
    """Count the shift's KPIs again from the event log, off the start's path: only once every module's
    light is out (or a while later when the broker cannot be reached), since the recount holds the
    interpreter for as long as a shift's events take to read, and the lights' burst would wait for it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(KPI_RECOUNT_WAITS_S):
            await parts.ptl.lights_out()
    # Also left until now, and in a thread: the import takes a twentieth of a second, which the loop (the
    # first /healthz answers, the presses) need not wait for.
    await asyncio.to_thread(barcodes.preload)
    try:
        recounted = await asyncio.to_thread(_shift_kpis, parts.store, through_seq=through_seq)
    except StoreError as err:
        log.warning("shift KPIs not recounted from the event log: %s", err)
        return
    parts.hub.adopt_kpis(recounted)


def _shift_kpis(store: Store, *, through_seq: int) -> KpiTracker:
    """The shift's KPIs counted again from the event log, so a restart mid-shift shows what it showed
    before. Only the shift's events are read, a page at a time; later ones reach the hub as they commit."""
    from floorgate.web.kpis import DATA_TYPES, KpiTracker

    started = time.perf_counter()
    kpis = KpiTracker.current_shift(time.time())
    kpis.record_all(
        events_since(store.engine, kpis.shift_started_at, through_seq=through_seq, data_of=DATA_TYPES)
    )
    log.info(
        "shift KPIs counted from the event log",
        extra={"events": kpis.shift.events, "seconds": round(time.perf_counter() - started, 3)},
    )
    return kpis


def _ptl_metrics(ptl: PtlAdapter) -> dict[str, float]:
    stats = ptl.stats
    return {
        "floorgate_ptl_messages_received_total": stats.received,
        "floorgate_ptl_messages_malformed_total": stats.malformed,
        "floorgate_ptl_commands_published_total": stats.published,
        "floorgate_ptl_commands_resent_total": stats.resent,
        "floorgate_ptl_commands_awaiting_ack": len(ptl.pending()),
        "floorgate_ptl_retained_corrected_total": stats.retained_corrected,
    }


async def apply_site(parts: EdgeParts) -> None:
    """Bring the floor in line with the site file: its zones, stations, put walls and the locations it declares.

    A location's on-hand from the file only seeds a new location: on a restart the live count wins.
    Commands go to the writer together, so thousands of locations share a few transactions, and a
    location the floor already has as the file says is left alone.
    """
    config = parts.config
    writer = parts.writer
    owned = {zone.id for zone in config.owned_zones()}
    await _execute_all(
        writer,
        [
            cmd.DefineZone(zone=zone.id, scan_verify=zone.scan_verify, name=zone.name or "")
            for zone in config.owned_zones()
        ],
    )
    await _execute_all(
        writer,
        [
            cmd.DefineStation(
                station=station.id,
                kind=cmd.StationKind(station.kind),
                zone=station.zone,
                tolerance_g=station.tolerance_g,
                tolerance_pct=station.tolerance_pct,
                tare_g=station.tare_g,
                mode=cmd.StationMode(station.mode),
            )
            for station in config.stations
            if station.zone is None or station.zone in owned
        ],
    )
    await _execute_all(
        writer, [cmd.DefineWall(wall=wall.id, cubbies=wall.cubbies) for wall in config.owned_walls()]
    )
    await _execute_all(
        writer, [cmd.DefineCountPolicy(variance_exception_pct=config.counts.variance_exception_pct)]
    )
    changed = []
    for spec in config.locations:
        if spec.zone not in owned:
            continue
        existing = writer.floor.locations.get(spec.code)
        if (
            existing is not None
            and (existing.zone, existing.module) == (spec.zone, spec.module)
            and spec.sku in (None, existing.sku)
        ):
            continue
        changed.append(
            cmd.UpsertLocation(
                code=spec.code,
                zone=spec.zone,
                module=spec.module,
                sku=spec.sku,
                on_hand=spec.on_hand if existing is None else None,
            )
        )
    await _execute_all(writer, changed)


RETIRE_EVERY_S = 60.0


async def retire_finished_orders(writer: Writer, every: float = RETIRE_EVERY_S) -> None:
    """Once a minute, let finished orders past their retention leave memory (they stay in the store)."""
    while True:
        await asyncio.sleep(every)
        before = writer.retire_before()
        if before is None:
            return
        try:
            applied = await writer.execute(cmd.RetireFinishedOrders(before=before))
        except WriterUnavailable:
            continue  # the store fails; the floor keeps them a minute longer, which costs nothing
        retired = applied.outcome.reply.get("retired", 0)
        if retired:
            log.info(
                "finished orders left memory", extra={"orders": retired, "held": len(writer.floor.orders)}
            )


async def _execute_all(writer: Writer, commands: Sequence[cmd.Command], chunk: int = 5000) -> None:
    for start in range(0, len(commands), chunk):
        await asyncio.gather(*(writer.execute(c) for c in commands[start : start + chunk]))


async def run_edge(
    parts: EdgeParts,
    *,
    on_ready: Callable[[EdgeParts], Awaitable[None]] | None = None,
) -> None:
    """Run every part until cancelled; then stop the web server, publish 'offline' and close the store.

    Raises EdgeStartupError when the store fails while the site file is applied: an edge that cannot
    commit must not come up and take work.
    """
    try:
        await _run_parts(parts, on_ready)
    except* EdgeStartupError as group:
        raise group.exceptions[0] from None
    finally:
        # However the run ends, a stop (a cancellation) included: the store's close copies the write-ahead
        # log into the database file, so after a clean stop floorgate.db alone holds every commit.
        parts.store.close()


async def _run_parts(parts: EdgeParts, on_ready: Callable[[EdgeParts], Awaitable[None]] | None) -> None:
    resume_collections()
    async with asyncio.TaskGroup() as tasks:
        writer_task = tasks.create_task(parts.writer.run(), name="writer")
        await _apply_site_or_fail(parts)
        settle_heap()
        # The PTL adapter sends every module its light state again once the link is connected.
        tasks.create_task(_recount_kpis(parts, through_seq=parts.loaded_seq), name="kpi-recount")
        tasks.create_task(parts.link.run(), name="mqtt-link")
        tasks.create_task(parts.ptl.run(), name="ptl")
        tasks.create_task(parts.hub.run(), name="stream-ticker")
        tasks.create_task(retire_finished_orders(parts.writer), name="order-retirement")
        keep = parts.config.edge
        retention = Retention(
            events_s=keep.delete_events_after_days * 86400,
            orders_s=keep.delete_finished_orders_after_days * 86400,
            exceptions_s=keep.delete_resolved_exceptions_after_days * 86400,
        )
        tasks.create_task(prune_store(parts.writer, parts.store.engine, retention), name="store-retention")
        if parts.relay is not None:
            tasks.create_task(parts.relay.run(), name="webhook-relay")
        for device in parts.devices:
            tasks.create_task(device.run(), name=device.name)
        server_task = tasks.create_task(parts.server.serve(sockets=[parts.http_socket]), name="http")
        try:
            await _wait_started(parts.server, server_task)
            if on_ready is not None:
                await on_ready(parts)
            await asyncio.Event().wait()  # run until cancelled
        finally:
            # Stop taking HTTP requests first; the task group then cancels the rest, and the link's
            # cancellation publishes the retained "offline" before it disconnects.
            parts.server.should_exit = True
            if parts.writer.store_failure is not None:
                # Its held batch will not reach the disk now: stopping the writer first answers the
                # requests waiting on it (503) while the server can still send the answers.
                writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(server_task), timeout=5)
    parts.store.close()


async def _apply_site_or_fail(parts: EdgeParts) -> None:
    applying = asyncio.ensure_future(apply_site(parts))
    failing = asyncio.ensure_future(parts.writer.store_failed())
    try:
        await asyncio.wait({applying, failing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        failing.cancel()
        if not applying.done():
            applying.cancel()
    if failing.done() and not failing.cancelled():
        raise EdgeStartupError(str(failing.result()))
    try:
        applying.result()
    except WriterUnavailable as err:
        raise EdgeStartupError(str(err)) from err


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the HTTP server stopped before it started (is the port in use?)")
        if time.monotonic() > deadline:
            raise TimeoutError("the HTTP server did not start within 15 s")
        await asyncio.sleep(0.02)
