"""One edge of an active/standby pair: the standby waits for the lease, takes over, and turns standby
again when it loses it (docs/ha.md).

The takeover is the edge's ordinary start, done once the lease is held: the floor is read back from the
store (so it holds every commit of the edge before), the writer's commits are fenced with the lease's
epoch, the link connects with the pair's one MQTT client id and persistent session (the presses the broker
kept for the edge before are delivered to this one), publishes `edge/{edge_id}/status online` and every
lit module's command, the relay resumes every pending webhook delivery, and `edge.took_over` is recorded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import uvicorn

from floorgate.core.commands import RecordTakeover
from floorgate.devices.backoff import Backoff
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.http_server import EdgeServer
from floorgate.edge.runtime import EdgeParts, PairLink, build, listen, run_edge
from floorgate.edge.site import SiteConfig
from floorgate.edge.standby.lease import Lease, LeaseLost, LeaseUnavailable, zone_group
from floorgate.edge.standby.serving import standby_app
from floorgate.edge.store import make_engine

log = logging.getLogger(__name__)

# How often the standby asks for the lease: a dead active edge's lock is free at once, so this is most of
# the wait before a takeover starts.
POLL_S = 0.1
# How long the standby's server may take to stop (it waits for no client: `force_exit`).
SERVER_STOP_S = 5.0


def pair_client_id(config: SiteConfig) -> str:
    """The MQTT client id both edges of a pair use, one at a time: the broker's persistent session is the
    pair's, so what it queued for the edge that died is delivered to the one that takes over."""
    group = zone_group(config.site.id, config.edge.zones)
    return f"floorgate-{config.site.id}-pair-{hashlib.sha256(group.encode()).hexdigest()[:12]}"


def bound_idle_transactions(timeout_s: float) -> None:
    """Make PostgreSQL end any session of this edge left idle inside a transaction past the lease's timeout.

    A commit of an edge paused between its statements and its COMMIT holds the lease row's lock; the
    standby's takeover waits for that lock, so it must not be held for longer than the lease lasts. Set in
    PGOPTIONS (libpq reads it for every connection) before the store opens any connection.
    """
    setting = f"-c idle_in_transaction_session_timeout={max(1, round(timeout_s * 1000))}"
    options = os.environ.get("PGOPTIONS", "")
    if setting not in options:
        os.environ["PGOPTIONS"] = f"{options} {setting}".strip()


async def run_pair(config: SiteConfig, *, mqtt: MqttEndpoint, admin_tokens: Sequence[str] = ()) -> None:
    """Run this edge of its pair until cancelled: standby until it holds the lease, active until it loses
    it, and standby again."""
    bound_idle_transactions(config.edge.lease_timeout_s)
    engine = make_engine(config.store.url)
    lease = Lease(
        engine,
        group=zone_group(config.site.id, config.edge.zones),
        edge_id=config.edge.id,
        http_url=f"http://{config.http.host}:{config.http.port}",
        timeout_s=config.edge.lease_timeout_s,
    )
    http_socket = listen(config.http.host, config.http.port)
    try:
        while True:
            standby = await _wait_as_standby(config, lease, http_socket)
            await _serve_as_active(config, lease, http_socket, standby, mqtt=mqtt, admin_tokens=admin_tokens)
    finally:
        lease.release()
        http_socket.close()
        engine.dispose()


@dataclass(frozen=True, slots=True)
class _StandbyServer:
    server: uvicorn.Server
    serving: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop answering as the standby, without waiting for its clients (they are only told 503)."""
        self.server.should_exit = True
        self.server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.serving), timeout=SERVER_STOP_S)
        if not self.serving.done():
            self.serving.cancel()


async def _wait_as_standby(config: SiteConfig, lease: Lease, http_socket: socket.socket) -> _StandbyServer:
    """Answer HTTP as the standby and ask for the lease until this edge holds it; the standby's server,
    still answering: the new active edge stops it once it confirms its lease (`_serve_as_active`)."""
    server = EdgeServer(
        uvicorn.Config(
            standby_app(site_id=config.site.id, edge_id=config.edge.id, active=lambda: lease.active),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
        )
    )
    # A duplicate of the listening socket: stopping this server closes its copy, never the port itself.
    standby = _StandbyServer(
        server, asyncio.create_task(server.serve(sockets=[http_socket.dup()]), name="standby-http")
    )
    log.info("standby: waiting for the pair's lease", extra={"edge": config.edge.id, "group": lease.group})
    backoff = Backoff(POLL_S, 2.0)
    failing = False
    prepared = False
    try:
        while True:
            try:
                if not prepared:
                    await asyncio.to_thread(lease.prepare)
                    prepared = True
                if await asyncio.to_thread(lease.try_take):
                    return standby
            except LeaseUnavailable as err:
                if not failing:
                    log.warning("standby: cannot ask the store for the lease", extra={"error": str(err)})
                failing = True
                await asyncio.sleep(backoff.next_delay())
                continue
            if failing:
                log.info("standby: the store answers again")
                failing = False
                backoff.reset()
            await asyncio.sleep(POLL_S)
    except BaseException:
        await standby.stop()
        raise


async def _serve_as_active(
    config: SiteConfig,
    lease: Lease,
    http_socket: socket.socket,
    standby: _StandbyServer,
    *,
    mqtt: MqttEndpoint,
    admin_tokens: Sequence[str],
) -> None:
    """Run the edge while it holds the lease; return (the lease released) once it lost it."""
    started = time.monotonic()
    epoch, previous = lease.epoch, lease.previous
    assert epoch is not None
    log.warning(
        "lease taken: this edge takes over the floor",
        extra={
            "edge": config.edge.id,
            "epoch": epoch,
            "previous": previous,
            "waited_s": round(lease.took_s, 3),
        },
    )

    async def took_over(parts: EdgeParts) -> None:
        await parts.writer.execute(RecordTakeover(edge=config.edge.id, epoch=epoch, previous=previous))
        log.warning(
            "edge active: took over the floor",
            extra={
                "edge": config.edge.id,
                "epoch": epoch,
                "previous": previous,
                "http": parts.url,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    async def take_over() -> None:
        # Both servers take connections from the one listening socket, so the port never refuses one.
        await standby.stop()
        parts = await build(
            config,
            mqtt=mqtt,
            admin_tokens=admin_tokens,
            http_socket=http_socket.dup(),
            pair=PairLink(client_id=pair_client_id(config), may_drive=lease.may_drive),
        )
        parts.store.fence_commits(lease.fence())
        await run_edge(parts, on_ready=took_over)

    # The lease is confirmed from the start, while the standby's server stops and the floor is read back:
    # PostgreSQL ends a lease session that stays silent for the lease's timeout.
    watching = asyncio.create_task(_keep(lease), name="lease")
    running = asyncio.create_task(take_over(), name="active-edge")
    try:
        await asyncio.wait({running, watching}, return_when=asyncio.FIRST_COMPLETED)
        if not watching.done():
            # The edge stopped by itself: a lost lease (a fenced commit) lets it turn standby, any other
            # failure is the edge's and ends the process as it would without a pair.
            watching.cancel()
            with contextlib.suppress(LeaseLost, LeaseUnavailable):
                await asyncio.to_thread(lease.confirm)
                running.result()
    finally:
        for task in (watching, running):
            task.cancel()
        await asyncio.gather(running, watching, return_exceptions=True)
        await standby.stop()
        lease.release()
    reason = watching.exception() if watching.done() and not watching.cancelled() else None
    log.warning(
        "lease lost: this edge stops driving the floor and turns standby",
        extra={"edge": config.edge.id, "epoch": epoch, "reason": str(reason or "a commit was fenced")},
    )


async def _keep(lease: Lease) -> None:
    """Confirm the lease several times within its timeout; raise LeaseLost when it is lost or cannot be
    confirmed in time (a database that does not answer is treated as lost: the other edge may have it).

    On a thread of its own: in the shared pool a confirmation could wait behind the store's slow work.
    """
    loop = asyncio.get_running_loop()
    # Never waited for when the lease ends: a confirmation stuck on a silent database is left behind.
    thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")
    try:
        while True:
            await asyncio.sleep(lease.timeout_s / 4)
            left = lease.timeout_s - lease.since_confirmed()
            if left <= 0:
                raise LeaseLost("the lease was not confirmed within its timeout (was this process paused?)")
            try:
                async with asyncio.timeout(left):
                    await loop.run_in_executor(thread, lease.confirm)
            except TimeoutError as err:
                raise LeaseLost("the store did not confirm the lease within its timeout") from err
    finally:
        thread.shutdown(wait=False, cancel_futures=True)
