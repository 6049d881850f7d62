"""A full or read-only store: the edge refuses new work with a clear error, keeps what it has, and loses nothing.

The disks are real: the edge's data folder is a small tmpfs of the test's own (filled with a file until
ENOSPC, then freed; remounted read-only between runs), or an ext4 image on a loop device that the kernel
switches to read-only mid-run (its `trigger_fs_error` hook: what ext4 does when a disk starts failing).
A tmpfs cannot be remounted read-only while SQLite holds its files open for writing (the kernel answers
EBUSY), so a read-only disk mid-run is the ext4 case, and recovering from it takes a repair and a restart.
`[store] max_size_mb` makes SQLite itself answer SQLITE_FULL, without root.

Mounting needs root (CI and the development machine run as root); without it those tests skip, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from floorgate.core import commands as cmd
from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.edge.site import ConfigError, parse_site
from floorgate.edge.store import (
    STARTUP_HEADROOM_BYTES,
    Batch,
    CheckpointMode,
    Store,
    StoreError,
    StoreFailure,
    describe_failure,
    failure_cause,
    make_engine,
)
from floorgate.edge.store import checkpoint as checkpoint_module
from floorgate.edge.webhooks.deliveries import DELIVERED, DeliveryStore
from floorgate.edge.webhooks.outbox import Endpoint, EndpointRegistry
from floorgate.edge.webhooks.relay import RetryPolicy, WebhookRelay
from floorgate.edge.webhooks.signing import new_secret
from floorgate.edge.writer import Writer, WriterUnavailable
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.failure

BINS = tuple((f"A-0{n}", f"M-A-0{n}", f"SKU-{n}") for n in range(1, 9))
MODULES = tuple(module for _, module, _ in BINS)
ORDERS = {"O-1": BINS[:4], "O-2": BINS[4:]}  # one picker each, four bins each
FAILING = "store commits fail; holding the batch, refusing new work and retrying"
RECOVERED = "store commits work again; the held batch is committed"


# -- real disks -------------------------------------------------------------------------------------


class MountUnavailable(Exception):
    pass


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def _must(*args: str) -> None:
    done = _run(*args)
    if done.returncode != 0:
        raise MountUnavailable(f"`{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root to mount a file system of the test's own; run as root (CI does)")


def _unmount(path: Path) -> None:
    """Always leaves nothing mounted: a lazy unmount when something still holds the mount."""
    if _run("mountpoint", "-q", str(path)).returncode != 0:
        return
    if _run("umount", str(path)).returncode != 0:
        _run("umount", "-l", str(path))


@dataclass
class SmallDisk:
    """A tmpfs of the test's own at `path`: the edge's data folder, filled and freed by the test."""

    path: Path
    size_mb: int = 96
    filler: Path | None = None

    def mount(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        _must("mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.path))
        return self

    def fill(self) -> int:
        """Write a filler file until the disk says ENOSPC; the bytes written."""
        self.filler = self.path / "filler.bin"
        written = 0
        with self.filler.open("wb", buffering=0) as out:
            for chunk in (1024 * 1024, 64 * 1024, 4096, 512):
                block = bytes(chunk)
                while True:
                    try:
                        written += out.write(block) or 0
                    except OSError as err:
                        if err.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        assert self.filler is not None, "fill() first"
        self.filler.unlink()
        self.filler = None

    def remount(self, mode: str) -> None:
        _must("mount", "-o", f"remount,{mode}", str(self.path))

    def unmount(self) -> None:
        _unmount(self.path)


@dataclass
class Ext4Disk:
    """An ext4 image on a loop device, mounted `errors=remount-ro`, that the kernel can be told has failed."""

    path: Path
    image: Path
    size_mb: int = 128
    device: str | None = None

    def mount(self) -> Ext4Disk:
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.image.exists():
            with self.image.open("wb") as out:
                out.truncate(self.size_mb * 1024 * 1024)
            _must("mkfs.ext4", "-q", "-F", str(self.image))
        _must("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.path))
        source = _run("findmnt", "-n", "-o", "SOURCE", str(self.path)).stdout.strip()
        # Only ever a loop device of our own: the hook below turns a whole file system read-only.
        if not source.startswith("/dev/loop"):
            raise MountUnavailable(f"the ext4 image is mounted from {source!r}, not a loop device")
        self.device = source
        return self

    @property
    def error_hook(self) -> Path:
        assert self.device is not None
        return Path("/sys/fs/ext4") / Path(self.device).name / "trigger_fs_error"

    def fail_read_only(self) -> None:
        """Report a file system error to ext4: with errors=remount-ro the kernel stops every write at once."""
        self.error_hook.write_text("floorgate test: the disk failed\n")

    def repair(self) -> None:
        """What a person does after such an error: unmount, check the file system, mount it again."""
        _unmount(self.path)
        done = _run("e2fsck", "-f", "-y", str(self.image))
        assert done.returncode in (0, 1), f"e2fsck could not repair the image: {done.stdout}{done.stderr}"
        self.mount()

    def unmount(self) -> None:
        _unmount(self.path)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    _require_root("a full disk")
    disk = SmallDisk(tmp_path / "data")
    try:
        disk.mount()
    except MountUnavailable as err:
        pytest.skip(f"cannot mount a tmpfs for the edge's data folder here: {err}")
    try:
        yield disk
    finally:
        disk.unmount()


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[Ext4Disk]:
    _require_root("a disk turning read-only")
    missing = [tool for tool in ("mkfs.ext4", "e2fsck", "findmnt", "losetup") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"a disk turning read-only needs {', '.join(missing)} (e2fsprogs, util-linux)")
    disk = Ext4Disk(tmp_path / "data", tmp_path / "disk.ext4")
    try:
        disk.mount()
    except MountUnavailable as err:
        pytest.skip(f"cannot mount an ext4 image on a loop device here: {err}")
    try:
        if not disk.error_hook.exists():
            pytest.skip(f"this kernel has no ext4 error hook ({disk.error_hook})")
        yield disk
    finally:
        disk.unmount()


# -- the edge, its floor and what it says -----------------------------------------------------------


@pytest.fixture
def site() -> str:
    return f"full{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def bank(mosquitto: Mosquitto, site: str) -> AsyncIterator[ModuleBank]:
    async with ModuleBank(MqttEndpoint.from_url(mosquitto.url), site, MODULES) as modules:
        yield modules


@contextlib.contextmanager
def running(edge: EdgeProcess) -> Iterator[EdgeProcess]:
    try:
        yield edge
    finally:
        edge.stop()


def api(edge: EdgeProcess, role: str = "erp") -> httpx.AsyncClient:
    # Long timeouts: a request held while the store fails is answered when it recovers, not before.
    return httpx.AsyncClient(
        base_url=f"{edge.base_url}/api/v1",
        headers={"Authorization": f"Bearer {TOKENS[role]}"},
        timeout=httpx.Timeout(90.0, connect=5.0),
    )


def db_path(edge: EdgeProcess) -> str:
    return str(edge.workdir / "data" / "floorgate.db")


def edge_log(edge: EdgeProcess, message: str) -> list[dict[str, Any]]:
    """The edge's JSON log records whose message starts with `message`."""
    records = []
    for line in edge.logs().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if str(record.get("msg", "")).startswith(message):
                records.append(record)
    return records


async def metrics(edge: EdgeProcess) -> dict[str, float]:
    async with api(edge, "viewer") as viewer:
        response = await viewer.get(f"{edge.base_url}/metrics")
    assert response.status_code == 200, f"/metrics answered {response.status_code}: {response.text}"
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def health(edge: EdgeProcess, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{edge.base_url}{path}")
    return response.status_code, response.json()


async def store_failing(edge: EdgeProcess, cause: str) -> dict[str, Any] | None:
    code, body = await health(edge)
    store = body.get("store", {})
    return body if code == 503 and store.get("cause") == cause else None


async def seed_and_light(edge: EdgeProcess, bank: ModuleBank) -> None:
    async with api(edge) as erp:
        for code, module, sku in BINS:
            response = await erp.put(f"/items/{sku}", json={"description": sku, "unit_weight_g": 100})
            assert response.status_code == 201, response.text
            response = await erp.put(
                f"/locations/{code}", json={"zone": "A", "module": module, "sku": sku, "on_hand": 100}
            )
            assert response.status_code == 201, response.text
        for order_id, bins in ORDERS.items():
            lines = [
                {"line_id": f"L{i}", "sku": sku, "qty": 1, "location": code}
                for i, (code, _, sku) in enumerate(bins, 1)
            ]
            response = await erp.post("/orders", json={"order_id": order_id, "lines": lines})
            assert response.status_code == 201, response.text
            response = await erp.post(f"/orders/{order_id}/start", json={"zone": "A", "operator": order_id})
            assert response.status_code == 200, response.text
    await wait_until(lambda: len(bank.lit()) == len(MODULES), timeout=15, what="all eight bins lit")


async def press_and_see_dark(bank: ModuleBank, *modules: str) -> None:
    for module in modules:
        await bank.press(module, Button.CONFIRM)
    await wait_until(
        lambda: all(bank.state(m).color is None for m in modules),
        timeout=30,
        what=f"{', '.join(modules)} cleared after their commits",
    )


async def all_events(edge: EdgeProcess) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with api(edge, "viewer") as viewer:
        while True:
            after = events[-1]["seq"] if events else 0
            response = await viewer.get("/events", params={"after": after, "limit": 1000})
            assert response.status_code == 200, f"/events answered {response.status_code}: {response.text}"
            page = response.json()["events"]
            if not page:
                return events
            events.extend(page)


def check_event_log(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1)), f"the event log has gaps or repeats: {seqs}"
    assert len({e["id"] for e in events}) == len(events), "an event id appears twice"


def confirmed_lines(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((e["data"]["order"], e["data"]["line"]) for e in events if e["type"] == "pick.confirmed")


def received_orders(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["data"]["order"] for e in events if e["type"] == "order.received")


def line_of(module: str) -> tuple[str, str]:
    for order_id, bins in ORDERS.items():
        for i, (_, bin_module, _) in enumerate(bins, 1):
            if bin_module == module:
                return order_id, f"L{i}"
    raise KeyError(module)


def check_refusal(response: httpx.Response, *, db: str, cause: str, words: str) -> None:
    """A 503 whose JSON names the store and the cause, and carries no token, SQL or traceback."""
    assert response.status_code == 503, (
        f"expected 503 naming the store, got {response.status_code}: {response.text}"
    )
    body = response.json()
    assert body["cause"] == cause, f"expected cause {cause!r}, got {body}"
    assert body["detail"].startswith(f"the store at {db} {words}"), (
        f"the error does not name the store: {body}"
    )
    assert response.headers.get("retry-after"), "a refusal while the store fails says when to try again"
    for secret in (*TOKENS.values(), "INSERT", "[SQL", "Traceback"):
        assert secret not in response.text, f"{secret!r} leaked into the refusal: {response.text}"


@dataclass
class OrderLoader:
    """The ERP sending new orders one after another as fast as the edge answers: the load while the disk fills."""

    erp: httpx.AsyncClient
    lines: int = 5
    answers: dict[str, int] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    stopping: bool = False
    task: asyncio.Task[None] | None = None

    def start(self) -> OrderLoader:
        self.task = asyncio.create_task(self._run(), name="order-loader")
        return self

    async def stop(self) -> None:
        self.stopping = True
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout=60)

    async def _run(self) -> None:
        n = 0
        while not self.stopping:
            n += 1
            order_id = f"LOAD-{n}"
            self.sent.append(order_id)
            lines = [{"line_id": f"L{i}", "sku": "SKU-1", "qty": 1} for i in range(1, self.lines + 1)]
            response = await self.erp.post("/orders", json={"order_id": order_id, "lines": lines})
            self.answers[order_id] = response.status_code
            if response.status_code == 503:
                return  # refused: the ERP backs off (Retry-After) rather than hammering a failing edge

    def accepted(self) -> list[str]:
        return sorted(o for o, code in self.answers.items() if code in (200, 201))


# -- the full disk, end to end ---------------------------------------------------------------------


async def test_a_disk_that_fills_mid_shift_refuses_new_work_holds_the_floor_and_commits_it_all_once_freed(
    tmp_path: Path, small_disk: SmallDisk, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    secret = new_secret()
    async with WebhookReceiver([secret]) as receiver:
        webhook = f'[[webhooks]]\nname = "erp"\nurl = "{receiver.url}"\nsecret = "{secret}"\n'
        edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=webhook)
        with running(edge.start()):
            await fill_and_free_under_load(edge, small_disk, bank)
            events = await all_events(edge)
            await wait_until(
                lambda: {e["id"] for e in events} <= set(receiver.accepted_ids()),
                timeout=30,
                what="every event delivered to the ERP",
            )
    sent_twice = sorted(i for i in receiver.accepted_ids() if receiver.accepted_ids().count(i) > 1)
    assert sent_twice == [], f"webhooks sent again although their delivery was taken: {sent_twice}"
    assert receiver.unverified == []
    assert len(edge_log(edge, "webhook relay cannot record deliveries")) <= 1


async def fill_and_free_under_load(edge: EdgeProcess, small_disk: SmallDisk, bank: ModuleBank) -> None:
    """Seed a lit floor, fill the disk under the ERP's load, check the refusals, free it, check it all."""
    db = db_path(edge)
    await seed_and_light(edge, bank)
    await press_and_see_dark(bank, "M-A-01", "M-A-05")

    # Under load from the ERP, the disk fills up.
    async with api(edge) as erp:
        loader = OrderLoader(erp).start()
        await wait_until(lambda: len(loader.answers) >= 3, timeout=15, what="the ERP's orders flowing")
        filled = await asyncio.to_thread(small_disk.fill)
        failing = await wait_until(
            lambda: store_failing(edge, "full"), timeout=30, what="/healthz reporting the store full"
        )
        assert failing["store"]["location"] == db, failing
        assert any(p.startswith(f"store: the store at {db} is full") for p in failing["problems"]), failing
        _, api_health = await health(edge, "/api/v1/healthz")
        assert api_health["store"]["cause"] == "full", api_health

        # New work is refused at once, naming the store and the cause.
        refused = await erp.post(
            "/orders",
            json={"order_id": "REFUSED", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1}]},
        )
        check_refusal(refused, db=db, cause="full", words="is full")
        check_refusal(
            await erp.put("/items/SKU-NEW", json={"description": "new"}),
            db=db,
            cause="full",
            words="is full",
        )
        # Reads keep working: the floor from memory, the event log from the disk.
        order = await erp.get("/orders/O-1")
        assert order.status_code == 200, order.text
        assert (await erp.get("/events", params={"limit": 5})).status_code == 200

        # Pickers keep pressing: their presses wait at the edge, unacknowledged, and no light goes off
        # for a pick that is not on disk.
        await bank.press("M-A-02", Button.CONFIRM)
        await bank.press("M-A-06", Button.CONFIRM)
        seen = await wait_until(
            lambda: _held(edge),
            timeout=15,
            what="both presses at the edge and commits retried",
        )
        assert seen["floorgate_store_failing"] == 1, seen
        assert seen['floorgate_store_failure{cause="full"}'] == 1, seen
        assert bank.state("M-A-02").color is not None, "a light went off for a pick the disk does not hold"
        assert bank.state("M-A-06").color is not None, "a light went off for a pick the disk does not hold"
        assert (await erp.get("/orders/O-1")).json()["lines"][1]["status"] == "lit"

        failures = edge_log(edge, FAILING)
        assert len(failures) == 1, f"expected one log line for the outage, got {len(failures)}: {failures}"
        assert (failures[0]["cause"], failures[0]["store"]) == ("full", db), failures[0]

        # Space comes back: everything held is committed, once, and the floor carries on.
        small_disk.free()
        await wait_until(lambda: _healthy(edge), timeout=30, what="/healthz ok after space came back")
        await wait_until(
            lambda: bank.state("M-A-02").color is None and bank.state("M-A-06").color is None,
            timeout=30,
            what="the presses made during the outage applied and their lights cleared",
        )
        await loader.stop()
        after = await erp.post(
            "/orders", json={"order_id": "AFTER", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1}]}
        )
        assert after.status_code == 201, after.text
        assert (await erp.get("/orders/REFUSED")).status_code == 404, "a refused order was applied after all"

    assert filled > 0
    assert set(loader.answers.values()) <= {201, 503}, f"the ERP saw other answers: {loader.answers}"
    events = await all_events(edge)
    check_event_log(events)
    assert received_orders(events) == sorted([*ORDERS, *loader.accepted(), "AFTER"]), (
        "each accepted order is in the log once, each refused one not at all"
    )
    pressed = ("M-A-01", "M-A-05", "M-A-02", "M-A-06")
    assert confirmed_lines(events) == sorted(line_of(m) for m in pressed)
    recovered = edge_log(edge, RECOVERED)
    assert len(recovered) == 1, f"expected one recovery line, got {recovered}"
    assert len(edge_log(edge, FAILING)) == 1, "the outage was logged more than once"

    # What the edge answered and showed was on disk: a kill -9 now takes nothing back.
    async with api(edge, "viewer") as viewer:
        orders_before = (await viewer.get("/orders")).json()
    edge.kill9()
    edge.start()
    async with api(edge, "viewer") as viewer:
        assert (await viewer.get("/orders")).json() == orders_before
    assert await all_events(edge) == events


async def _held(edge: EdgeProcess, presses: int = 2) -> dict[str, float] | None:
    seen = await metrics(edge)
    # The presses in the writer's queue, behind the held batch, and the commit retried a few times.
    queued = seen["floorgate_writer_backlog"] >= presses
    return seen if queued and seen["floorgate_commit_failures_total"] >= 3 else None


async def _healthy(edge: EdgeProcess) -> bool:
    code, body = await health(edge)
    return code == 200 and body["store"]["ok"]


# -- starting on a store that cannot take writes ---------------------------------------------------


def make_store_file(edge: EdgeProcess) -> None:
    """A store left by an earlier run: schema and one committed batch, closed cleanly."""
    store = Store(make_engine(f"sqlite:///{db_path(edge)}"))
    store.create_schema()
    store.close()


def start_refused(edge: EdgeProcess) -> str:
    """Start the edge and expect it to exit at once, non-zero; its log."""
    with pytest.raises(RuntimeError, match="exited with") as refused:
        edge.start(timeout=20)
    assert edge.process is not None
    assert edge.process.returncode == 2, (
        f"expected exit code 2, got {edge.process.returncode}: {refused.value}"
    )
    return edge.logs()


@pytest.mark.parametrize(
    ("spoil", "words", "mend"),
    [
        pytest.param(SmallDisk.fill, "is full: no space left", SmallDisk.free, id="full"),
        pytest.param(
            lambda disk: disk.remount("ro"),
            "is read-only (Read-only file system)",
            lambda disk: disk.remount("rw"),
            id="read-only",
        ),
    ],
)
def test_an_edge_started_on_a_full_or_read_only_disk_exits_at_once_naming_the_store_and_what_to_do(
    tmp_path: Path, small_disk: SmallDisk, mosquitto: Mosquitto, site: str, spoil: Any, words: str, mend: Any
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url)
    make_store_file(edge)
    spoil(small_disk)

    logs = start_refused(edge)
    refusals = [r for r in edge_log(edge, "cannot start") if r["level"] == "error"]
    assert len(refusals) == 1, f"expected one 'cannot start' error naming the cause, got:\n{logs}"
    assert f"the store at {db_path(edge)} {words}" in refusals[0]["msg"], refusals[0]["msg"]
    assert "Traceback" not in logs, f"a traceback instead of a clear error:\n{logs}"

    # Doing what the message says is enough: the same edge starts.
    mend(small_disk)
    with running(edge.start()):
        assert edge.process is not None
        assert edge.process.poll() is None


# -- a disk the kernel turns read-only mid-run -----------------------------------------------------


async def test_a_disk_turning_read_only_mid_run_refuses_new_work_and_loses_no_press_across_the_repair(
    tmp_path: Path, ext4_disk: Ext4Disk, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url)
    db = db_path(edge)
    with running(edge.start()):
        await seed_and_light(edge, bank)
        await press_and_see_dark(bank, "M-A-01")

        ext4_disk.fail_read_only()
        async with api(edge) as erp:
            # The first write after the failure finds it; that request is held with its batch.
            held = asyncio.create_task(
                erp.post(
                    "/orders",
                    json={"order_id": "HELD", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1}]},
                )
            )
            failing = await wait_until(
                lambda: store_failing(edge, "read_only"),
                timeout=30,
                what="/healthz reporting the store read-only",
            )
            assert failing["store"]["location"] == db, failing
            refused = await erp.post(
                "/orders",
                json={"order_id": "REFUSED", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1}]},
            )
            check_refusal(refused, db=db, cause="read_only", words="is read-only")
            assert (await erp.get("/orders/O-1")).status_code == 200, "reads stopped with the disk"

            await bank.press("M-A-02", Button.CONFIRM)
            await bank.press("M-A-03", Button.CONFIRM)
            seen = await wait_until(lambda: _held(edge), timeout=15, what="both presses held at the edge")
            assert seen['floorgate_store_failure{cause="read_only"}'] == 1, seen
            assert bank.state("M-A-02").color is not None, (
                "a light went off for a pick the disk does not hold"
            )
            failures = edge_log(edge, FAILING)
            assert [(r["cause"], r["store"]) for r in failures] == [("read_only", db)], failures
            assert not held.done(), "the held request was answered before its batch reached the disk"

            # The disk stays read-only until a person repairs it: stop the edge (it must stop cleanly)...
            code = await asyncio.to_thread(edge.stop)
            assert code == 0, (
                f"the edge exited {code} on SIGTERM while its store was read-only:\n{edge.logs()}"
            )
            stopped = await held
            assert stopped.status_code == 503, (
                f"the held request was not told: {stopped.status_code} {stopped.text}"
            )
            assert stopped.json()["detail"].startswith("the edge stopped before it could commit this"), (
                stopped.text
            )
            assert "Traceback" not in edge.logs(), (
                f"stopping while read-only left a traceback:\n{edge.logs()}"
            )

    # ... repair the file system, start again: the broker kept the presses, which are applied once.
    ext4_disk.repair()
    with running(edge.start()):
        await wait_until(
            lambda: bank.state("M-A-02").color is None and bank.state("M-A-03").color is None,
            timeout=30,
            what="the presses held during the failure applied after the repair",
        )
        async with api(edge) as erp:
            for order_id in ("HELD", "REFUSED"):
                response = await erp.get(f"/orders/{order_id}")
                assert response.status_code == 404, f"{order_id} was never committed, yet: {response.text}"
            retried = await erp.post(
                "/orders", json={"order_id": "HELD", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1}]}
            )
            assert retried.status_code == 201, retried.text
        events = await all_events(edge)
        check_event_log(events)
        assert confirmed_lines(events) == sorted(line_of(m) for m in ("M-A-01", "M-A-02", "M-A-03"))
        assert received_orders(events) == sorted([*ORDERS, "HELD"])


# -- [store] max_size_mb: SQLite's own SQLITE_FULL, no root needed ----------------------------------


def size_limit(mb: int) -> str:
    return f"[store]\nmax_size_mb = {mb}\n"


async def test_a_store_at_its_max_size_refuses_new_work_and_a_larger_limit_applies_everything_held(
    tmp_path: Path, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=size_limit(2))
    db = db_path(edge)
    limit_reached = "is full: it reached [store] max_size_mb = 2"
    with running(edge.start()):
        await seed_and_light(edge, bank)
        await press_and_see_dark(bank, "M-A-01")
        async with api(edge) as erp:
            loader = OrderLoader(erp, lines=200).start()
            failing = await wait_until(
                lambda: store_failing(edge, "full"),
                timeout=60,
                what="/healthz reporting the store at its limit",
            )
            assert limit_reached in failing["store"]["error"], failing
            check_refusal(
                await erp.post(
                    "/orders",
                    json={"order_id": "REFUSED", "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 1}]},
                ),
                db=db,
                cause="full",
                words=limit_reached,
            )
            await bank.press("M-A-02", Button.CONFIRM)
            await wait_until(lambda: _held(edge, presses=1), timeout=15, what="the press held at the edge")
            assert bank.state("M-A-02").color is not None, (
                "a light went off for a pick the store does not hold"
            )
            code = await asyncio.to_thread(edge.stop)
            assert code == 0, f"the edge exited {code} on SIGTERM at its size limit:\n{edge.logs()}"
            await asyncio.wait_for(loader.task, timeout=30)  # type: ignore[arg-type]

    # The same limit again: the edge says at once that it cannot start, and why.
    start_refused(edge)
    refusal = edge_log(edge, "cannot start")
    assert len(refusal) == 1, refusal
    assert f"the store at {db} is full: it holds" in refusal[0]["msg"], refusal
    assert "[store] max_size_mb is 2" in refusal[0]["msg"], refusal

    edge.extra_site = size_limit(16)
    edge.write_config()
    with running(edge.start()):
        await wait_until(
            lambda: bank.state("M-A-02").color is None,
            timeout=30,
            what="the held press applied after the limit rose",
        )
        async with api(edge) as erp:
            assert (await erp.get("/orders/REFUSED")).status_code == 404
        events = await all_events(edge)
        check_event_log(events)
        assert confirmed_lines(events) == sorted(line_of(m) for m in ("M-A-01", "M-A-02"))
        assert received_orders(events) == sorted([*ORDERS, *loader.accepted()])
        assert set(loader.answers.values()) <= {201, 503}, loader.answers


# -- the parts, in one process: causes, the writer's hold, the relay's bookkeeping -----------------


def real_sqlite_error(tmp_path: Path, kind: str) -> sqlite3.Error:
    """The error SQLite itself raises for a database at its page limit, or opened read-only."""
    db = tmp_path / f"{kind}.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x BLOB)").connection.close()
    connection = sqlite3.connect(f"file:{db}?mode=ro" if kind == "read_only" else db, uri=True)
    try:
        if kind == "full":
            connection.execute("PRAGMA max_page_count = 2")
        connection.execute("INSERT INTO t VALUES (?)", (bytes(64 * 1024),))
        connection.commit()
    except sqlite3.Error as err:
        return err
    finally:
        connection.close()
    raise AssertionError(f"SQLite took the write it should have refused ({kind})")


def real_constraint_error() -> sqlite3.Error:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE TABLE t (x INTEGER NOT NULL)")
        connection.execute("INSERT INTO t VALUES (NULL)")
    except sqlite3.Error as err:
        return err
    finally:
        connection.close()
    raise AssertionError("SQLite took a NULL into a NOT NULL column")


class PostgresError(Exception):
    """What psycopg raises: the SQLSTATE on `sqlstate`."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_database_and_file_errors_map_to_the_cause_a_person_has_to_fix(tmp_path: Path) -> None:
    cases: list[tuple[BaseException, StoreFailure]] = [
        (real_sqlite_error(tmp_path, "full"), StoreFailure.FULL),
        (real_sqlite_error(tmp_path, "read_only"), StoreFailure.READ_ONLY),
        (sqlite3.OperationalError("database or disk is full"), StoreFailure.FULL),
        (sqlite3.OperationalError("attempt to write a readonly database"), StoreFailure.READ_ONLY),
        (sqlite3.OperationalError("disk I/O error"), StoreFailure.IO_ERROR),
        (sqlite3.OperationalError("unable to open database file"), StoreFailure.UNAVAILABLE),
        (OSError(errno.ENOSPC, "No space left on device"), StoreFailure.FULL),
        (OSError(errno.EROFS, "Read-only file system"), StoreFailure.READ_ONLY),
        (OSError(errno.EIO, "Input/output error"), StoreFailure.IO_ERROR),
        (sqlite3.OperationalError("no such table: events"), StoreFailure.OTHER),
        # What a batch holds, not the store's state: retrying the same batch cannot help.
        (sqlite3.IntegrityError("UNIQUE constraint failed: events.seq"), StoreFailure.UNSTORABLE),
        (real_constraint_error(), StoreFailure.UNSTORABLE),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), StoreFailure.UNSTORABLE),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), StoreFailure.UNSTORABLE),
        (
            sqlite3.ProgrammingError("Error binding parameter 2: type 'dict' is not supported"),
            StoreFailure.UNSTORABLE,
        ),
        (PostgresError("22021", "invalid byte sequence for encoding"), StoreFailure.UNSTORABLE),
        (PostgresError("53100", "could not extend file"), StoreFailure.FULL),
        (
            PostgresError("", "consuming input failed: server closed the connection unexpectedly"),
            StoreFailure.UNAVAILABLE,
        ),
    ]
    got = [(str(err), failure_cause(err)) for err, _ in cases]
    assert got == [(str(err), cause) for err, cause in cases]


def test_a_failed_write_names_the_store_and_the_cause_but_never_the_statement_or_a_secret(
    tmp_path: Path,
) -> None:
    db = tmp_path / "fg.db"
    Store(make_engine(f"sqlite:///{db}")).create_schema()
    # The same file opened read-only: SQLAlchemy's error carries the INSERT and its parameters.
    deliveries = DeliveryStore(create_engine(f"sqlite:///file:{db}?mode=ro&uri=true"))
    secret = new_secret()
    endpoint = Endpoint(
        id="erp", url="https://erp.example.com/hooks", events=("*",), secret=secret, created_at=0
    )

    with pytest.raises(StoreError) as failed:
        deliveries.save_endpoint(endpoint)

    message = str(failed.value)
    assert failed.value.cause is StoreFailure.READ_ONLY, message
    assert message.startswith(f"the store at {db} is read-only (attempt to write a readonly database)"), (
        message
    )
    for leak in (secret, "INSERT", "[SQL", "parameters"):
        assert leak not in message, f"{leak!r} in {message!r}"


class FailingStore(Store):
    """The real store, whose commits can be made to fail the way a full disk fails them, and be held back."""

    def __init__(self, path: Path) -> None:
        super().__init__(make_engine(f"sqlite:///{path}"))
        self.create_schema()
        self.full = threading.Event()
        self.attempts = 0
        self.attempting = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def commit(self, batch: Batch) -> None:
        self.attempts += 1
        self.attempting.set()
        assert self.gate.wait(10), "the test never let the commit through"
        if self.full.is_set():
            raise self.describe_failure(sqlite3.OperationalError("database or disk is full"), "committing")
        super().commit(batch)


@pytest.fixture
async def stopper() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def started(store: Store, tasks: list[asyncio.Task[None]], *, inline_commit_rows: int = 500) -> Writer:
    loaded = store.load()
    writer = Writer(
        store=store, floor=loaded.floor, last_seq=loaded.last_seq, inline_commit_rows=inline_commit_rows
    )
    tasks.append(asyncio.create_task(writer.run(), name="writer"))
    await writer.execute(cmd.DefineZone(zone="A"))
    await writer.execute(cmd.UpsertLocation(code="A-01", zone="A", module="M1", sku="S1", on_hand=10))
    await writer.execute(
        cmd.ReceiveOrder(
            order_id="O1", lines=(cmd.NewOrderLine(line_id="L1", sku="S1", qty=1, location="A-01"),)
        )
    )
    await writer.execute(cmd.StartOrder(order_id="O1", zone="A", operator="ann"))
    return writer


def new_order(order_id: str) -> cmd.ReceiveOrder:
    return cmd.ReceiveOrder(order_id=order_id, lines=(cmd.NewOrderLine(line_id="L1", sku="S1", qty=1),))


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == text]


async def test_while_commits_fail_the_batch_is_held_queued_requests_are_refused_and_presses_wait_unacked(
    tmp_path: Path, stopper: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = FailingStore(tmp_path / "fg.db")
    # Every commit in a worker thread (the path of a large batch), so that the test can hold one there
    # while requests queue behind it.
    writer = await started(store, stopper, inline_commit_rows=0)

    store.full.set()
    store.gate.clear()
    store.attempting.clear()
    held = asyncio.create_task(writer.execute(new_order("HELD")))
    await wait_until(store.attempting.is_set, what="the batch with HELD in its commit")
    queued = asyncio.create_task(writer.execute(new_order("QUEUED")))
    await wait_until(lambda: writer.backlog == 1, what="QUEUED waiting behind the commit")
    acked: list[str] = []
    press = cmd.PressButton(message_id="ptl:M1:1", module="M1", button=Button.CONFIRM, display="1")
    await writer.submit(press, on_commit=lambda: acked.append("ptl:M1:1"))
    store.gate.set()

    with pytest.raises(WriterUnavailable) as refused:
        await asyncio.wait_for(queued, timeout=5)
    failure = refused.value.store_failure
    assert failure is not None, refused.value
    assert failure.cause is StoreFailure.FULL, refused.value
    assert str(refused.value).startswith(f"the store at {tmp_path / 'fg.db'} is full"), refused.value
    with pytest.raises(WriterUnavailable):
        await asyncio.wait_for(writer.execute(new_order("NEW")), timeout=1)  # refused at once, not queued
    await wait_until(lambda: writer.stats.commit_failures >= 4, what="the commit retried")
    assert not held.done(), "HELD was answered while its batch was not on disk"
    assert acked == [], "a device message was acknowledged before its commit"
    assert writer.backlog == 1, "the press lost its place in the queue"
    assert len(messages(caplog, FAILING)) == 1, [r.getMessage() for r in caplog.records]

    store.full.clear()
    applied = await asyncio.wait_for(held, timeout=15)
    assert [e.type for e in applied.events] == ["order.received"]
    await wait_until(lambda: acked == ["ptl:M1:1"], timeout=5, what="the press acknowledged after its commit")
    events = store.events_after(0, 1000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sorted(e.order_id for e in events if e.type == "order.received") == ["HELD", "O1"]
    assert [e.data["line"] for e in events if e.type == "pick.confirmed"] == ["L1"]
    assert writer.store_failure is None
    assert writer.held_events == 0
    assert len(messages(caplog, RECOVERED)) == 1
    assert len(messages(caplog, FAILING)) == 1


class CommitsThenFails(Store):
    """A commit that reaches the disk and is then reported failed (an I/O error on the final sync)."""

    fail_next = False

    def commit(self, batch: Batch) -> None:
        super().commit(batch)
        if self.fail_next:
            self.fail_next = False
            raise self.describe_failure(sqlite3.OperationalError("disk I/O error"), "committing")


async def test_a_batch_that_reached_the_disk_before_its_commit_failed_is_not_written_twice(
    tmp_path: Path, stopper: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = CommitsThenFails(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"))
    store.create_schema()
    writer = await started(store, stopper)

    store.fail_next = True
    applied = await asyncio.wait_for(writer.execute(new_order("ONCE")), timeout=15)
    after = await asyncio.wait_for(writer.execute(new_order("AFTER")), timeout=15)

    events = store.events_after(0, 1000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.order_id for e in events if e.type == "order.received"] == ["O1", "ONCE", "AFTER"]
    assert after.events[0].seq == applied.events[0].seq + 1
    assert writer.store_failure is None
    assert len(messages(caplog, "the held batch had reached the store before its commit failed")) == 1


class UnwritableDeliveries(DeliveryStore):
    """The real delivery store, whose writes of delivery outcomes fail as on a full disk while `full`."""

    full = True
    record_attempts = 0

    def record(self, updates: Any) -> None:
        self.record_attempts += 1
        if self.full:
            error = sqlite3.OperationalError("database or disk is full")
            raise describe_failure(self.engine, error, "recording delivery results")
        super().record(updates)


async def test_the_relay_sends_nothing_twice_and_logs_once_while_it_cannot_record_deliveries(
    tmp_path: Path, stopper: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = Store(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"))
    store.create_schema()
    deliveries = UnwritableDeliveries(store.engine)
    registry = EndpointRegistry()
    secret = new_secret()
    async with WebhookReceiver([secret]) as erp:
        deliveries.save_endpoint(
            Endpoint(id="erp", url=erp.url, events=("order.*",), secret=secret, created_at=0)
        )
        registry.put(deliveries.endpoints()[0])
        loaded = store.load()
        writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq, outbox=registry)

        async def gone(_endpoint: Endpoint, _reason: str) -> None:
            raise AssertionError("no endpoint is gone here")

        relay = WebhookRelay(
            deliveries=deliveries,
            registry=registry,
            on_gone=gone,
            policy=RetryPolicy(base_delay=0.05, timeout=2),
        )
        writer.subscribe(lambda committed: relay.wake())
        stopper.append(asyncio.create_task(writer.run()))
        for n in range(3):
            await writer.execute(new_order(f"O{n}"))
        stopper.append(asyncio.create_task(relay.run()))  # one round finds all three due

        await wait_until(lambda: len(erp.accepted) == 3, timeout=10, what="three deliveries taken by the ERP")
        await wait_until(lambda: deliveries.record_attempts >= 3, timeout=15, what="recording retried")
        assert len(erp.requests) == 3, (
            f"deliveries sent again while their outcome could not be written: {erp.requests}"
        )
        assert relay.store_failure is not None
        assert relay.store_failure.cause is StoreFailure.FULL

        deliveries.full = False
        await wait_until(
            lambda: len(deliveries.list_deliveries(status=DELIVERED)) == 3,
            timeout=30,
            what="outcomes written",
        )
        await wait_until(lambda: relay.store_failure is None, timeout=5, what="the relay's recovery")
        assert len(erp.requests) == 3, "a delivery was sent again after its outcome was written"
    assert (
        len(messages(caplog, "webhook relay cannot record deliveries; holding their outcomes and retrying"))
        == 1
    )
    assert len(messages(caplog, "webhook relay records deliveries again")) == 1


def test_max_size_mb_is_an_sqlite_setting_of_at_least_one_megabyte() -> None:
    base = '[site]\nid = "dc1"\n[edge]\nid = "edge-1"\n'
    assert parse_site(base + "[store]\nmax_size_mb = 64\n", source="site.toml").store.max_size_mb == 64
    assert parse_site(base, source="site.toml").store.max_size_mb is None
    for store, problem in [
        ("max_size_mb = 0", "site.toml:6: store.max_size_mb: must be >= 1"),
        (
            'url = "postgresql+psycopg://fg@db/fg"\nmax_size_mb = 64',
            "site.toml:7: store.max_size_mb: applies to an SQLite store only",
        ),
    ]:
        with pytest.raises(ConfigError) as refused:
            parse_site(f"{base}[store]\n{store}\n", source="site.toml")
        assert str(refused.value).startswith(problem), str(refused.value)


def test_an_edge_whose_store_fills_while_it_applies_the_site_file_exits_instead_of_coming_up_held(
    tmp_path: Path, mosquitto: Mosquitto, site: str
) -> None:
    # Room enough to pass the start-up check, not enough for the locations the site file declares.
    locations = "".join(
        f'[[locations]]\ncode = "A-{n:05d}-LONG-LOCATION-CODE"\nzone = "A"\nsku = "SKU-{n:05d}"\non_hand = {n}\n'
        for n in range(12_000)
    )
    edge = EdgeProcess(
        workdir=tmp_path, site=site, mqtt_url=mosquitto.url, extra_site=size_limit(2) + locations
    )
    logs = start_refused(edge)
    refusal = edge_log(edge, "cannot start")
    assert len(refusal) == 1, f"expected one 'cannot start' error, got:\n{logs[-3000:]}"
    assert f"the store at {db_path(edge)} is full: it reached [store] max_size_mb = 2" in refusal[0]["msg"], (
        refusal
    )
    assert "Traceback" not in logs, logs[-3000:]


def test_a_disk_with_less_than_a_megabyte_left_is_refused_before_the_edge_takes_work(
    small_disk: SmallDisk,
) -> None:
    store = Store(make_engine(f"sqlite:///{small_disk.path / 'floorgate.db'}"))
    store.create_schema()
    store.check_writable()  # room enough: no complaint
    free = os.statvfs(small_disk.path).f_bavail * os.statvfs(small_disk.path).f_frsize
    small_disk.filler = small_disk.path / "filler.bin"
    small_disk.filler.write_bytes(bytes(free - 512 * 1024))

    with pytest.raises(StoreError) as refused:
        store.check_writable()
    store.close()
    assert refused.value.cause is StoreFailure.FULL
    assert str(refused.value).startswith(f"the store at {small_disk.path / 'floorgate.db'} is full: only "), (
        refused.value
    )
    assert "kB free on the disk that holds it" in str(refused.value)


# -- the write-ahead log on a disk with no room left ------------------------------------------------


def wal_of(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def free_pages_inside(store: Store, megabytes: int) -> None:
    """Pages the database file holds and uses for nothing: what a commit adds reuses them, so copying the
    log into the file needs no new room on the disk."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE pad (x BLOB)")
        conn.exec_driver_sql(f"INSERT INTO pad VALUES (zeroblob({megabytes * 2**20}))")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE pad")
    assert store.checkpoint(mode=CheckpointMode.TRUNCATE).complete


async def test_a_disk_with_no_room_for_the_log_to_grow_goes_on_committing_within_the_logs_own_file(
    small_disk: SmallDisk,
    stopper: list[asyncio.Task[None]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The disk fills while the log holds a megabyte: a commit that needs the log to grow fails, SQLITE_FULL.
    The log's own file is room enough once a checkpoint has copied the log and let it start afresh, so the
    writer checkpoints and tries again, and the floor goes on with no outage and nothing lost. Before, no
    checkpoint ran while commits failed: each time was an outage (three here), held until SQLite happened
    to checkpoint the log as the writer's failed connection closed, the only one open."""
    caplog.set_level(logging.INFO)
    # No round and no limit would start the log afresh here: only the full disk does.
    for name in ("CHECKPOINT_SECONDS", "CHECKPOINT_FORCE_SECONDS"):
        monkeypatch.setattr(checkpoint_module, name, 3600.0)
    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_ROWS", 10**9)
    monkeypatch.setattr(checkpoint_module, "WAL_LIMIT_BYTES", 64 * 2**20)
    db = small_disk.path / "floorgate.db"
    store = Store(make_engine(f"sqlite:///{db}"))
    store.create_schema()
    free_pages_inside(store, 4)
    writer = await started(store, stopper)
    on_hand = 0
    while wal_of(db).stat().st_size < 2**20:
        on_hand += 1
        await writer.execute(
            cmd.UpsertLocation(code="A-01", zone="A", module="M1", sku="S1", on_hand=on_hand)
        )

    assert await asyncio.to_thread(small_disk.fill) > 0
    log_file = wal_of(db).stat().st_size
    for n in range(on_hand + 1, on_hand + 200):  # the log's file several times over
        await asyncio.wait_for(
            writer.execute(cmd.UpsertLocation(code="A-01", zone="A", module="M1", sku="S1", on_hand=n)),
            timeout=30,
        )

    assert writer.stats.commit_failures == 0, "a full disk that the log's own file made room on was an outage"
    assert messages(caplog, FAILING) == []
    reused = "the store is full; the write-ahead log was copied so the next commit can reuse its file"
    assert len(messages(caplog, reused)) >= 2, "the disk never refused the log: nothing was tested"
    assert wal_of(db).stat().st_size <= log_file, "the log grew on a disk with no room"
    assert store.load().floor.locations["A-01"].on_hand == on_hand + 199


LEFT_LOG_SCRIPT = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("PRAGMA synchronous=OFF")
db.execute("CREATE TABLE pad (n INTEGER, x BLOB)")
db.executemany("INSERT INTO pad VALUES (?, zeroblob(1000))", [(n,) for n in range(40)])
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
for _ in range(int(sys.argv[2])):
    db.execute("UPDATE pad SET n = n + 1")  # the same pages again and again: the database never grows
os._exit(0)  # as a kill -9: no close, so no checkpoint, and the log stays
"""


def test_an_edge_starts_on_a_disk_its_own_left_over_log_filled(small_disk: SmallDisk, tmp_path: Path) -> None:
    """An edge killed with a long log left behind, on a disk that is full now: the log is the store's own,
    so start-up copies it into the database and truncates it before it measures the room left, and the
    edge starts. Before, the free-space check left the log out and refused to start until the disk grew."""
    db = small_disk.path / "floorgate.db"
    Store(make_engine(f"sqlite:///{db}")).close()
    script = tmp_path / "left_log.py"
    script.write_text(LEFT_LOG_SCRIPT)
    subprocess.run([sys.executable, str(script), str(db), "2000"], check=True, timeout=120)
    left = wal_of(db).stat().st_size
    # Longer than the log's limit and the headroom the edge asks for: without the log's room it cannot start.
    assert left > checkpoint_module.WAL_LIMIT_BYTES + STARTUP_HEADROOM_BYTES, (
        f"the log left behind is only {left} bytes"
    )
    free = os.statvfs(small_disk.path).f_bavail * os.statvfs(small_disk.path).f_frsize
    small_disk.filler = small_disk.path / "filler.bin"
    small_disk.filler.write_bytes(bytes(free - 256 * 1024))

    store = Store(make_engine(f"sqlite:///{db}"))
    try:
        store.check_folder()
        store.create_schema()
        store.check_writable()
        assert wal_of(db).stat().st_size < left
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT min(n), max(n) FROM pad").one() == (2000, 2039)
    finally:
        store.close()
