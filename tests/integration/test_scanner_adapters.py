"""Scanner adapters against real transports: a serial scanner on a pty, a HID scanner on a FIFO of
input_event records, MQTT scanners on mosquitto. The writer's queue is a recording fake."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from floorgate.core.commands import RecordDeviceFault, RecordScan, ReportDeviceStatus
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.scanners.hid import HidScannerAdapter
from floorgate.devices.scanners.mqtt_scanner import MqttScannerAdapter, encode_scan, scanner_topic
from floorgate.devices.scanners.serial_framing import SerialFraming
from floorgate.devices.scanners.serial_scanner import SerialScannerAdapter
from floorgate.devices.scanners.stream_device import StreamScanner
from floorgate.firmware_sim.mqtt_client import make_client
from floorgate.firmware_sim.scanners import FifoHidScanner, PtySerialScanner, keystrokes
from tests.support.brokers import Mosquitto
from tests.support.recording_submit import RecordingSubmit
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

GS = "\x1d"
GS1_ITEM = f"]C1010400638133393110LOT-7{GS}21SN42"


@asynccontextmanager
async def running(adapter: StreamScanner | MqttScannerAdapter) -> AsyncIterator[None]:
    task = asyncio.create_task(adapter.run(), name=adapter.name)
    try:
        yield
    finally:
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        if isinstance(results[0], BaseException) and not isinstance(results[0], asyncio.CancelledError):
            raise results[0]


def serial_adapter(
    path: Path, submit: RecordingSubmit, framing: SerialFraming | None = None
) -> SerialScannerAdapter:
    return SerialScannerAdapter(
        station="ZS-A",
        device_id="ZS-A-scanner",
        port=str(path),
        baud=9600,
        framing=framing or SerialFraming(),
        submit=submit,
        reconnect_min=0.02,
        reconnect_max=0.1,
    )


# -- serial over a real pty --------------------------------------------------------------------------


async def test_a_code_typed_on_the_pty_reaches_the_writer_as_a_record_scan(tmp_path: Path) -> None:
    submit = RecordingSubmit()
    link = tmp_path / "scanner-zs-a"
    async with PtySerialScanner(link=link) as scanner, running(serial_adapter(link, submit)):
        await wait_until(lambda: submit.online() == [True], what="scanner online")
        await scanner.scan("O-1")
        await scanner.scan(GS1_ITEM)
        scans = await wait_until(
            lambda: len(submit.of(RecordScan)) == 2 and submit.of(RecordScan), what="two scans"
        )

    assert [(s.station, s.data, s.scanner) for s in scans] == [
        ("ZS-A", "O-1", "ZS-A-scanner"),
        ("ZS-A", GS1_ITEM, "ZS-A-scanner"),
    ]
    ids = [s.message_id for s in scans]
    assert all(i and i.startswith("scanner:ZS-A-scanner:") for i in ids)
    assert len(set(ids)) == 2


async def test_prefix_suffix_and_slow_typing_still_give_whole_codes(tmp_path: Path) -> None:
    submit = RecordingSubmit()
    link = tmp_path / "scanner"
    framing = SerialFraming(prefix=b"\x02", suffix=b"\x03\r\n")
    async with (
        PtySerialScanner(link=link, prefix=b"\x02", suffix=b"\x03\r\n", chars_per_second=400) as scanner,
        running(serial_adapter(link, submit, framing)),
    ):
        await wait_until(lambda: submit.online() == [True], what="scanner online")
        await scanner.send(b"line noise")
        await scanner.scan("TOTE:T-9")
        scans = await wait_until(lambda: submit.of(RecordScan), what="a scan")
    assert [s.data for s in scans] == ["TOTE:T-9"]


async def test_the_pty_closing_reports_offline_once_and_a_new_pty_at_the_link_brings_it_back(
    tmp_path: Path,
) -> None:
    submit = RecordingSubmit()
    link = tmp_path / "by-id-scanner"
    scanner = PtySerialScanner(link=link)
    scanner.plug()
    adapter = serial_adapter(link, submit)
    async with running(adapter):
        await wait_until(lambda: submit.online() == [True], what="online")
        scanner.unplug()
        await wait_until(lambda: submit.online() == [True, False], what="offline")
        # It keeps retrying while unplugged, but says so only once.
        await wait_until(lambda: adapter._backoff.attempts >= 3, what="several reconnect attempts")
        assert submit.online() == [True, False]
        scanner.plug()
        await wait_until(lambda: submit.online() == [True, False, True], what="online again")
        await scanner.scan("O-2")
        await wait_until(lambda: [s.data for s in submit.of(RecordScan)] == ["O-2"], what="scan after replug")
        scanner.unplug()
    offline = submit.of(ReportDeviceStatus)[1]
    assert (offline.device, offline.kind, offline.transport) == ("ZS-A-scanner", "scanner", "serial")


async def test_a_scanner_missing_at_start_is_reported_offline_then_online_when_plugged(
    tmp_path: Path,
) -> None:
    submit = RecordingSubmit()
    link = tmp_path / "late-scanner"
    scanner = PtySerialScanner(link=link)
    async with running(serial_adapter(link, submit)):
        await wait_until(lambda: submit.online() == [False], what="offline at start")
        scanner.plug()
        await wait_until(lambda: submit.online() == [False, True], what="online once plugged")
        scanner.unplug()


# -- HID: input_event records through a FIFO ---------------------------------------------------------


def hid_adapter(path: Path, submit: RecordingSubmit, layout: str) -> HidScannerAdapter:
    return HidScannerAdapter(
        station="ZS-A",
        device_id="ZS-A-scanner",
        path=str(path),
        layout=layout,
        submit=submit,
        reconnect_min=0.02,
        reconnect_max=0.1,
    )


@pytest.mark.parametrize("layout", ["us", "uk", "de", "fr"])
async def test_a_hid_scanner_types_a_gs1_code_with_gs_on_its_layout(tmp_path: Path, layout: str) -> None:
    submit = RecordingSubmit()
    fifo = tmp_path / "event-kbd"
    with FifoHidScanner(fifo, layout=layout) as scanner:
        async with running(hid_adapter(fifo, submit, layout)):
            await wait_until(lambda: submit.online() == [True], what="online")
            scanner.scan(GS1_ITEM)
            scanner.scan("OP:Zoe-1", keypad_enter=True)
            scans = await wait_until(
                lambda: len(submit.of(RecordScan)) == 2 and submit.of(RecordScan), what="scans"
            )
    assert [s.data for s in scans] == [GS1_ITEM, "OP:Zoe-1"]


async def test_a_hid_half_scan_is_dropped_when_the_keys_stop(tmp_path: Path) -> None:
    submit = RecordingSubmit()
    fifo = tmp_path / "event-kbd"
    adapter = hid_adapter(fifo, submit, "us")
    with FifoHidScanner(fifo) as scanner:
        async with running(adapter):
            await wait_until(lambda: submit.online() == [True], what="online")
            events = keystrokes("LOST", scanner.layout, start=time.time())
            scanner.write(events[:-4])  # no Enter: the scanner went to sleep mid-code
            await wait_until(lambda: adapter.decoder.stats.dropped_after_gap == 1, what="half scan dropped")
            scanner.scan("KEPT")
            await wait_until(lambda: submit.of(RecordScan), what="next scan")
    assert [s.data for s in submit.of(RecordScan)] == ["KEPT"]


async def test_a_hid_device_that_disappears_is_offline_once_and_online_when_back(tmp_path: Path) -> None:
    submit = RecordingSubmit()
    fifo = tmp_path / "event-kbd"
    scanner = FifoHidScanner(fifo, layout="de")
    scanner.plug()
    adapter = hid_adapter(fifo, submit, "de")
    async with running(adapter):
        await wait_until(lambda: submit.online() == [True], what="online")
        scanner.unplug()
        await wait_until(lambda: submit.online() == [True, False], what="offline")
        await wait_until(lambda: adapter._backoff.attempts >= 3, what="several reopen attempts")
        assert submit.online() == [True, False]
        scanner.plug()
        await wait_until(lambda: submit.online() == [True, False, True], what="online again")
        scanner.scan("Zy")
        await wait_until(lambda: [s.data for s in submit.of(RecordScan)] == ["Zy"], what="scan after replug")
        scanner.unplug()


# -- MQTT scanners on mosquitto ----------------------------------------------------------------------


async def test_mqtt_scans_become_record_scans_acked_after_commit_and_bad_payloads_faults(
    mosquitto: Mosquitto,
) -> None:
    site = f"s{uuid.uuid4().hex[:8]}"
    submit = RecordingSubmit()
    link = MqttLink(MqttEndpoint.from_url(mosquitto.url), site, "edge-1", backoff_min=0.05, backoff_max=0.5)
    adapter = MqttScannerAdapter(link, site, {"ring-7": "ZS-A"}, submit)
    link_task = asyncio.create_task(link.run())
    try:
        async with running(adapter):
            await wait_until(lambda: link.connected, what="link connected")
            async with make_client(MqttEndpoint.from_url(mosquitto.url)) as client:
                await client.publish(scanner_topic(site, "ring-7"), encode_scan("m1", "O-1"), qos=1)
                await client.publish(scanner_topic(site, "ring-7"), b"{not json", qos=1)
                await client.publish(scanner_topic(site, "stray"), encode_scan("m2", "X"), qos=1)
            await wait_until(lambda: len(submit.of(RecordScan)) == 2, what="two scans")
            await wait_until(lambda: submit.of(RecordDeviceFault), what="a fault")
    finally:
        link_task.cancel()
        await asyncio.gather(link_task, return_exceptions=True)
    first, stray = submit.of(RecordScan)
    assert (first.message_id, first.station, first.data, first.scanner) == (
        "scanner:ring-7:m1",
        "ZS-A",
        "O-1",
        "ring-7",
    )
    # A scanner no station names keeps its own id as the station: the floor raises "unknown station".
    assert (stray.station, stray.scanner) == ("stray", "stray")
    (fault,) = submit.of(RecordDeviceFault)
    assert (fault.device, fault.kind) == ("ring-7", "scanner")
    online = [(s.device, s.online, s.transport) for s in submit.of(ReportDeviceStatus)]
    assert ("ring-7", True, "mqtt") in online
