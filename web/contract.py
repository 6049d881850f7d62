"""What the API promises at its door: strict bodies, integers the store can hold, documented refusals, a 422.

Everything a request can carry that the writer could not commit (an integer beyond 64 bits, a number that is
not finite) is refused here with a 422 naming the field, so that no request can wedge the single writer.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

# Request bodies are read as their schema says: no unknown fields, and no coercion (`true` is not one gram
# and "2" is not an integer), so what the OpenAPI promises is what is applied.
BODY_CONFIG = ConfigDict(extra="forbid", strict=True)
# The largest integer the store holds (a signed 64-bit SQL INTEGER).
SQL_INT_MAX = 2**63 - 1


def integral(value: object) -> object:
    """An integer as JSON Schema has it: 3.0 is one (strict validation alone would refuse it), "3" is not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(integral)]
# An optional one with bounds: the bounds go before the validator, or the OpenAPI loses them.
Quantity = Annotated[int, Field(ge=0, le=SQL_INT_MAX), BeforeValidator(integral)]
# How much of a refused input a 422 echoes: the start of a long one, never all of it.
ECHO_CHARS = 200
# A store that cannot write, as `app.store_failing` answers it.
PROBLEM_503_EXAMPLE: dict[str, Any] = {"detail": "the store at ./data/floorgate.db is full", "cause": "full"}


def path_segment(forbidden: str = "/") -> str:
    """A regex for an id that is one URL path segment: none of `forbidden` (at least "/", which the server
    decodes before routing), and not "." or ".." (which clients and proxies fold into the path around them)."""
    other, first = f"[^{forbidden}]", f"[^.{forbidden}]"
    return rf"^({first}{other}*|\.{first}{other}*|\.\.{other}+)$"


# An id a client names in a URL path (an order, a zone, a station) or may later have to: one that could not
# come back in a path would be accepted and then never found. For body fields and path parameters alike.
PathId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=path_segment())]
# Master-data codes (SKU, location) also go into MQTT topics, where "+", "#" and spaces do not belong.
TopicSafeId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=path_segment(r"/+#\s"))]

# FastAPI's OpenAPI model holds numeric bounds as floats, so an integer bound comes out of it as the float
# nearest it: most are the same number, but the store's limits are not (2**63 - 1 becomes 2**63). These are the
# limits the contract sets that a float cannot hold, written back as the integers they are.
_EXACT_BOUNDS = {float(bound): bound for bound in (SQL_INT_MAX, -SQL_INT_MAX)}
_BOUND_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})


def integer_bounds(document: Any) -> Any:
    """The OpenAPI document with every integral bound written as an integer (in place; returns it)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in _BOUND_KEYS and isinstance(value, float) and value.is_integer():
                document[key] = _EXACT_BOUNDS.get(value, int(value))
            else:
                integer_bounds(value)
    elif isinstance(document, list):
        for item in document:
            integer_bounds(item)
    return document


class Problem(BaseModel):
    """A refusal: `detail` says what was wrong; a 503 from a failing store adds its `cause`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "no order 'SO-1001'"}, PROBLEM_503_EXAMPLE]}
    )

    detail: str
    cause: str | None = Field(
        default=None,
        description="Only on a 503 from a failing store: full, read_only, io_error, unavailable or other",
    )


class Answer(BaseModel):
    """What a route answers, for the OpenAPI document: the base of every success model.

    The views (web/views.py) stay dicts, shared with the stream, and a route returns them as they are: the
    model documents the JSON, it never reshapes it (`answers` below sets no response_model). Every key is
    declared (`extra="forbid"`), so a view that grows a key its model lacks fails the schema checks
    (tests/integration/test_openapi.py, and the fuzz tests' response conformance). Give each model an
    example: `model_config = ConfigDict(json_schema_extra={"examples": [...]})`.
    """

    model_config = ConfigDict(extra="forbid")


def optional_key(description: str) -> Any:
    """A field for a key the view leaves out at times and never sets to null: not required, and not nullable.

    (`Field(default=None)` typed `float` says so to the schema; through this function, to mypy as well.)
    """
    return Field(default=None, description=description)


# Where the one Problem schema lives: every refusal points there (`with_shared_schemas` puts it in).
PROBLEM_REF = "#/components/schemas/Problem"

_REFUSALS: dict[int, str] = {
    status.HTTP_400_BAD_REQUEST: "The body could not be read as JSON text (e.g. it is not UTF-8)",
    status.HTTP_401_UNAUTHORIZED: "Missing or unknown bearer token",
    status.HTTP_403_FORBIDDEN: "The token's role may not do this",
    status.HTTP_404_NOT_FOUND: "No such resource",
    status.HTTP_409_CONFLICT: "Conflicts with the floor as it is",
    status.HTTP_413_CONTENT_TOO_LARGE: "The body is larger than the edge reads (1 MiB unless configured)",
    status.HTTP_503_SERVICE_UNAVAILABLE: "The edge cannot apply it now (the store is failing); try again later",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route may answer, so clients (and schema checks) know them.

    Each points at the one Problem schema in the components, always as JSON: with `model` FastAPI would
    document a refusal in the media type of the route's own answer, which for /metrics is text.
    """
    content = {"application/json": {"schema": {"$ref": PROBLEM_REF}}}
    return {code: {"description": _REFUSALS[code], "content": content} for code in codes}


def answers(
    model: Any, *, status_code: int = status.HTTP_200_OK, description: str = "Successful Response"
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a success: `model` (an `Answer`, or a list of one) is the JSON it answers.

    A typed route reads:

        @router.get("/orders/{order_id}", response_model=None, responses={**answers(OrderView), **NOT_FOUND})
        async def get_order(...) -> dict[str, Any]:
            return order_view(order)

    `response_model=None` keeps FastAPI from building a model of its own from the `dict` annotation (and from
    re-serialising the answer through one); `answers` gives the schema. Two successes (201 created, 200
    replayed): merge two `answers(...)`.
    """
    return {status_code: {"model": model, "description": description}}


def with_shared_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the Problem schema in its components, where every refusal points, and the
    answers' examples as their models give them: FastAPI writes the document without its nulls, those of the
    examples included, and an example without its `"finished_at": null` is one its own schema refuses."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema()
    for model in _subclasses(Answer):
        schema = schemas.get(model.__name__)
        if schema is not None and "examples" in schema:
            schema["examples"] = model.model_json_schema()["examples"]
    return document


def _subclasses(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in model.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


# Every route that reads a JSON body may answer these.
BAD_BODY = refusals(status.HTTP_400_BAD_REQUEST, status.HTTP_413_CONTENT_TOO_LARGE)
# Every route behind a bearer token may answer these.
AUTH_REFUSALS = refusals(status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN)
# Routes that change the floor go through the writer: it refuses what does not fit, or cannot write.
WRITE_REFUSALS = refusals(
    status.HTTP_404_NOT_FOUND, status.HTTP_409_CONFLICT, status.HTTP_503_SERVICE_UNAVAILABLE
)


async def invalid_request(_request: Request, err: Exception) -> JSONResponse:
    """FastAPI's 422 (each bad field named, what was wrong, the start of its input), as JSON text always.

    The input is echoed only up to ECHO_CHARS: a 10 MB field is not sent back. A body may hold what JSON text
    cannot carry back: a lone surrogate ("\\ud800") or NaN. FastAPI's own handler then fails to render its
    answer and the client gets a 500; here the echo becomes its ASCII repr.
    """
    assert isinstance(err, RequestValidationError)
    errors = jsonable_encoder([{**error, "input": _excerpt(error.get("input"))} for error in err.errors()])
    try:
        return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    except (UnicodeEncodeError, ValueError):
        return JSONResponse(
            {"detail": [_printable(error) for error in errors]},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )


def _excerpt(value: Any) -> Any:
    """The input as it came when it is short; else the start of its text, marked as cut with "…"."""
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…"
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    text = json.dumps(jsonable_encoder(value), ensure_ascii=False)
    return value if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


def _printable(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": error.get("type"),
        "loc": [part if isinstance(part, int) else ascii(part)[1:-1] for part in error.get("loc", ())],
        "msg": ascii(str(error.get("msg", "")))[1:-1],
        "input": ascii(error.get("input"))[:ECHO_CHARS],
    }
