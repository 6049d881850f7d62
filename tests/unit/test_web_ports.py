"""The web's ports as the edge implements them: reads of the live floor, and the edge's failures in web terms."""

from __future__ import annotations

from typing import cast

import pytest

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor
from floorgate.edge.store import StoreError, StoreFailure
from floorgate.edge.web_ports import LiveFloor, ServiceWebhooks, WriterCommands
from floorgate.edge.webhooks.deliveries import DeliveryStore
from floorgate.edge.webhooks.endpoints import WebhookProblem, WebhookService
from floorgate.edge.webhooks.outbox import Endpoint, EndpointRegistry
from floorgate.edge.webhooks.relay import WebhookRelay
from floorgate.edge.writer import Applied, CommandUnstorable, Writer, WriterUnavailable
from floorgate.web.ports import CommandSetAside, CommandsUnavailable, WebhookRefused

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


def make_floor() -> Floor:
    floor = Floor()
    floor.handle(cmd.DefineZone(zone="A"), NOW)
    floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-1", sku="S-1", on_hand=5), NOW)
    floor.handle(
        cmd.DefineStation(station="PACK-1", kind=cmd.StationKind.PACK, tolerance_g=10, tare_g=100), NOW
    )
    return floor


def test_the_live_floor_is_asked_afresh_so_a_reloaded_floor_is_the_one_read() -> None:
    floors = [make_floor()]
    reads = LiveFloor(floor=lambda: floors[-1])
    location = reads.location("A-01")
    assert location is not None
    assert location.module == "M-1"
    floors.append(Floor())  # the writer reloads its floor after a failed commit
    assert reads.location("A-01") is None
    assert list(reads.zones()) == []


def test_a_pack_stations_state_reaches_the_web_as_plain_values() -> None:
    floor = make_floor()
    reads = LiveFloor(floor=lambda: floor)
    floor.handle(cmd.RecordWeight(station="PACK-1", grams=250.0, stable=False, scale="S-1"), NOW)
    state = reads.pack_state("PACK-1")
    assert state is not None
    assert (state.phase, state.condition, state.grams, state.stable, state.scale) == (
        "idle",
        "ok",
        250.0,
        False,
        "S-1",
    )
    assert reads.pack_state("PACK-9") is None


class _RefusingWriter:
    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal

    async def execute(self, command: cmd.Command) -> Applied:
        raise self.refusal


async def test_a_failing_store_reaches_the_web_with_its_cause() -> None:
    failure = StoreError("the store at fg.db is full", cause=StoreFailure.FULL)
    commands = WriterCommands(
        writer=cast(Writer, _RefusingWriter(WriterUnavailable(str(failure), store_failure=failure)))
    )
    with pytest.raises(CommandsUnavailable) as caught:
        await commands.execute(cmd.DefineZone(zone="A"))
    assert caught.value.store_failure is not None
    assert (str(caught.value.store_failure), caught.value.store_failure.cause) == (str(failure), "full")
    assert caught.value.__cause__ is not None


async def test_a_command_set_aside_keeps_its_exception_id_and_cause() -> None:
    failure = StoreError("value too long", cause=StoreFailure.OTHER)
    commands = WriterCommands(
        writer=cast(Writer, _RefusingWriter(CommandUnstorable(failure, exception_id=7)))
    )
    with pytest.raises(CommandSetAside) as caught:
        await commands.execute(cmd.DefineZone(zone="A"))
    assert (caught.value.exception_id, caught.value.cause) == (7, "other")


async def test_webhook_endpoints_are_shown_without_their_secrets_and_problems_become_refusals() -> None:
    endpoint = Endpoint(
        id="erp",
        url="https://erp.example/hook",
        secret="whsec_new",
        previous_secret="whsec_old",
        previous_secret_until=NOW + 60,
    )
    service = WebhookService(
        registry=EndpointRegistry([endpoint]),
        deliveries=cast(DeliveryStore, None),
        relay=cast(WebhookRelay, None),
    )
    webhooks = ServiceWebhooks(service=service)
    [shown] = webhooks.endpoints()
    assert (shown.id, shown.events, shown.source, shown.rotating_until) == ("erp", ("*",), "api", NOW + 60)
    assert "whsec" not in repr(shown)
    with pytest.raises(WebhookRefused) as caught:
        await webhooks.replay_one("not-a-delivery-id")
    assert caught.value.not_found
    assert isinstance(caught.value.__cause__, WebhookProblem)
