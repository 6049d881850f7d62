"""Serial scale adapters against the scale simulators over real pseudo-terminals, one per protocol."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from floorgate.core.commands import RecordWeight, ScaleCondition
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.scales.serial_scale import SerialScaleAdapter
from floorgate.devices.scales.stability import StabilityMode, StabilityPolicy
from floorgate.edge.site import parse_site
from floorgate.edge.wiring.scales import scale_devices
from floorgate.edge.wiring.types import DeviceContext
from floorgate.firmware_sim.scales import Platform, PtyScale
from tests.support.recording_submit import RecordingSubmit
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PROTOCOLS = ("mt-sics", "toledo-continuous", "nci")
UNITS = {
    "mt-sics": ("g", Decimal("0.1")),
    "toledo-continuous": ("kg", Decimal("0.001")),
    "nci": ("lb", Decimal("0.01")),
}


@dataclass
class Rig:
    scale: PtyScale
    adapter: SerialScaleAdapter
    writer: RecordingSubmit


@contextlib.asynccontextmanager
async def rig(
    protocol: str, tmp_path: Path, *, stability: StabilityPolicy | None = None, **platform: object
) -> AsyncIterator[Rig]:
    unit, division = UNITS[protocol]
    surface = Platform(unit=unit, division=division, settle_s=0.3, noise_g=0.0, **platform)  # type: ignore[arg-type]
    writer = RecordingSubmit()
    async with PtyScale(
        protocol, surface, link=tmp_path / f"{protocol}-scale", stream_interval=0.05
    ) as scale:
        adapter = SerialScaleAdapter(
            station="PACK-1",
            device="PACK-1-scale",
            port=scale.path,
            protocol=protocol,
            submit=writer,
            poll_interval=0.05,
            reply_timeout=0.4,
            missed_replies=2,
            silence_timeout=0.5,
            stability=stability,
            backoff_min=0.05,
            backoff_max=0.2,
        )
        task = asyncio.create_task(adapter.run())
        try:
            yield Rig(scale=scale, adapter=adapter, writer=writer)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def exact(grams: float, protocol: str) -> float:
    """The weight as the simulated display rounds it, in grams (what the adapter must submit)."""
    from floorgate.devices.scales.frames import GRAMS_PER_UNIT

    unit, division = UNITS[protocol]
    value = (Decimal(repr(grams)) / GRAMS_PER_UNIT[unit] / division).to_integral_value() * division
    return float(value * GRAMS_PER_UNIT[unit])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_carton_on_the_scale_becomes_a_stable_weight_in_exact_grams(
    protocol: str, tmp_path: Path
) -> None:
    async with rig(protocol, tmp_path) as r:
        await wait_until(lambda: r.writer.online() == [True], what="scale online")
        r.scale.platform.place(1234.5)
        expected = exact(1234.5, protocol)
        weight = await wait_until(
            lambda: next((w for w in r.writer.of(RecordWeight) if w.stable and w.grams == expected), None),
            timeout=5,
            what=f"a stable {expected} g",
        )
        assert weight.station == "PACK-1"
        assert weight.scale == "PACK-1-scale"
        assert weight.condition is ScaleCondition.OK
        assert weight.message_id is not None
        assert weight.message_id.startswith("scale:PACK-1-scale:")
        # While it settled, the weights were reported as moving.
        assert any(not w.stable for w in r.writer.of(RecordWeight))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_overloaded_scale_is_reported_as_overload(protocol: str, tmp_path: Path) -> None:
    async with rig(protocol, tmp_path, capacity_g=5000.0) as r:
        r.scale.platform.place(9000.0)
        await wait_until(
            lambda: any(w.condition is ScaleCondition.OVERLOAD for w in r.writer.of(RecordWeight)),
            what="overload",
        )
        r.scale.platform.remove()
        await wait_until(
            lambda: (
                (ws := r.writer.of(RecordWeight)) and ws[-1].condition is ScaleCondition.OK and ws[-1].stable
            ),
            what="back to normal",
        )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_port_that_vanishes_is_reported_offline_once_and_online_again_when_it_returns(
    protocol: str, tmp_path: Path
) -> None:
    async with rig(protocol, tmp_path) as r:
        await wait_until(lambda: r.writer.online() == [True], what="online")
        await r.scale.vanish()
        await wait_until(lambda: r.writer.online() == [True, False], what="offline")
        r.scale.appear()
        await wait_until(lambda: r.writer.online() == [True, False, True], timeout=5, what="online again")
        r.scale.platform.place(500.0)
        expected = exact(500.0, protocol)
        await wait_until(
            lambda: any(w.stable and w.grams == expected for w in r.writer.of(RecordWeight)),
            what="weights flow again",
        )
        assert r.adapter.stats.connects >= 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_line_noise_is_counted_and_skipped_and_weights_keep_coming(
    protocol: str, tmp_path: Path
) -> None:
    async with rig(protocol, tmp_path) as r:
        await wait_until(lambda: r.writer.online() == [True], what="online")
        r.scale.inject(b"\x00\xff garbage \x13\n\r\n\x03")
        r.scale.platform.place(750.0)
        expected = exact(750.0, protocol)
        await wait_until(
            lambda: any(w.stable and w.grams == expected for w in r.writer.of(RecordWeight)), what="weight"
        )
        assert r.adapter.stats.garbage >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_lying_stable_flag_is_overruled_by_the_time_based_fallback(
    protocol: str, tmp_path: Path
) -> None:
    policy = StabilityPolicy(mode=StabilityMode.FLAG_AND_TIME, settle_s=0.4, division_g=Decimal(5))
    async with rig(protocol, tmp_path, stability=policy, lying_flag=True) as r:
        await wait_until(lambda: r.writer.online() == [True], what="online")
        r.scale.platform.settle_s = 1.5
        r.scale.platform.place(2000.0)
        expected = exact(2000.0, protocol)
        await wait_until(
            lambda: any(w.stable and abs(w.grams - expected) < 5 for w in r.writer.of(RecordWeight)),
            timeout=8,
            what="stable at the final weight",
        )
        stable = [w.grams for w in r.writer.of(RecordWeight) if w.stable and w.grams > 10]
        assert all(abs(g - expected) < 10 for g in stable), stable


async def test_a_scale_that_is_not_there_at_start_is_offline_until_it_appears(tmp_path: Path) -> None:
    writer = RecordingSubmit()
    link = tmp_path / "late-scale"
    surface = Platform(unit="g", division=Decimal("0.1"), settle_s=0.1, noise_g=0.0)
    adapter = SerialScaleAdapter(
        station="PACK-1",
        device="late",
        port=str(link),
        protocol="mt-sics",
        submit=writer,
        poll_interval=0.05,
        backoff_min=0.05,
        backoff_max=0.2,
    )
    task = asyncio.create_task(adapter.run())
    try:
        await wait_until(lambda: writer.online() == [False], what="offline at start")
        async with PtyScale("mt-sics", surface, link=link):
            await wait_until(lambda: writer.online() == [False, True], timeout=5, what="online once plugged")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# Per protocol, the site file's scale settings under test besides `stability = "time"`, and whether the
# simulated Toledo sends a checksum (it must agree with `checksum`).
SITE_SCALE_SETTINGS = {
    "mt-sics": ("poll_interval_s = 0.05", True),
    "nci": ("poll_interval_s = 0.05", True),
    "toledo-continuous": ('checksum = "off"', False),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_station_set_to_time_stability_in_the_site_file_waits_out_a_lying_flag(
    protocol: str, tmp_path: Path
) -> None:
    unit, division = UNITS[protocol]
    setting, with_checksum = SITE_SCALE_SETTINGS[protocol]
    surface = Platform(unit=unit, division=division, settle_s=0.3, noise_g=0.0, lying_flag=True)
    writer = RecordingSubmit()
    async with PtyScale(
        protocol, surface, link=tmp_path / "scale", stream_interval=0.05, with_checksum=with_checksum
    ) as scale:
        site = f"""
            [site]
            id = "dc1"
            [edge]
            id = "edge-1"
            [[stations]]
            id = "PACK-1"
            kind = "pack"
            [stations.scale]
            transport = "serial"
            port = "{scale.path}"
            protocol = "{protocol}"
            stability = "time"
            settle_s = 0.4
            {setting}
        """
        config = parse_site("\n".join(line.strip() for line in site.splitlines()), source="site.toml")
        # Never run: a serial scale does not use the broker, the context only needs one to hand over.
        link = MqttLink(MqttEndpoint.from_url("mqtt://127.0.0.1:1"), "dc1", "edge-1")
        (adapter,) = scale_devices(DeviceContext(config=config, submit=writer, link=link))
        assert isinstance(adapter, SerialScaleAdapter)
        task = asyncio.create_task(adapter.run())
        try:
            await wait_until(lambda: writer.online() == [True], what="online")
            scale.platform.settle_s = 1.5
            scale.platform.place(2000.0)
            expected = exact(2000.0, protocol)
            await wait_until(
                lambda: any(w.stable and w.grams == expected for w in writer.of(RecordWeight)),
                timeout=8,
                what="stable at the final weight",
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    loaded = [w for w in writer.of(RecordWeight) if w.grams > 10]
    # The simulator called every one of these stable; only the time-based judgement held the moving ones back.
    assert any(not w.stable for w in loaded)
    assert [w.grams for w in loaded if w.stable] == [expected] * sum(w.stable for w in loaded)
