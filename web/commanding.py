"""Running a command through the writer's port and translating refusals into HTTP answers."""

from __future__ import annotations

import re

from fastapi import HTTPException, status

from floorgate.core.commands import Command
from floorgate.core.errors import CommandRejected, RejectionKind
from floorgate.web.context import WebContext
from floorgate.web.ports import CommandSetAside, CommandsUnavailable, Executed

_STATUS = {
    RejectionKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    RejectionKind.CONFLICT: status.HTTP_409_CONFLICT,
    RejectionKind.INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def field_location(field: str) -> list[str | int]:
    """`lines[1].qty` → ["body", "lines", 1, "qty"], the shape FastAPI uses for its own 422s."""
    parts: list[str | int] = ["body"]
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field):
        parts.append(int(index) if index else name)
    return parts


async def run(context: WebContext, command: Command) -> Executed:
    try:
        return await context.commands.execute(command)
    except CommandRejected as rejected:
        code = _STATUS[rejected.kind]
        if rejected.kind is RejectionKind.INVALID and rejected.field:
            detail: object = [
                {"loc": field_location(rejected.field), "msg": rejected.message, "type": "value_error"}
            ]
        else:
            detail = rejected.message
        raise HTTPException(code, detail=detail) from rejected
    except CommandSetAside as err:
        # The edge made something its own store refuses: its fault, not the client's, and retrying the
        # same request cannot help. The request is kept as an exception for a supervisor.
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail={"message": str(err), "exception_id": err.exception_id, "cause": err.cause},
        ) from err
    except CommandsUnavailable as err:
        if err.store_failure is not None:
            # answered by the app's StoreUnavailable handler: 503 naming the cause
            raise err.store_failure from err
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(err)) from err
