"""Request dependencies: the edge context and authorisation by permission (bearer token or session cookie)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from floorgate.web.context import WebContext
from floorgate.web.credentials import caller_for, presented_token
from floorgate.web.roles import Caller, Permission

# Read for the OpenAPI's security scheme; the token itself is taken by `presented_token` (header or cookie).
_bearer = HTTPBearer(auto_error=False)


def get_context(request: Request) -> WebContext:
    context = request.app.state.context
    assert isinstance(context, WebContext)
    return context


Context = Annotated[WebContext, Depends(get_context)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Caller]]:
    async def check(
        context: Context,
        request: Request,
        _header: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        caller = caller_for(context, presented_token(request.headers))
        if caller is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or unknown bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not caller.role.allows(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {caller.role.value!r} may not {permission.value.replace('_', ' ')}",
            )
        return caller

    return check


CanRead = Annotated[Caller, Depends(require(Permission.READ))]
CanWriteMasterData = Annotated[Caller, Depends(require(Permission.WRITE_MASTER_DATA))]
CanWriteOrders = Annotated[Caller, Depends(require(Permission.WRITE_ORDERS))]
CanResolve = Annotated[Caller, Depends(require(Permission.RESOLVE))]
