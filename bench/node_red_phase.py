"""The Node-RED phase: the bench's loaders against a Node-RED flow that only echoes a button event into a
light command (mqtt in -> function -> mqtt out, QoS 1; no validation, no store), flat out and at the fixed
rate, so FloorGate's whole write path is shown beside what a floor wired in Node-RED would do at best.

Node-RED comes from the npm registry: the bench installs it into `bench/.node-red/` (not tracked) the first
time, and skips the phase with a line saying why where node or npm is missing or the install fails. The
flow is `bench/node_red/flow.json`; it reads the broker and the site from the environment.

    .venv/bin/python -m bench.node_red_phase [--duration 30] [--rate 500]   # the phase alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.floor import SITE, modules
from bench.machine import MachineLoad, machine
from bench.processes import ROOT, free_port, mosquitto, run_loaders
from bench.progress import say
from floorgate.devices.mqtt.connection import MqttConnection
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.wire import Publish
from floorgate.devices.ptl.codec import PtlTopic, ptl_filter, ptl_topic

NODE_RED_VERSION = "4"  # the major the design's comparison names
INSTALL_DIR = ROOT / "bench" / ".node-red"
FLOW = ROOT / "bench" / "node_red" / "flow.json"
NODE_MAJOR_NEEDED = 18  # Node-RED 4's own floor
READY_TIMEOUT_S = 60.0
PROBE_MODULE = "NODE-RED-PROBE"


class NodeRedMissing(RuntimeError):
    """Node-RED cannot run here; the message says why and what would fix it."""


def red_js() -> Path:
    return INSTALL_DIR / "node_modules" / "node-red" / "red.js"


def ensure_node_red() -> Path:
    """Node-RED's entry script, installed from the npm registry when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeRedMissing("node and npm are not installed (Debian: apt-get install nodejs npm)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        raise NodeRedMissing(f"could not read node's version from {version!r}") from None
    if major < NODE_MAJOR_NEEDED:
        raise NodeRedMissing(
            f"node {version} is older than Node-RED {NODE_RED_VERSION} needs (v{NODE_MAJOR_NEEDED})"
        )
    if red_js().exists():
        return red_js()
    say(f"installing Node-RED {NODE_RED_VERSION} from the npm registry into {INSTALL_DIR} (once)")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    install = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(INSTALL_DIR),
            f"node-red@{NODE_RED_VERSION}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0 or not red_js().exists():
        tail = " ".join((install.stderr or install.stdout).strip().splitlines()[-3:])
        raise NodeRedMissing(f"npm could not install node-red@{NODE_RED_VERSION}: {tail}")
    return red_js()


class NodeRed:
    """One Node-RED process running the bench's flow against a broker, its editor and HTTP off."""

    def __init__(self, script: Path, broker: str, workdir: Path) -> None:
        self.script = script
        self.broker = broker
        self.userdir = workdir / "node-red"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, log_path: Path) -> None:
        self.userdir.mkdir(parents=True, exist_ok=True)
        settings = self.userdir / "settings.js"
        # No editor, no HTTP nodes: only the flow runs. The port is bound all the same by some versions.
        settings.write_text(
            "module.exports = {\n"
            f"  uiPort: {free_port()}, uiHost: '127.0.0.1',\n"
            "  httpAdminRoot: false, httpNodeRoot: false,\n"
            "  credentialSecret: false,\n"
            "  logging: { console: { level: 'info', metrics: false, audit: false } },\n"
            "};\n"
        )
        shutil.copy(FLOW, self.userdir / "flow.json")
        url = urlsplit(self.broker)
        env = {
            **os.environ,
            "FG_BENCH_BROKER_HOST": url.hostname or "127.0.0.1",
            "FG_BENCH_BROKER_PORT": str(url.port or 1883),
            # Node-RED substitutes an environment variable for a whole property only, never part of one.
            "FG_BENCH_EVENTS": ptl_filter(SITE, PtlTopic.EVENT),
        }
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    "node",
                    str(self.script),
                    "--settings",
                    str(settings),
                    "--userDir",
                    str(self.userdir),
                    "flow.json",
                ],
                cwd=self.userdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def cpu_seconds(self) -> float:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def light(seq: int) -> bytes:
    return json.dumps({"seq": seq, "color": "blue", "blink": "none", "display": "1"}).encode()


async def light_and_probe(broker: str, names: list[str], process: subprocess.Popen[bytes]) -> float:
    """Light every module at seq 1 (retained, as the echo does), then press a probe module until the flow
    answers it: the flow is subscribed and echoing. Returns the seconds until it answered."""
    answered = asyncio.Event()
    probe_cmd = ptl_topic(SITE, PROBE_MODULE, PtlTopic.CMD)
    connection: MqttConnection | None = None

    def on_message(message: Publish) -> None:
        assert connection is not None
        if message.qos:
            connection.ack(message.mid)
        if message.topic == probe_cmd:
            answered.set()

    connection = await MqttConnection.open(
        MqttEndpoint.from_url(broker), client_id="bench-node-red-probe", on_message=on_message, keepalive=60
    )
    started = time.monotonic()
    try:
        await connection.subscribe([(probe_cmd, 1)])
        for module in names:
            connection.publish(ptl_topic(SITE, module, PtlTopic.CMD), light(1), qos=1, retain=True)
        probe_event = ptl_topic(SITE, PROBE_MODULE, PtlTopic.EVENT)
        deadline = started + READY_TIMEOUT_S
        while not answered.is_set():
            if process.poll() is not None:
                raise RuntimeError(f"Node-RED exited with code {process.returncode} before its flow answered")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Node-RED's flow did not answer a press within {READY_TIMEOUT_S:g} s")
            connection.publish(probe_event, b'{"button": "confirm"}', qos=1)
            try:
                await asyncio.wait_for(answered.wait(), timeout=0.5)
            except TimeoutError:
                continue
    finally:
        await connection.disconnect()
    return time.monotonic() - started


def measure(workdir: Path, *, names: list[str], loaders: int, duration: float, rate: float) -> dict[str, Any]:
    """Both sub-phases against Node-RED, each on a fresh broker; {"skipped": why} where it cannot run."""
    try:
        script = ensure_node_red()
    except NodeRedMissing as missing:
        say(f"Node-RED phase skipped: {missing}")
        return {"skipped": str(missing)}
    result: dict[str, Any] = {"version": node_red_version()}
    for name, phase_rate in (("flat", None), ("latency", rate)):
        with mosquitto(workdir) as broker:
            red = NodeRed(script, broker, workdir)
            red.start(workdir / f"node-red-{name}.log")
            try:
                assert red.process is not None
                asyncio.run(light_and_probe(broker, names, red.process))
                label = "flat out" if phase_rate is None else f"at {phase_rate:g} presses/s"
                say(f"Node-RED echo flow: {loaders} loaders {label}, {duration:g} s")
                load = MachineLoad()
                load.start()
                cpu0, t0 = red.cpu_seconds(), time.monotonic()
                phase = run_loaders(broker, names, loaders, duration, phase_rate, workdir, f"node-red-{name}")
                phase["node_red_cpu_percent"] = round(
                    100 * (red.cpu_seconds() - cpu0) / (time.monotonic() - t0), 1
                )
                phase.update(load.stop())
                result[name] = phase
            finally:
                red.stop()
    return result


def node_red_version() -> str:
    package = INSTALL_DIR / "node_modules" / "node-red" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def rows(node_red: dict[str, Any], result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's lines: Node-RED beside FloorGate, with the same loaders."""
    if "skipped" in node_red:
        return [("Node-RED echo flow", "skipped", node_red["skipped"])]
    flat, latency = node_red["flat"], node_red["latency"]
    ours = result["throughput"]["per_second"]
    return [
        (
            f"Node-RED {node_red['version']} echo flow flat out / FloorGate",
            f"{flat['per_second']:,.0f} / {ours:,.0f} presses/s",
            f"FloorGate at {100 * ours / max(1.0, flat['per_second']):.0f} %",
        ),
        (
            f"  Node-RED p50/p95/p99 at {latency['rate_offered']:g}/s",
            f"{latency['latency_ms_p50']} / {latency['latency_ms_p95']} / {latency['latency_ms_p99']} ms",
            f"FloorGate p99 {result['latency']['latency_ms_p99']} ms",
        ),
        (
            "  Node-RED CPU flat out / at the fixed rate",
            f"{flat['node_red_cpu_percent']}% / {latency['node_red_cpu_percent']}%",
            "",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.node_red_phase", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--rate", type=float, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fg-node-red-") as tmp:
        result = measure(
            Path(tmp),
            names=modules(args.modules),
            loaders=args.loaders,
            duration=args.duration,
            rate=args.rate,
        )
    result["machine"] = machine()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
