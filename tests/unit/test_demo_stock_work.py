"""The demo's stock work without a broker: which aisle is counted next, where its bins' stock starts, and
what a simulated counter finds."""

from __future__ import annotations

import random

import pytest

from floorgate.core.bin_tasks import COUNT_BLINK, COUNT_COLOR
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.firmware_sim.demo.counting import MAX_VARIANCE, VARIANCE_RATE, Counter, aisles
from floorgate.firmware_sim.demo.floor import AISLES, BINS_PER_AISLE, ZONES
from floorgate.firmware_sim.demo.stocking import BIN_CAPACITY, REPLENISH_BELOW, starting_stock
from floorgate.firmware_sim.ptl_modules import ModuleBank
from floorgate.firmware_sim.ptl_observation import ModuleState

pytestmark = pytest.mark.unit

CODES = [
    f"{zone}-{aisle:02d}-{slot:02d}"
    for zone in ZONES
    for aisle in range(1, AISLES + 1)
    for slot in range(1, BINS_PER_AISLE + 1)
]


def test_counts_take_one_aisle_at_a_time_the_zones_in_turn() -> None:
    order = aisles([(code, code[0]) for code in reversed(CODES)])

    assert [bins[0].rsplit("-", 1)[0] for bins in order] == ["A-01", "B-01", "A-02", "B-02", "A-03", "B-03"]
    assert order[0] == tuple(f"A-01-{slot:02d}" for slot in range(1, BINS_PER_AISLE + 1))
    assert aisles([("A-01-01", "A"), ("A-02-01", "A"), ("B-01-01", "B")]) == [
        ("A-01-01",),
        ("B-01-01",),
        ("A-02-01",),
    ]


def test_bins_start_below_capacity_and_some_low_enough_to_be_replenished_at_once() -> None:
    stock = {code: starting_stock(code) for code in CODES}

    assert all(0 < on_hand < BIN_CAPACITY for on_hand in stock.values())
    assert stock == {code: starting_stock(code) for code in CODES}  # the same on every run
    low = [code for code, on_hand in stock.items() if on_hand < REPLENISH_BELOW]
    assert 0 < len(low) < len(CODES) / 2


def test_a_counter_finds_the_record_mostly_and_sometimes_a_little_more_or_less() -> None:
    bank = ModuleBank(MqttEndpoint.from_url("mqtt://127.0.0.1:1"), "demo", ["A-01-01"])  # never started
    records = {"A-01-01": 2}
    counter = Counter(
        bank, "cora", ["A-01-01"], on_hand=records.__getitem__, seconds_per_bin=0, rng=random.Random(7)
    )
    lit = ModuleState(module="A-01-01", lit=True, color=COUNT_COLOR, blink=COUNT_BLINK, display="0", seq=1)

    found = [counter.value_for(lit) for _ in range(2000)]

    differing = [value for value in found if value != 2]
    assert counter.variances >= len(differing)  # a variance that would go below 0 may land on the record
    assert abs(counter.variances / len(found) - VARIANCE_RATE) < 0.05
    assert all(0 <= value <= 2 + MAX_VARIANCE for value in found)
    assert set(differing) == {0, 1, 3, 4, 5}  # 2 - 3 stops at 0: an empty bin
