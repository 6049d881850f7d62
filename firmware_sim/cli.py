"""The `floorgate demo` and `floorgate sim` commands: simulated devices and operators, never the edge's own path.

`floorgate.edge.cli` finds these through the `floorgate.commands` entry-point group and loads one only
when it is the command given, so `floorgate run` never imports the simulators.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from pathlib import Path

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.cli import load_or_explain, run_until_signal
from floorgate.edge.site import SiteConfig
from floorgate.firmware_sim.demo.floor import DemoOptions, run_demo
from floorgate.firmware_sim.mqtt_client import add_tls_arguments, tls_files_of, with_tls_arguments
from floorgate.firmware_sim.pickers import ANY_COLOR, SimulatedPicker
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.scanner_cli import run_scanner_sims, scanner_simulations

log = logging.getLogger("floorgate")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class DemoCommand:
    """`floorgate demo`: the whole system on embedded defaults."""

    help = "the whole system on embedded defaults with simulated devices and pickers"

    def add_arguments(self, demo: argparse.ArgumentParser) -> None:
        demo.add_argument(
            "--broker", help="use this MQTT broker (mqtt://host:port) instead of the embedded one"
        )
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
        demo.add_argument(
            "--seconds-per-pick", type=float, default=0.8, help="how long a simulated pick takes"
        )
        demo.add_argument("--seed", type=int, help="random seed for repeatable pickers and orders")
        demo.add_argument("--duration", type=float, help="stop by itself after this many seconds")
        demo.add_argument(
            "--count-every",
            type=_positive_seconds,
            default=120.0,
            help="seconds between the blind counts of one aisle the demo starts (default 120; the first "
            "starts after 20 s, or sooner with a shorter interval)",
        )
        add_tls_arguments(demo)

    def run(self, args: argparse.Namespace) -> int:
        options = DemoOptions(
            broker=args.broker,
            http_port=args.port,
            mqtt_port=args.mqtt_port,
            data_dir=args.data_dir,
            keep_data=args.keep_data,
            seconds_per_pick=args.seconds_per_pick,
            seed=args.seed,
            duration=args.duration,
            count_every=args.count_every,
            tls_files=tls_files_of(args),
        )
        return run_until_signal(run_demo(options))


class SimCommand:
    """`floorgate sim`: the simulated modules, pickers and scanners of a site file, against an edge elsewhere."""

    help = "only the simulated PTL modules, pickers and scanners (codes as `STATION CODE` lines on stdin)"

    def add_arguments(self, sim: argparse.ArgumentParser) -> None:
        sim.add_argument("--config", type=Path, required=True, help="the site file of that edge")
        sim.add_argument("--broker", help="MQTT broker URL (default: the site file's [mqtt] url)")
        sim.add_argument(
            "--seconds-per-pick", type=float, default=1.0, help="how long a simulated pick takes"
        )
        sim.add_argument(
            "--short-rate", type=float, default=0.0, help="share of picks the pickers short (0-1)"
        )
        sim.add_argument(
            "--mistake-rate", type=float, default=0.0, help="share of presses on a wrong module (0-1)"
        )
        add_tls_arguments(sim)

    def run(self, args: argparse.Namespace) -> int:
        config = load_or_explain(args.config)
        if config is None:
            return 2
        return run_until_signal(_sim(config, args))


async def _sim(config: SiteConfig, args: argparse.Namespace) -> None:
    if args.broker:
        endpoint = MqttEndpoint.from_url(args.broker)
    elif config.mqtt is not None:
        endpoint = config.mqtt.endpoint()
    else:
        raise SystemExit("no broker: pass --broker or give the site file an [mqtt] url")
    endpoint = with_tls_arguments(endpoint, args)
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


DEMO = DemoCommand()
SIM = SimCommand()
