"""A restart's first lights: the stored lights published on a connection of their own, before the rest of
the floor is read back and before the edge's link takes any device input (devices/ptl/early.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from floorgate.core import commands as cmd
from floorgate.core.instructions import Blink, ClearBin, LightBin
from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.ptl.codec import PtlTopic, encode_command, ptl_filter, ptl_topic
from floorgate.devices.ptl.early import publish_stored_lights
from floorgate.edge.runtime import build
from floorgate.edge.site import load_site
from floorgate.edge.store import Store, make_engine
from floorgate.edge.writer import Writer
from tests.support.brokers import Mosquitto, free_port
from tests.support.floor_script import new_site_id
from tests.support.retained import retained_now

pytestmark = pytest.mark.integration


async def test_the_stored_lights_are_published_retained_but_never_another_edges_module(
    mosquitto: Mosquitto, endpoint: MqttEndpoint
) -> None:
    site = new_site_id("early")
    lit = LightBin(module="M-1", seq=4, color="blue", blink=Blink.NONE, display="3")
    dark = ClearBin(module="M-2", seq=7)
    theirs = LightBin(module="M-3", seq=2, color="red", blink=Blink.FAST, display="1")
    unpublishable = LightBin(module="M/4", seq=1, color="red", blink=Blink.NONE, display="1")

    published = await publish_stored_lights(
        endpoint,
        client_id=f"{site}-lights",
        site=site,
        commands=[lit, dark, theirs, unpublishable],
        foreign={"M-3"},
    )

    assert published == 2
    assert await retained_now(mosquitto.url, ptl_filter(site, PtlTopic.CMD)) == {
        ptl_topic(site, "M-1", PtlTopic.CMD): encode_command(lit),
        ptl_topic(site, "M-2", PtlTopic.CMD): encode_command(dark),
    }


async def test_a_broker_that_cannot_be_reached_leaves_the_lights_to_the_adapter() -> None:
    unreachable = MqttEndpoint.from_url(f"mqtt://127.0.0.1:{free_port()}")
    lit = LightBin(module="M-1", seq=4, color="blue", blink=Blink.NONE, display="3")

    assert await publish_stored_lights(unreachable, client_id="early-none", site="s", commands=[lit]) == 0


async def seed_one_lit_bin(data_dir: Path) -> LightBin:
    store = Store(make_engine(f"sqlite:///{data_dir / 'floorgate.db'}"))
    store.create_schema()
    loaded = store.load()
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq)
    task = asyncio.create_task(writer.run())
    try:
        await writer.execute(cmd.DefineZone(zone="A"))
        await writer.execute(cmd.UpsertLocation(code="A-01", zone="A", module="M-A-01", sku="S1", on_hand=5))
        line = cmd.NewOrderLine(line_id="1", sku="S1", qty=2, location="A-01")
        await writer.execute(cmd.ReceiveOrder(order_id="O-1", lines=(line,)))
        await writer.execute(cmd.StartOrder(order_id="O-1", zone="A", operator="ann"))
        [light] = writer.floor.lit_commands()
    finally:
        task.cancel()
        store.close()
    return light


async def test_an_edge_built_on_a_store_has_published_its_lights_before_its_link_runs(
    mosquitto: Mosquitto, endpoint: MqttEndpoint, tmp_path: Path
) -> None:
    light = await seed_one_lit_bin(tmp_path)
    site = new_site_id("early")
    config_file = tmp_path / "site.toml"
    config_file.write_text(
        f'[site]\nid = "{site}"\n[edge]\nid = "edge-1"\ndata_dir = "{tmp_path}"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\n[http]\nport = {free_port()}\n[[zones]]\nid = "A"\n'
    )
    config = load_site(config_file)

    parts = await build(config, mqtt=endpoint, early_lights=True)
    try:
        assert not parts.link.connected  # nothing takes a press yet: the link has not run
        assert await retained_now(mosquitto.url, ptl_filter(site, PtlTopic.CMD)) == {
            ptl_topic(site, "M-A-01", PtlTopic.CMD): encode_command(light)
        }
        assert parts.writer.floor.light_commands() == [light]
    finally:
        parts.http_socket.close()
        parts.store.close()
