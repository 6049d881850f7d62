"""Schemathesis over the REST API's own OpenAPI: no answer is a 5xx, every answer is one the schema documents.

The app is built as the edge builds it (a real writer committing to a real SQLite store in a temporary
folder, a webhook service over the same store) and reached in-process over ASGI. Requests carry an admin
token, so every operation gets past authorisation into its body and the writer; a floor is seeded so that
generated ids sometimes hit something real. Each operation is fuzzed with schema-valid and schema-invalid
requests; generation is derandomized, so a failure here reproduces on every run.

Checks: schemathesis' own (no 5xx, documented status codes, content types, response schemas, invalid
requests refused) plus ours: every 4xx says what was wrong, a 422 names each bad field, and after all of
it the writer still commits. Below the fuzzing, one request per bug it found, kept as a regression.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.python import asgi as schemathesis_asgi

from floorgate.edge.writer import Writer
from floorgate.web.contract import SQL_INT_MAX
from floorgate.web.roles import Role
from tests.support.api_edge import API_FLOOR, build_api_edge

pytestmark = pytest.mark.failure

ADMIN_TOKEN = "fuzz-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Requests per operation, valid and invalid: about 30 operations x 35 requests in all (about 20 s here).
MAX_EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 25, schemathesis.GenerationMode.NEGATIVE: 10}
REQUEST_TIMEOUT_S = 10


@dataclass
class FuzzedEdge:
    """The app under test and the writer behind it, and the request after which the writer stopped, if one did."""

    app: FastAPI
    writer: Writer
    task: asyncio.Task[None] | None = None
    broken_by: str | None = None

    def problem(self) -> str | None:
        """Why the writer cannot apply anything now, or None while it can."""
        if self.task is not None and self.task.done():
            error = None if self.task.cancelled() else self.task.exception()
            return f"the writer task ended: {error!r}"
        if self.writer.store_failure is not None:
            return f"the store fails every commit: {self.writer.store_failure}"
        return None


@dataclass(frozen=True)
class FuzzedApi:
    edge: FuzzedEdge
    schema: Any


def build_app(folder: Path) -> FuzzedEdge:
    built = build_api_edge(folder, tokens={ADMIN_TOKEN: Role.ADMIN}, site_id="fuzz")
    writer = built.writer
    edge = FuzzedEdge(app=built.app, writer=writer)
    seeded = False

    @asynccontextmanager
    async def run_writer(_app: FastAPI) -> AsyncIterator[None]:
        # Schemathesis runs the app's lifespan on its own event loop and ends it after each test; the writer
        # runs as long as the lifespan does, and the floor is seeded on the first start.
        nonlocal seeded
        task = edge.task = asyncio.create_task(writer.run(), name="writer")
        if not seeded:
            for command in API_FLOOR:
                await writer.execute(command)
            seeded = True
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    edge.app.router.lifespan_context = run_writer
    return edge


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedApi]:
    edge = build_app(tmp_path_factory.mktemp("fuzz-api"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", edge.app)
    # Every request carries the admin token (below), so a generated Authorization header would only make
    # requests whose one invalid part the token then replaces. Unknown query parameters are ignored by
    # design (clients add cache-busters), so they are not sent as "invalid" either.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    yield FuzzedApi(edge=edge, schema=schema)
    schemathesis_asgi.shutdown_lifespans()


def refusals_say_what_was_wrong(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A 4xx carries a `detail`; a 422's detail is a list naming where each problem is (`loc`) and what it is."""
    del ctx
    if not 400 <= response.status_code < 500:
        return
    body = response.json()
    where = f"{case.operation.label} answered {response.status_code} {response.text[:300]}"
    assert isinstance(body, dict), f"{where}: expected a JSON object with a detail"
    detail = body.get("detail")
    if response.status_code == 422:
        assert isinstance(detail, list), f"{where}: expected a list of field errors"
        assert detail, f"{where}: expected at least one field error"
        for problem in detail:
            location = problem.get("loc") or [None]
            assert location[0] in {"body", "query", "path", "header"}, (
                f"{where}: expected each error to name its field in loc"
            )
            assert problem.get("msg"), f"{where}: expected each error to say what is wrong"
    else:
        assert detail, f"{where}: expected a detail saying what was wrong"


# Integers at and past what a 64-bit SQL column holds: the generator rarely reaches them by itself.
BOUNDARY_INTEGERS = (SQL_INT_MAX, SQL_INT_MAX + 1, 2**64, -SQL_INT_MAX - 2, 10**30)


def integer_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in integer_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in integer_paths(item, (*path, index))]
    return []


def with_a_boundary_integer(case: schemathesis.Case, data: st.DataObject) -> None:
    """One generated integer of the request (or none) swapped for one at or past what the store holds.

    One at a time, so that another out-of-range value (a limit past its maximum) cannot hide it behind a 422.
    """
    paths = [
        (part, path)
        for part in ("query", "path_parameters", "body")
        for path in integer_paths(getattr(case, part))
    ]
    if not paths:
        return
    # Each field as likely as any other, however many lines of an order carry a `qty`.
    fields = sorted({(part, tuple(step for step in path if isinstance(step, str))) for part, path in paths})
    field = data.draw(st.sampled_from(fields))
    part, path = data.draw(
        st.sampled_from([(p, q) for p, q in paths if (p, tuple(s for s in q if isinstance(s, str))) == field])
    )
    boundary = data.draw(st.sampled_from(BOUNDARY_INTEGERS))
    if not path:
        setattr(case, part, boundary)
        return
    container = getattr(case, part)
    for step in path[:-1]:
        container = container[step]
    container[path[-1]] = boundary


def valid_requests_pass_validation(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A request the schema calls valid is never refused by request validation (that would make the OpenAPI
    a lie): a 422 for it may only come from the floor's rules, which say "value_error" and echo no input."""
    del ctx
    if response.status_code != 422:
        return
    for problem in response.json()["detail"]:
        from_validation = problem.get("type") != "value_error" or "input" in problem
        assert not from_validation, (
            f"{case.operation.label}: expected a schema-valid request to pass validation, got {problem}"
        )


def fuzz(edge: FuzzedEdge, operation: Any, mode: schemathesis.GenerationMode) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        # A valid request may still name an order that does not exist or break a rule of the floor (404,
        # 409, 422 from the writer): schemathesis' "valid data is accepted" cannot hold; ours below can.
        excluded = [st_checks.positive_data_acceptance]
        checks: list[Any] = [refusals_say_what_was_wrong]
        if mode is schemathesis.GenerationMode.POSITIVE:
            if data.draw(st.booleans()):
                with_a_boundary_integer(case, data)
                # Past the schema now, and schemathesis takes integers past 64 bits for invalid JSON
                # Schema numbers: accepting one where the schema sets no maximum is right, not a failure.
                excluded.append(st_checks.negative_data_rejection)
            else:
                checks.append(valid_requests_pass_validation)
        # A request that stops the writer leaves every later one waiting: fail on it, and name it.
        assert edge.broken_by is None, f"the writer stopped working after: {edge.broken_by}"
        try:
            case.call_and_validate(
                headers=AUTH, excluded_checks=excluded, additional_checks=checks, timeout=REQUEST_TIMEOUT_S
            )
        finally:
            problem = edge.problem()
            if problem is not None and edge.broken_by is None:
                edge.broken_by = f"{case.as_curl_command(headers=AUTH)} ({problem})"
        assert problem is None, f"expected the writer to keep applying requests, but {problem}"

    run()


def request(
    app: FastAPI, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
) -> Any:
    """One request through the same in-process ASGI client schemathesis uses (and its lifespan)."""
    with schemathesis_asgi.get_client(app) as client:
        url = f"http://{schemathesis_asgi.HOST}{path}"
        headers = {**AUTH, **(headers or {})}
        return client.request(method, url, headers=headers, timeout=REQUEST_TIMEOUT_S, **kwargs)


def assert_writer_still_commits(edge: FuzzedEdge) -> None:
    assert edge.problem() is None, f"expected the writer to keep applying requests, but {edge.problem()}"
    response = request(edge.app, "PUT", "/api/v1/items/STILL-THERE", json={"description": "after the fuzz"})
    assert response.status_code in {200, 201}, (
        f"expected the API to still apply a valid write, got {response.status_code} {response.text[:300]}"
    )


def test_every_operation_answers_within_its_contract_and_never_with_a_5xx(api: FuzzedApi) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api.schema.get_all_operations()]
    assert len(operations) >= 25, f"expected the whole API in the schema, got {len(operations)} operations"
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            if api.edge.broken_by is not None:
                break
            try:
                fuzz(api.edge, operation, mode)
            except Unsatisfiable:
                # Nothing to make invalid: the operation takes no parameters and no body.
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as err:
                failures.append(f"{operation.label} ({mode.value}): {err}")
    assert api.edge.broken_by is None, (
        f"expected no request to stop the writer; one did: {api.edge.broken_by}"
    )
    assert not failures, "expected every answer to keep the contract:\n\n" + "\n\n".join(failures)
    assert_writer_still_commits(api.edge)


# -- what the fuzzing found, one request each ---------------------------------------------------------------

TOO_BIG = SQL_INT_MAX + 1


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        # `false` was taken as 0 g, `true` as 1 g: bodies are strict now.
        ("PUT", "/api/v1/items/REG-1", b'{"unit_weight_g": false}', ["body", "unit_weight_g"]),
        # 1e999 is infinity to Python's JSON: an item that weighed "inf" grams was stored.
        ("PUT", "/api/v1/items/REG-1", b'{"unit_weight_g": 1e999}', ["body", "unit_weight_g"]),
        # NaN and a lone surrogate in a bad field made FastAPI's own 422 unrenderable: a 500.
        ("PUT", "/api/v1/items/REG-1", b'{"unit_weight_g": NaN}', ["body", "unit_weight_g"]),
        ("PUT", "/api/v1/items/REG-1", b'{"description": "\\ud800"}', ["body", "description"]),
        # Integers beyond 64 bits reached the writer, whose commit could then never succeed: the store
        # failed on every retry and the whole edge refused work until restarted.
        (
            "POST",
            "/api/v1/orders",
            b'{"order_id": "REG-O", "priority": %d, "lines": '
            b'[{"line_id": "1", "sku": "S1", "qty": 1}]}' % TOO_BIG,
            ["body", "priority"],
        ),
        ("PUT", "/api/v1/locations/REG-L", b'{"zone": "A", "on_hand": %d}' % TOO_BIG, ["body", "on_hand"]),
        # ... and made reads of the event log and the deliveries a 500.
        ("GET", f"/api/v1/events?after={TOO_BIG}", None, ["query", "after"]),
        ("GET", f"/api/v1/webhooks/deliveries?after_seq={TOO_BIG}", None, ["query", "after_seq"]),
        # urllib raises ValueError for a bad IPv6 literal or port: it was a 500.
        ("POST", "/api/v1/webhooks/endpoints", b'{"url": "http://[::1/hook"}', ["body", "url"]),
        ("POST", "/api/v1/webhooks/endpoints", b'{"url": "http://erp:99999/hook"}', ["body", "url"]),
    ],
)
def test_a_body_or_query_the_store_cannot_hold_is_a_422_naming_the_field(
    api: FuzzedApi, method: str, path: str, body: bytes | None, field: list[str]
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    response = request(api.edge.app, method, path, data=body, headers=headers)
    assert response.status_code == 422, f"expected 422, got {response.status_code} {response.text[:300]}"
    locations = [problem["loc"] for problem in response.json()["detail"]]
    assert field in locations, f"expected an error at {field}, got {locations}"
    assert_writer_still_commits(api.edge)


@pytest.mark.parametrize("delivery", ["ep.²", f"ep.{TOO_BIG}", "ep." + "9" * 5000])
def test_a_delivery_id_that_is_no_number_the_store_holds_is_not_found(api: FuzzedApi, delivery: str) -> None:
    # "²" is a digit to str.isdigit but not to int(); the others overflowed SQLite: each was a 500.
    response = request(api.edge.app, "POST", f"/api/v1/webhooks/deliveries/{delivery}/replay")
    assert response.status_code == 404, f"expected 404, got {response.status_code} {response.text[:300]}"
    assert "not a delivery id" in response.json()["detail"]
