"""The OpenAPI document is typed: every success names its model (with examples), one Problem schema serves every
refusal, and what each GET answers on a working floor validates against the schema the document declares."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from floorgate.core import commands as cmd
from floorgate.web.roles import Role
from tests.support.api_edge import API_FLOOR, build_api_edge

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token"}
PROBLEM_REF = "#/components/schemas/Problem"
# The path parameters the GETs below are asked with: a GET with a parameter not named here fails the test.
PATH_VALUES = {"order_id": "O1", "task_id": "PA-1", "count_id": "CC-1", "batch_id": "B1", "wall_id": "W1"}

FLOOR: tuple[cmd.Command, ...] = (
    *API_FLOOR,
    cmd.UpsertLocation(code="A-02", zone="A", module="M-02", sku="S1", on_hand=10),
    cmd.ReceiveOrder(order_id="O2", lines=(cmd.NewOrderLine(line_id="1", sku="S1", qty=3, location="A-02"),)),
    cmd.ReportDeviceStatus(device="M-01", kind="ptl", online=True),
    cmd.StartOrder(order_id="O1", zone="A", operator="ann"),
    cmd.StartOrder(order_id="O2", zone="A"),
    # A short on O1 raises an exception; O2 stays lit.
    cmd.PressButton(module="M-01", button=cmd.Button.SHORT, display="1", message_id="ptl:M-01:1"),
    cmd.RecordScan(station="PACK-1", data="O1"),
    cmd.RecordWeight(station="PACK-1", grams=400, stable=True, scale="SCALE-1"),
    # A putaway lit at A-03; a blind count of, one bin counted and found short.
    cmd.UpsertLocation(code="A-03", zone="A", module="M-03", sku="S1", on_hand=5),
    cmd.UpsertLocation(code="A-04", zone="A", module="M-04", sku="S1", on_hand=7),
    cmd.UpsertLocation(code="A-05", zone="A", module="M-05", sku="S1", on_hand=1),
    cmd.ReceivePutaway(task_id="PA-1", sku="S1", qty=4, location="A-03"),
    cmd.StartCount(count_id="CC-1", locations=("A-04", "A-05"), by="ann"),
    cmd.PressButton(module="M-04", button=cmd.Button.CONFIRM, display="6", message_id="ptl:M-04:1"),
    # A batch of one order for put wall W1, started: its bin A-02 waits for O2's light there.
    cmd.DefineWall(wall="W1", cubbies=("W1-01", "W1-02")),
    cmd.ReceiveOrder(order_id="O3", lines=(cmd.NewOrderLine(line_id="1", sku="S1", qty=2, location="A-02"),)),
    cmd.ReceiveBatch(batch_id="B1", order_ids=("O3",), wall="W1"),
    cmd.StartBatch(batch_id="B1", zone="A", operator="bo"),
)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An edge whose floor has something in every list: lights, a device, an exception, a weighed carton, a
    webhook endpoint with deliveries waiting."""
    api = build_api_edge(tmp_path, tokens={"admin-token": Role.ADMIN}, site_id="openapi")
    task = asyncio.create_task(api.writer.run(), name="writer")
    transport = httpx.ASGITransport(app=api.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://edge", headers=ADMIN) as http:
            created = await http.post(
                "/api/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hooks", "name": "erp"}
            )
            assert created.status_code == 201, created.text
            for command in FLOOR:
                await api.writer.execute(command)
            yield http
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        api.store.close()


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator (what OpenAPI 3.1 uses) for `schema`, its `$ref`s into the document's
    components resolved."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target: dict[str, Any] = document
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def declared_object(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether a schema names its fields: a model, or a list of one (not `{}` or a bare `object`)."""
    if schema.get("type") == "array":
        return declared_object(document, schema.get("items", {}))
    target = resolved(document, schema)
    return bool(target.get("properties")) and target.get("additionalProperties") is False


async def test_every_json_success_of_the_api_names_a_model_with_examples(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    untyped = []
    checked = 0
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json")
            if not code.startswith("2") or content is None:
                continue
            checked += 1
            schema = content.get("schema", {})
            if not declared_object(document, schema):
                untyped.append(f"{method} {path} {code}: {json.dumps(schema)[:120]}")
                continue
            model = resolved(document, schema.get("items", schema))
            assert model.get("examples"), f"{method} {path} {code}: expected examples on its model"
    assert checked >= 28, f"expected every JSON success in the document, checked {checked}"
    assert untyped == [], "expected a model for every success, these are untyped:\n" + "\n".join(untyped)


async def test_every_example_is_valid_against_its_own_schema(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    wrong = []
    for name, schema in document["components"]["schemas"].items():
        check = validator(document, {"$ref": f"#/components/schemas/{name}"})
        for example in schema.get("examples", []):
            wrong += [f"{name}: {error.message}" for error in check.iter_errors(example)]
    assert wrong == []


async def test_one_problem_schema_in_the_components_serves_every_refusal(client: httpx.AsyncClient) -> None:
    document = await openapi(client)

    def problem_schemas(node: Any) -> int:
        """Schemas that define a string `detail`: the Problem's shape, wherever it is written out."""
        if isinstance(node, list):
            return sum(map(problem_schemas, node))
        if not isinstance(node, dict):
            return 0
        own = node.get("properties", {}).get("detail", {}).get("type") == "string"
        return int(own) + sum(map(problem_schemas, node.values()))

    assert problem_schemas(document) == 1
    assert "detail" in document["components"]["schemas"]["Problem"]["properties"]
    refusals = 0
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if (
                code[0] in "45"
                and code != "422"
                and not (path.endswith(("healthz", "healthz/ready")) and code == "503")
            ):
                refusals += 1
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": PROBLEM_REF}, f"{method} {path} {code}: {schema}"
    assert refusals >= 90, f"expected the refusals of every route, found {refusals}"


async def test_what_each_get_answers_validates_against_its_declared_schema(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    gets = [(path, operation) for method, path, operation in operations(document) if method == "GET"]
    assert len(gets) >= 14
    for path, operation in gets:
        url = path.format(**PATH_VALUES)
        response = await client.get(url)
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:300]}"
        declared = operation["responses"]["200"]["content"]
        if "application/json" not in declared:
            assert response.headers["content-type"].startswith("text/plain"), url  # /metrics
            continue
        body = response.json()
        assert body, f"GET {url}: expected the floor to give it something to answer"
        errors = [
            error.message
            for error in validator(document, declared["application/json"]["schema"]).iter_errors(body)
        ]
        assert errors == [], f"GET {url} answered what its schema refuses: {errors}\n{json.dumps(body)[:600]}"


async def test_the_docs_pages_load_only_the_edges_own_files(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page, headers={})
        assert response.status_code == 200, page
        loaded = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert loaded, page
        assert [url for url in loaded if not url.startswith("/static/vendor/")] == [], page
        for url in loaded:
            assert (await client.get(url)).status_code == 200, url
        assert "fonts.googleapis" not in response.text
