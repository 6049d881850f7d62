"""Request dependencies: the edge context and bearer-token authorisation by permission."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from floorgate.web.context import WebContext
from floorgate.web.roles import Permission, Role

_bearer = HTTPBearer(auto_error=False)


def get_context(request: Request) -> WebContext:
    context = request.app.state.context
    assert isinstance(context, WebContext)
    return context


Context = Annotated[WebContext, Depends(get_context)]


def role_for(context: WebContext, token: str | None) -> Role | None:
    if not token:
        return None
    for known, role in context.tokens.items():
        # Constant-time comparison: the token is a secret.
        if hmac.compare_digest(known.encode(), token.encode()):
            return role
    return None


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Role]]:
    async def check(
        context: Context,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Role:
        role = role_for(context, credentials.credentials if credentials else None)
        if role is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or unknown bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not role.allows(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {role.value!r} may not {permission.value.replace('_', ' ')}",
            )
        return role

    return check


CanRead = Annotated[Role, Depends(require(Permission.READ))]
CanWriteMasterData = Annotated[Role, Depends(require(Permission.WRITE_MASTER_DATA))]
CanWriteOrders = Annotated[Role, Depends(require(Permission.WRITE_ORDERS))]
CanResolve = Annotated[Role, Depends(require(Permission.RESOLVE))]
