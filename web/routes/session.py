"""The dashboard's session: a token given to a page (`?token=` or the login form) becomes an HttpOnly cookie.

A token in a URL stays in the browser's history and in every proxy's log, and one in `sessionStorage` is in
reach of any script on the page. So a page opened with `?token=` answers with a redirect to the same URL
without it, setting the cookie on the way; the login form posts the token here. The cookie is HttpOnly,
SameSite=Strict (no other site's page can send it along) and Secure when the edge serves HTTPS; it lasts
until the browser closes or `DELETE /session`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse

from floorgate.web.credentials import SESSION_COOKIE, caller_for
from floorgate.web.deps import Context

router = APIRouter(include_in_schema=False)

# A token is far shorter; a longer form is not one the login page sent.
MAX_FORM_BYTES = 4096


def _keep(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _forget(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def token_redirect(request: Request, *, to: str | None = None) -> Response | None:
    """For a page opened with `?token=`: that page (or `to`) without it, the token moved into the cookie. An
    unknown token is kept too, so the page's stream is refused and the page says so. None without a token."""
    token = request.query_params.get("token")
    if token is None:
        return None
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "token"]
    target = (to or request.url.path) + (f"?{urlencode(kept)}" if kept else "")
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    _keep(response, request, token)
    return response


def _same_origin(request: Request) -> bool:
    # A page of another site may post a form here (logging this browser in with a token of its choosing).
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


@router.post("/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_in(request: Request, context: Context) -> Response:
    """The login form's token (`token=...`, form-encoded) into the session cookie: 204, or 401 if unknown."""
    if not _same_origin(request):
        return Response(status_code=status.HTTP_403_FORBIDDEN)
    body = await request.body()
    form = parse_qs(body.decode(errors="replace")) if len(body) <= MAX_FORM_BYTES else {}
    token = (form.get("token") or [""])[0].strip()
    if caller_for(context, token) is None:
        response = Response(status_code=status.HTTP_401_UNAUTHORIZED)
        _forget(response, request)
        return response
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _keep(response, request, token)
    return response


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(request: Request) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _forget(response, request)
    return response
