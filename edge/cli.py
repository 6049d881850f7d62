"""The `floorgate` command: demo, run, sim and check-config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from edge import logs
from edge.config import ConfigError, SiteConfig, load_site

log = logging.getLogger("floorgate")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floorgate", description="FloorGate: the real-time edge of a warehouse floor."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="the whole system on embedded defaults with simulated devices and pickers"
    )
    demo.add_argument("--broker", help="use this MQTT broker (mqtt://host:port) instead of the embedded one")
    demo.add_argument(
        "--port", type=int, default=8000, help="HTTP port of the dashboard and API (default 8000)"
    )
    demo.add_argument(
        "--mqtt-port", type=int, default=1883, help="port of the embedded broker (default 1883)"
    )
    demo.add_argument(
        "--data-dir", type=Path, default=Path("data/demo"), help="where the demo's SQLite file lives"
    )
    demo.add_argument("--keep-data", action="store_true", help="continue from the last demo's data")
    demo.add_argument("--seconds-per-pick", type=float, default=0.8)
    demo.add_argument("--seed", type=int, help="random seed for repeatable pickers and orders")
    demo.add_argument("--duration", type=float, help="stop by itself after this many seconds")

    run = sub.add_parser("run", help="run the edge as the site file says")
    run.add_argument("--config", type=Path, required=True, help="site file (TOML)")

    sim = sub.add_parser(
        "sim",
        help="only the simulated PTL modules, pickers and scanners (codes as `STATION CODE` lines on stdin)",
    )
    sim.add_argument("--config", type=Path, required=True, help="the site file of that edge")
    sim.add_argument("--broker", help="MQTT broker URL (default: the site file's [mqtt] url)")
    sim.add_argument("--seconds-per-pick", type=float, default=1.0)
    sim.add_argument("--short-rate", type=float, default=0.0)
    sim.add_argument("--mistake-rate", type=float, default=0.0)

    check = sub.add_parser("check-config", help="validate a site file; errors name the key and the line")
    check.add_argument("path", type=Path)
    return parser


# Set by SIGINT/SIGTERM before the event loop runs: a Ctrl-C while the heavy libraries are still being
# imported must stop the edge, not raise KeyboardInterrupt inside some library's import-time code
# (one of them swallows it, and the process then ran on, deaf to the Ctrl-C it already got).
_early_stop: list[int] = []


def _remember_signal(signum: int, _frame: object) -> None:
    _early_stop.append(signum)


def main(argv: Sequence[str] | None = None) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _remember_signal)
    args = _parser().parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    if args.command == "check-config":
        return _check_config(args.path)
    if args.command == "demo":
        from edge.demo import DemoOptions, run_demo

        options = DemoOptions(
            broker=args.broker,
            http_port=args.port,
            mqtt_port=args.mqtt_port,
            data_dir=args.data_dir,
            keep_data=args.keep_data,
            seconds_per_pick=args.seconds_per_pick,
            seed=args.seed,
            duration=args.duration,
        )
        return _run_until_signal(run_demo(options))
    config = _load_or_explain(args.config)
    if config is None:
        return 2
    if args.command == "run":
        return _run_until_signal(_run(config))
    return _run_until_signal(_sim(config, args))


def _check_config(path: Path) -> int:
    config = _load_or_explain(path)
    if config is None:
        return 2
    print(
        f"{path}: OK — site {config.site.id!r}, edge {config.edge.id!r}, {len(config.zones)} zones, "
        f"{len(config.locations)} locations, {len(config.stations)} stations, {len(config.tokens)} tokens, "
        f"{len(config.webhooks)} webhooks; store {_safe_url(config.store.url)}"
    )
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _load_or_explain(path: Path) -> SiteConfig | None:
    try:
        return load_site(path)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return None


async def _run(config: SiteConfig) -> None:
    from edge.runtime import build, run_edge

    if config.mqtt is None:
        raise SystemExit(
            "the site file has no [mqtt] url; `floorgate run` needs a broker (the demo embeds one)"
        )

    async def ready(parts: Any) -> None:
        log.info(
            "edge running",
            extra={
                "site": config.site.id,
                "edge": config.edge.id,
                "http": parts.url,
                "mqtt": config.mqtt.url if config.mqtt else None,
            },
        )

    parts = await build(config, mqtt=config.mqtt.endpoint())
    await run_edge(parts, on_ready=ready)


async def _sim(config: SiteConfig, args: argparse.Namespace) -> None:
    import random

    from devices.mqtt_transport import MqttEndpoint
    from firmware_sim.pickers import ANY_COLOR, SimulatedPicker
    from firmware_sim.ptl_modules import ModuleBank

    if args.broker:
        endpoint = MqttEndpoint.from_url(args.broker)
    elif config.mqtt is not None:
        endpoint = config.mqtt.endpoint()
    else:
        raise SystemExit("no broker: pass --broker or give the site file an [mqtt] url")
    from edge.scanner_wiring import scanner_simulations
    from firmware_sim.scanner_cli import run_scanner_sims

    modules = [loc.module for loc in config.locations if loc.module]
    if not modules and not any(station.scanner for station in config.stations):
        raise SystemExit("the site file declares no locations with a module: nothing to simulate")
    async with ModuleBank(endpoint, config.site.id, modules) as bank, asyncio.TaskGroup() as tasks:
        tasks.create_task(run_scanner_sims(scanner_simulations(config)), name="scanners")
        for zone in config.zones:
            zone_modules = [loc.module for loc in config.locations if loc.zone == zone.id and loc.module]
            if zone_modules:
                picker = SimulatedPicker(
                    bank,
                    f"sim-{zone.id}",
                    zone_modules,
                    color=ANY_COLOR,
                    seconds_per_pick=args.seconds_per_pick,
                    short_rate=args.short_rate,
                    mistake_rate=args.mistake_rate,
                    rng=random.Random(),
                )
                tasks.create_task(picker.run(), name=f"picker-{zone.id}")
        log.info("simulating", extra={"modules": len(modules), "broker": endpoint.url})


# How long a stop may take before the process gives up waiting for what is stuck, and says what it was.
SHUTDOWN_SECONDS = 20.0


def _give_up(work: asyncio.Future[None]) -> None:
    stuck = sorted(
        f"{task.get_name()}: {task.get_coro()!r}"
        for task in asyncio.all_tasks()
        if not task.done() and task is not work
    )
    log.error(
        "shutdown took longer than %g s; exiting with these still running: %s",
        SHUTDOWN_SECONDS,
        "; ".join(stuck),
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    # Committed work is safe on disk; what is stuck is what the log above names.
    os._exit(1)


def _run_until_signal(coro: Coroutine[Any, Any, None]) -> int:
    """Run until done or until SIGINT/SIGTERM, which cancel the work so it shuts down in order.

    Some libraries swallow a cancellation that lands while they start up (a broker binding, a client
    connecting), so a single cancel can be lost and Ctrl-C would do nothing. The signal only sets an
    event; the work is then cancelled, again and again, until it has really finished.
    """

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if _early_stop:
            coro.close()
            return
        work = asyncio.ensure_future(coro)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # asyncio's own Ctrl-C handling, before ours was installed: stop all the same
        finally:
            stopping.cancel()
            deadline = loop.time() + SHUTDOWN_SECONDS
            orderly = True
            while not work.done():
                if loop.time() > deadline:
                    _give_up(work)
                if orderly:
                    work.cancel()  # the work stops its parts in order (HTTP, then the rest, "offline" last)
                    orderly = False
                else:
                    # A task deep inside may have lost its cancellation (Python 3.11's wait_for can drop
                    # one that races a result) and would keep its task group waiting: cancel them all.
                    for task in asyncio.all_tasks():
                        if task is not asyncio.current_task() and not task.done():
                            task.cancel()
                await asyncio.wait({work}, timeout=2)
        if not work.cancelled():
            work.result()

    from edge.runtime import EdgeStartupError

    try:
        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(runner())
    except EdgeStartupError as err:
        log.error("cannot start: %s", err)  # noqa: TRY400 - the message is the whole story, no traceback
        return 2
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
