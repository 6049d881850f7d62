"""Where a request's token comes from: the `Authorization: Bearer` header, or the dashboard's session cookie.

The dashboard never keeps a token in script reach: a `?token=` on a page, or the login form, is turned into
an HttpOnly, SameSite=Strict cookie (Secure over HTTPS) and a clean URL (`web/routes/session.py`). The API and
the stream then accept that cookie as they accept the header. The header wins when both are sent.
"""

from __future__ import annotations

import hmac

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from floorgate.web.context import WebContext
from floorgate.web.roles import Caller

SESSION_COOKIE = "floorgate_token"


def presented_token(headers: Headers) -> str | None:
    """The bearer token of the header, else the session cookie's; None when neither is there."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() == "bearer" and token:
        return token
    return cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE) or None


def caller_for(context: WebContext, token: str | None) -> Caller | None:
    """The caller a token stands for, or None for a token the edge does not know."""
    if not token:
        return None
    for known, role in context.tokens.items():
        # Constant-time comparison: the token is a secret.
        if hmac.compare_digest(known.encode(), token.encode()):
            return Caller(role=role, name=context.token_names.get(known))
    return None
