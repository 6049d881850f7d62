"""Webhook endpoints (admin) and deliveries (read; supervisors may replay)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from floorgate.web.commanding import field_location
from floorgate.web.contract import (
    AUTH_REFUSALS,
    BAD_BODY,
    BODY_CONFIG,
    SQL_INT_MAX,
    Answer,
    answers,
    optional_key,
    refusals,
)
from floorgate.web.deps import CanRead, Context, require
from floorgate.web.ports import WebhookEndpoint, WebhookRefused, Webhooks
from floorgate.web.roles import Caller, Permission

# Every route needs the webhook service: 503 on an edge that runs none.
router = APIRouter(
    tags=["webhooks"],
    prefix="/webhooks",
    responses={**AUTH_REFUSALS, **refusals(status.HTTP_503_SERVICE_UNAVAILABLE)},
)
NOT_FOUND = refusals(status.HTTP_404_NOT_FOUND)
NOT_FOUND_OR_BAD_BODY = {**NOT_FOUND, **BAD_BODY}

CanAdmin = Annotated[Caller, Depends(require(Permission.ADMIN))]
CanReplay = Annotated[Caller, Depends(require(Permission.REPLAY))]
Pattern = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_*]+(\.[a-z_*]+)?$")]


class EndpointBody(BaseModel):
    model_config = BODY_CONFIG
    url: str = Field(min_length=8, max_length=2000)
    events: list[Pattern] = Field(default_factory=lambda: ["*"], min_length=1)
    secret: str | None = Field(default=None, max_length=200, description="whsec_…; generated when left out")
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class EndpointPatch(BaseModel):
    model_config = BODY_CONFIG
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    events: list[Pattern] | None = Field(default=None, min_length=1)
    enabled: bool | None = None


class RotateBody(BaseModel):
    model_config = BODY_CONFIG
    overlap_seconds: float = Field(default=86_400, ge=0, le=30 * 86_400)
    secret: str | None = Field(default=None, max_length=200)


def _service(context: Context) -> Webhooks:
    service = context.webhooks
    if service is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="webhooks are not running on this edge"
        )
    return service


Service = Annotated[Webhooks, Depends(_service)]


ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": "erp",
    "url": "https://erp.example.com/hooks/floorgate",
    "name": "erp",
    "events": ["pick.*", "pack.verified"],
    "enabled": True,
    "disabled_reason": None,
    "source": "api",
    "rotating_until": None,
}


class EndpointView(Answer):
    """An endpoint as `endpoint_view` shows it: never its secrets."""

    model_config = ConfigDict(json_schema_extra={"examples": [ENDPOINT_EXAMPLE]})

    id: str
    url: str
    name: str | None
    events: list[str] = Field(description="event types or patterns (pick.*, *)")
    enabled: bool
    disabled_reason: str | None
    source: str = Field(description="site (from the site file) or api")
    rotating_until: float | None = Field(
        description="Unix seconds: while a rotated-out secret still signs beside the new one, until when"
    )


class EndpointWithSecret(EndpointView):
    """Created or rotated: the one time the secret is shown."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
        }
    )

    secret: str = Field(description="whsec_…: keep it; it is never shown again")


class DeliveryView(Answer):
    """One event's delivery to one endpoint (a row of the outbox)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "erp.42",
                    "endpoint_id": "erp",
                    "event_seq": 42,
                    "event_id": "evt_01HQ3Z0",
                    "event_type": "pick.confirmed",
                    "order_id": "SO-1001",
                    "status": "failed",
                    "attempts": 12,
                    "next_attempt_at": 1772441742.1,
                    "last_status_code": 502,
                    "last_error": "HTTP 502",
                    "created_at": 1772438142.1,
                    "delivered_at": None,
                }
            ]
        }
    )

    id: str = Field(description="what POST /webhooks/deliveries/{delivery}/replay takes")
    endpoint_id: str
    event_seq: int
    event_id: str
    event_type: str
    order_id: str | None
    status: str = Field(description="pending | delivered | failed")
    attempts: int
    next_attempt_at: float = Field(description="Unix seconds")
    last_status_code: int | None
    last_error: str | None
    created_at: float = Field(description="Unix seconds")
    delivered_at: float | None = Field(description="Unix seconds")


class Replayed(Answer):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"replayed": 3}, {"replayed": 1, "id": "erp.42"}]}
    )

    replayed: int = Field(description="how many deliveries start again from their first attempt")
    id: str = optional_key("the delivery, when one was named")


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "name": endpoint.name,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "source": endpoint.source,
        "rotating_until": endpoint.rotating_until,
    }


def _problem(err: WebhookRefused) -> HTTPException:
    if err.not_found:
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(err))
    if err.field:
        return HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": field_location(err.field), "msg": str(err), "type": "value_error"}],
        )
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(err))


@router.get("/endpoints", response_model=None, responses=answers(list[EndpointView]))
async def list_endpoints(service: Service, _role: CanAdmin) -> list[dict[str, Any]]:
    return [endpoint_view(endpoint) for endpoint in service.endpoints()]


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={**answers(EndpointWithSecret, status_code=status.HTTP_201_CREATED), **BAD_BODY},
)
async def create_endpoint(body: EndpointBody, service: Service, _role: CanAdmin) -> dict[str, Any]:
    try:
        created = await service.create(url=body.url, events=body.events, secret=body.secret, name=body.name)
    except WebhookRefused as err:
        raise _problem(err) from err
    return {**endpoint_view(created.endpoint), "secret": created.secret}


@router.patch(
    "/endpoints/{endpoint_id}",
    response_model=None,
    responses={**answers(EndpointView), **NOT_FOUND_OR_BAD_BODY},
)
async def update_endpoint(
    endpoint_id: str, body: EndpointPatch, service: Service, _role: CanAdmin
) -> dict[str, Any]:
    try:
        endpoint = await service.update(endpoint_id, url=body.url, events=body.events, enabled=body.enabled)
    except WebhookRefused as err:
        raise _problem(err) from err
    return endpoint_view(endpoint)


@router.post(
    "/endpoints/{endpoint_id}/rotate",
    response_model=None,
    responses={**answers(EndpointWithSecret), **NOT_FOUND_OR_BAD_BODY},
)
async def rotate_secret(
    endpoint_id: str, service: Service, _role: CanAdmin, body: RotateBody | None = None
) -> dict[str, Any]:
    body = body or RotateBody()
    try:
        rotated = await service.rotate(endpoint_id, overlap_seconds=body.overlap_seconds, secret=body.secret)
    except WebhookRefused as err:
        raise _problem(err) from err
    return {**endpoint_view(rotated.endpoint), "secret": rotated.secret}


@router.get("/deliveries", response_model=None, responses=answers(list[DeliveryView]))
async def list_deliveries(
    service: Service,
    _role: CanRead,
    status_filter: Annotated[Literal["pending", "delivered", "failed"] | None, Query(alias="status")] = None,
    order_id: str | None = None,
    endpoint: str | None = None,
    after_seq: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return await service.deliveries(
        status=status_filter,
        order_id=order_id,
        endpoint_id=endpoint,
        after_seq=after_seq,
        limit=limit,
    )


@router.post("/deliveries/replay", response_model=None, responses=answers(Replayed))
async def replay_failed(service: Service, _role: CanReplay, endpoint: str | None = None) -> dict[str, Any]:
    return {"replayed": await service.replay_failed(endpoint)}


@router.post(
    "/deliveries/{delivery}/replay", response_model=None, responses={**answers(Replayed), **NOT_FOUND}
)
async def replay_delivery(delivery: str, service: Service, _role: CanReplay) -> dict[str, Any]:
    try:
        await service.replay_one(delivery)
    except WebhookRefused as err:
        raise _problem(err) from err
    return {"replayed": 1, "id": delivery}
