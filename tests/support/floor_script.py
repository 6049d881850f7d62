"""A scripted pick-to-light run for the failure suite, and the checks that nothing was lost or applied twice.

The floor is seeded and fed as an ERP would do it, over the REST API, each call repeated until the edge
answers it, so the ERP's work survives an edge that is killed and restarted under it. Simulated pickers
work the lights. The checks read the edge's durable event log, its orders and locations, the modules'
displays and what a webhook receiver took, and say what was expected and what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import unquote_plus

import httpx

from floorgate.core.commands import Button
from floorgate.devices.ptl.codec import ModuleEvent, PtlTopic, encode_event, ptl_topic
from floorgate.firmware_sim.pickers import ANY_COLOR, SimulatedPicker
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.edge_process import TOKENS
from tests.support.mqtt_observer import MqttObserver
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

# The picker of each zone; one name per zone keeps one colour per zone while it has work there.
OPERATORS = {"A": "ann", "B": "bob"}
# The events that finish an order line: exactly one of them per line, whatever happened to the edge.
LINE_OUTCOMES = frozenset({"pick.confirmed", "pick.short"})
# What a picker's confirm or short press becomes: a line outcome, or a rejection (an over-pick).
PRESS_OUTCOMES = LINE_OUTCOMES | {"pick.rejected"}
# Exceptions that mean a press reached no light or the wrong one (applied twice, or mangled on the way).
# `unknown_module` counts only for a press: a module announcing itself before the ERP placed it is normal.
MISAPPLIED_PRESS = frozenset({"button_not_lit", "unknown_module", "device_fault"})


def new_site_id(prefix: str) -> str:
    """A site id of the test's own, so tests sharing a broker never see each other's topics."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, kw_only=True)
class Bin:
    """A location with its pick-to-light module and the stock it starts with."""

    code: str
    zone: str
    module: str
    sku: str
    on_hand: int


def floor_bins(per_zone: int, *, zones: Sequence[str] = ("A", "B"), on_hand: int = 1000) -> tuple[Bin, ...]:
    """`per_zone` bins in each zone. The stock is large, so no pick runs a bin down to its floor of 0."""
    return tuple(
        Bin(
            code=f"{zone}-{n:02d}",
            zone=zone,
            module=f"M-{zone}-{n:02d}",
            sku=f"SKU-{zone}{n:02d}",
            on_hand=on_hand,
        )
        for zone in zones
        for n in range(1, per_zone + 1)
    )


def random_order(
    rng: random.Random, order_id: str, bins: Sequence[Bin], *, max_lines: int = 3, max_qty: int = 3
) -> dict[str, Any]:
    """An order body as the ERP posts it: 1..max_lines lines on distinct bins, 1..max_qty units each."""
    chosen = rng.sample(list(bins), rng.randint(1, min(max_lines, len(bins))))
    return {
        "order_id": order_id,
        "tote": f"T-{order_id}",
        "lines": [
            {"line_id": f"L{n}", "sku": b.sku, "qty": rng.randint(1, max_qty), "location": b.code}
            for n, b in enumerate(chosen, 1)
        ],
    }


def zones_of(order: Mapping[str, Any], bins: Sequence[Bin]) -> list[str]:
    zone_of = {b.code: b.zone for b in bins}
    return sorted({zone_of[line["location"]] for line in order["lines"]})


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text as {sample name with labels: value}."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


class HasBaseUrl(Protocol):
    """An edge, or the one address in front of a pair of them."""

    @property
    def base_url(self) -> str: ...


class ErpClient:
    """The ERP's side of the REST API.

    Every call is repeated until the edge answers it: a killed or restarting edge refuses connections (or
    drops one mid-request) and a failing store answers 503, and an integration must carry on across both.
    Repeating is safe: an identical order replay is a 200 and a second start of a started order says so.
    """

    def __init__(self, edge: HasBaseUrl, *, role: str = "erp", patience: float = 60.0) -> None:
        self.patience = patience
        self._client = httpx.AsyncClient(
            base_url=f"{edge.base_url}/api/v1",
            headers={"Authorization": f"Bearer {TOKENS[role]}"},
            timeout=10,
        )

    async def __aenter__(self) -> ErpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def call(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        deadline = time.monotonic() + self.patience
        delay = 0.05
        while True:
            try:
                response = await self._client.request(method, path, json=body, params=params)
            except httpx.TransportError as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if response.status_code != 503:
                    return response
                last = f"503 {response.text}"
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the edge did not answer {method} {path} within {self.patience}s; last: {last}"
                )
            await asyncio.sleep(delay)  # the edge is down or restarting: ask again shortly
            delay = min(delay * 2, 0.5)

    async def health(self) -> tuple[int, dict[str, Any]]:
        """`/api/v1/healthz` asked once (a 503 is an answer here, not a reason to ask again)."""
        response = await self._client.get("/healthz")
        return response.status_code, response.json()

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.call("GET", path, params=params)
        assert response.status_code == 200, (
            f"GET {path}: expected 200, got {response.status_code} {response.text}"
        )
        return response.json()

    async def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every page of a list that pages in its headers (`GET /exceptions`, `GET /devices`)."""
        found: list[Any] = []
        while True:
            response = await self.call("GET", path, params=params)
            assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
            found += response.json()
            following = response.headers.get("X-Next-After")
            if following is None:
                return found
            params = {**params, "after": unquote_plus(following)}

    async def seed(self, bins: Iterable[Bin]) -> None:
        for b in bins:
            item = await self.call(
                "PUT", f"/items/{b.sku}", body={"description": b.sku, "unit_weight_g": 100}
            )
            assert item.status_code in (200, 201), f"PUT /items/{b.sku}: {item.status_code} {item.text}"
            location = await self.call(
                "PUT",
                f"/locations/{b.code}",
                body={"zone": b.zone, "module": b.module, "sku": b.sku, "on_hand": b.on_hand},
            )
            assert location.status_code in (200, 201), (
                f"PUT /locations/{b.code}: {location.status_code} {location.text}"
            )

    async def send_order(self, order: Mapping[str, Any]) -> None:
        response = await self.call("POST", "/orders", body=order)
        # 200 is the identical replay of an order whose first answer was lost with the edge.
        assert response.status_code in (200, 201), (
            f"POST /orders {order['order_id']}: expected 201 or 200, got {response.status_code} {response.text}"
        )

    async def start_order(self, order_id: str, zone: str) -> None:
        response = await self.call(
            "POST", f"/orders/{order_id}/start", body={"zone": zone, "operator": OPERATORS[zone]}
        )
        if response.status_code == 409:
            # A start whose answer was lost with the edge, and whose zone the picker finished before the
            # ERP asked again: fine if the order did start there.
            order = await self.get(f"/orders/{order_id}")
            if any(run["zone"] == zone for run in order["zones"]):
                return
        assert response.status_code == 200, (
            f"POST /orders/{order_id}/start in {zone}: expected 200, got {response.status_code} {response.text}"
        )

    async def events(self) -> list[dict[str, Any]]:
        """The whole event log, page by page."""
        events: list[dict[str, Any]] = []
        while True:
            page = await self.get("/events", after=events[-1]["seq"] if events else 0, limit=1000)
            if not page["events"]:
                return events
            events.extend(page["events"])

    async def on_hand(self) -> dict[str, int | None]:
        return {loc["code"]: loc["on_hand"] for loc in await self.get("/locations")}

    async def metrics(self) -> dict[str, float]:
        response = await self.call("GET", "/metrics")
        assert response.status_code == 200, f"GET /metrics: {response.status_code} {response.text}"
        return parse_metrics(response.text)

    async def deliveries(self, status: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            after = found[-1]["event_seq"] if found else 0
            page: list[dict[str, Any]] = await self.get(
                "/webhooks/deliveries", status=status, after_seq=after, limit=1000
            )
            if not page:
                return found
            found.extend(page)

    async def unfinished(self, order_ids: Iterable[str]) -> dict[str, str]:
        """Orders of `order_ids` not picked yet, with their status (`missing` when the edge lacks one)."""
        status = {o["order_id"]: o["status"] for o in await self.get("/orders")}
        return {o: status.get(o, "missing") for o in order_ids if status.get(o) != "picked"}


class HeldPresses:
    """Key presses a module keeps while it cannot reach the broker, as PTL firmware with an event buffer
    does: each gets its id when pressed and goes out with that id, at QoS 1, once the module is back.

    The bank itself refuses a press while the module's connection is down (`ModuleOffline`); this is the
    buffer in front of it.
    """

    def __init__(self, bank: ModuleBank) -> None:
        self._bank = bank
        self.held: list[tuple[str, ModuleEvent]] = []

    def press(self, module: str, button: Button) -> ModuleEvent:
        assert not self._bank.online(module), f"{module} is online: press it through the bank"
        shown = self._bank.state(module)
        event = ModuleEvent(
            id=f"{module}-held-{len(self.held) + 1}-{uuid.uuid4().hex[:8]}",
            button=button,
            display=shown.display if shown.lit else None,
        )
        self.held.append((module, event))
        return event

    async def send(self, broker_url: str) -> list[ModuleEvent]:
        """Publish every held press in the order pressed, each acknowledged by the broker; then forget them."""
        async with MqttObserver(broker_url, f"floorgate/{self._bank.site}/ptl/+/ack") as sender:
            for module, event in self.held:
                await sender.publish(ptl_topic(self._bank.site, module, PtlTopic.EVENT), encode_event(event))
        sent = [event for _, event in self.held]
        self.held = []
        return sent


class OrderFeeder:
    """The ERP sending work while the floor runs: keeps `in_flight` orders unpicked until `finish()`.

    Each order is posted, then started in every zone it has lines in; the ERP client repeats calls the
    edge did not answer, so an order is never half sent, whenever the edge dies.
    """

    def __init__(
        self,
        erp: ErpClient,
        bins: Sequence[Bin],
        rng: random.Random,
        *,
        in_flight: int = 4,
        prefix: str = "SO",
    ) -> None:
        self._erp = erp
        self._bins = bins
        self._rng = rng
        self._in_flight = in_flight
        self._prefix = prefix
        self.sent: dict[str, dict[str, Any]] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="erp-order-feeder")

    async def finish(self) -> dict[str, dict[str, Any]]:
        """Stop sending new orders once the one being sent is started; the orders sent, by id."""
        self._stopping.set()
        assert self._task is not None
        await self._task
        return self.sent

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if len(await self._erp.unfinished(self.sent)) >= self._in_flight:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):  # look again shortly, or stop now
                        await self._stopping.wait()
                continue
            order_id = f"{self._prefix}-{len(self.sent) + 1:04d}"
            order = random_order(self._rng, order_id, self._bins)
            self.sent[order_id] = order  # before posting: the edge may take it and die before answering
            await self._erp.send_order(order)
            for zone in zones_of(order, self._bins):
                await self._erp.start_order(order_id, zone)


class PickerCrew:
    """One simulated picker per zone, following every light of the zone whoever's colour it shows."""

    def __init__(
        self,
        bank: ModuleBank,
        bins: Sequence[Bin],
        rng: random.Random,
        *,
        seconds_per_pick: float = 0.05,
        short_rate: float = 0.0,
        mistake_rate: float = 0.0,
    ) -> None:
        modules_by_zone: dict[str, list[str]] = defaultdict(list)
        for b in bins:
            modules_by_zone[b.zone].append(b.module)
        self.pickers = [
            SimulatedPicker(
                bank,
                OPERATORS[zone],
                modules,
                color=ANY_COLOR,
                seconds_per_pick=seconds_per_pick,
                jitter=0.5,
                short_rate=short_rate,
                mistake_rate=mistake_rate,
                rng=random.Random(rng.random()),
            )
            for zone, modules in sorted(modules_by_zone.items())
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> PickerCrew:
        self._tasks = [asyncio.create_task(p.run(), name=f"picker-{p.name}") for p in self.pickers]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def check_working(self) -> None:
        """Fail naming the picker whose task stopped: a crashed picker would only look like a slow floor."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"{task.get_name()} crashed") from task.exception()

    @property
    def finishing_presses(self) -> int:
        """Confirm and short presses the pickers made on the modules: each must become one pick event."""
        return sum(p.picks + p.shorts + p.mistakes for p in self.pickers)

    def summary(self) -> str:
        return ", ".join(
            f"{p.name}: {p.picks} picks ({p.fixes} fixes), {p.shorts} shorts, {p.mistakes} over-picks"
            for p in self.pickers
        )


async def wait_orders_picked(
    erp: ErpClient, order_ids: Iterable[str], *, timeout: float, crew: PickerCrew | None = None
) -> None:
    ids = list(order_ids)

    async def all_picked() -> bool:
        if crew is not None:
            crew.check_working()
        return not await erp.unfinished(ids)

    try:
        await wait_until(all_picked, timeout=timeout, interval=0.1, what=f"all {len(ids)} orders picked")
    except AssertionError as err:
        left = await erp.unfinished(ids)
        details = {
            o: (await erp.get(f"/orders/{o}"))["lines"] for o in list(left)[:5] if left[o] != "missing"
        }
        raise AssertionError(f"{err}; not picked: {left}; their lines: {details}") from None


# -- checks --------------------------------------------------------------------------------------------


def check_event_log(events: Sequence[Mapping[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1)), f"the event log has gaps or repeats: seqs {seqs[:20]}..."
    ids = Counter(e["id"] for e in events)
    assert all(n == 1 for n in ids.values()), f"event ids used twice: {[i for i, n in ids.items() if n > 1]}"


def check_each_line_finished_once(
    events: Sequence[Mapping[str, Any]], orders: Mapping[str, Mapping[str, Any]]
) -> None:
    """Exactly one pick.confirmed or pick.short per order line sent: none lost, none applied twice."""
    outcomes = Counter((e["data"]["order"], e["data"]["line"]) for e in events if e["type"] in LINE_OUTCOMES)
    expected = {(order_id, line["line_id"]) for order_id, order in orders.items() for line in order["lines"]}
    missing = sorted(expected - set(outcomes))
    twice = sorted(key for key, n in outcomes.items() if n > 1)
    unexpected = sorted(set(outcomes) - expected)
    assert (missing, twice, unexpected) == ([], [], []), (
        f"expected one outcome for each of {len(expected)} lines; lines without one: {missing}; "
        f"lines finished more than once: {twice}; outcomes for lines never sent: {unexpected}"
    )


def picked_by_location(events: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    picked: dict[str, int] = defaultdict(int)
    for e in events:
        if e["type"] in LINE_OUTCOMES:
            picked[e["data"]["location"]] += e["data"]["picked"]
    return dict(picked)


def check_on_hand(
    bins: Sequence[Bin], events: Sequence[Mapping[str, Any]], on_hand: Mapping[str, int | None]
) -> None:
    picked = picked_by_location(events)
    expected = {b.code: b.on_hand - picked.get(b.code, 0) for b in bins}
    seen = {code: on_hand.get(code) for code in expected}
    wrong = {
        code: {"expected": expected[code], "seen": seen[code]}
        for code in expected
        if seen[code] != expected[code]
    }
    assert not wrong, f"on-hand is not the initial count minus what was picked: {wrong}"


def check_orders_agree_with_events(
    events: Sequence[Mapping[str, Any]], orders_now: Iterable[Mapping[str, Any]]
) -> None:
    """The orders as the API shows them say what the event log says was picked."""
    logged = {
        (e["data"]["order"], e["data"]["line"]): e["data"]["picked"]
        for e in events
        if e["type"] in LINE_OUTCOMES
    }
    shown = {(o["order_id"], ln["line_id"]): ln["picked"] for o in orders_now for ln in o["lines"]}
    differ = {
        key: {"event log": logged.get(key), "order": shown.get(key)}
        for key in logged
        if shown.get(key) != logged[key]
    }
    assert not differ, f"orders and the event log disagree on what was picked: {differ}"


def check_no_misapplied_press(exceptions: Iterable[Mapping[str, Any]]) -> None:
    bad = [
        x
        for x in exceptions
        if x["kind"] in MISAPPLIED_PRESS
        and (x["kind"] != "unknown_module" or "button" in (x["detail"] or {}))
    ]
    assert not bad, f"device messages that reached no light or the wrong one: {bad}"


def check_deliveries(events: Sequence[Mapping[str, Any]], receiver: WebhookReceiver) -> None:
    """Every event was taken by the receiver under its own id; every request was signed right; ids and
    bodies never change between redeliveries; an order's events first arrived in seq order."""
    by_id = {e["id"]: e for e in events}
    badly_signed = [
        r.headers.get("webhook-id") for r in receiver.requests if not receiver.verify(r.body, r.headers)
    ]
    assert not badly_signed, f"deliveries the standardwebhooks library refuses: {badly_signed}"
    assert not receiver.unverified, f"accepted deliveries that do not verify: {receiver.unverified}"
    changed = []
    for request in receiver.requests:
        webhook_id = request.headers.get("webhook-id", "")
        body = json.loads(request.body)
        event = by_id.get(webhook_id)
        sent = (body["seq"], body["type"], body["timestamp"], body["data"])
        if event is None or sent != (event["seq"], event["type"], event["timestamp"], event["data"]):
            changed.append({"webhook-id": webhook_id, "sent": sent, "event": event})
    assert not changed, f"deliveries whose id or body is not the logged event's: {changed[:5]}"
    taken = set(receiver.accepted_ids())
    lost = [(e["seq"], e["type"]) for e in events if e["id"] not in taken]
    assert not lost, f"{len(lost)} of {len(events)} events never delivered: {lost[:20]}"
    first_arrivals: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for received in receiver.accepted:
        order_id = by_id[received.id]["order_id"]
        if received.id not in seen and order_id is not None:
            first_arrivals[order_id].append(received.seq)
        seen.add(received.id)
    out_of_order = {o: seqs for o, seqs in first_arrivals.items() if seqs != sorted(seqs)}
    assert not out_of_order, f"orders whose events arrived out of seq order: {out_of_order}"


def lights_disagreeing(bank: ModuleBank, locations: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Modules whose display is not what the edge says they should show: {module: (wanted, shown)}."""
    differ: dict[str, Any] = {}
    for location in locations:
        module = location["module"]
        if module not in bank.modules:
            continue
        light = location["light"]
        wanted = None if light is None else (light["color"], light["blink"], light["display"], light["seq"])
        state = bank.state(module)
        shown = (state.color, state.blink.value, state.display, state.seq) if state.lit else None
        if wanted != shown:
            differ[module] = {"edge wants": wanted, "module shows": shown}
    return differ


async def wait_lights_agree(erp: ErpClient, bank: ModuleBank, *, timeout: float) -> None:
    last: dict[str, Any] = {}

    async def agree() -> bool:
        nonlocal last
        last = lights_disagreeing(bank, await erp.get("/locations"))
        return not last

    try:
        await wait_until(agree, timeout=timeout, interval=0.05, what="every module showing the edge's light")
    except AssertionError as err:
        raise AssertionError(f"{err}; modules that differ: {last}") from None


async def wait_backlog_drained(erp: ErpClient, *, timeout: float) -> dict[str, float]:
    """Wait until the delivery API lists nothing pending and the metrics say the backlog is 0; the metrics."""
    seen: dict[str, Any] = {}

    async def drained() -> bool:
        metrics = await erp.metrics()
        pending = await erp.deliveries("pending")
        seen.update(metrics=metrics, pending=[(d["event_seq"], d["event_type"]) for d in pending])
        return not pending and metrics["floorgate_webhook_backlog"] == 0

    try:
        await wait_until(drained, timeout=timeout, interval=0.1, what="the webhook backlog drained")
    except AssertionError as err:
        backlog = seen.get("metrics", {}).get("floorgate_webhook_backlog")
        raise AssertionError(
            f"{err}; backlog metric {backlog}, pending {seen.get('pending', [])[:20]}"
        ) from None
    metrics: dict[str, float] = seen["metrics"]
    assert await erp.deliveries("failed") == [], "deliveries marked failed"
    return metrics


@dataclass
class RunLedger:
    """What a finished run left behind, read once from the edge for the checks."""

    events: list[dict[str, Any]] = field(default_factory=list)
    on_hand: dict[str, int | None] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def read(cls, erp: ErpClient) -> RunLedger:
        return cls(
            events=await erp.events(),
            on_hand=await erp.on_hand(),
            orders=await erp.get("/orders"),
            exceptions=await erp.get_all("/exceptions", status="all"),
        )

    def count(self, *types: str) -> int:
        return sum(1 for e in self.events if e["type"] in types)

    def check_floor(self, bins: Sequence[Bin], orders_sent: Mapping[str, Mapping[str, Any]]) -> None:
        """The floor's books balance: a gap-free log, one outcome per line, on-hand as picked."""
        check_event_log(self.events)
        check_each_line_finished_once(self.events, orders_sent)
        check_on_hand(bins, self.events, self.on_hand)
        check_orders_agree_with_events(self.events, self.orders)
        check_no_misapplied_press(self.exceptions)
