"""Front page, sign-in (OIDC authorization code with PKCE), sign-out, language, and the
ESCO occupation autocomplete every form shares."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.auth.authenticator import Refusal
from services.ui.errors import ApiError
from services.ui.session import (
    FLOW_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Flow,
    Session,
    local_path,
    new_csrf,
)
from services.ui.web import form_of, lang_of, redirect, render, require, session_of, ui_of

log = logging.getLogger(__name__)
router = APIRouter()
HOME = {"consultant": "/worklist", "employer": "/employer/orders", "administrator": "/admin/models"}
ROLES = tuple(HOME)


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=ui_of(request).settings.cookie_secure,
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    session = session_of(request)
    if session is not None and session.role in HOME:
        return redirect(HOME[session.role])
    notice = None
    if request.query_params.get("expired"):
        notice = "signin.expired"
    elif request.query_params.get("signed_out"):
        notice = "signin.signed_out"
    elif request.query_params.get("failed"):
        notice = "signin.failed"
    elif request.query_params.get("no_role"):
        notice = "signin.no_role"
    return render(request, "signin.html", notice=notice, next=request.query_params.get("next", ""))


@router.get("/auth/login")
async def login(request: Request, next: str = "") -> Response:
    ui = ui_of(request)
    if not ui.oidc.loaded and not await ui.oidc.load(ui.client):
        return render(request, "error.html", status=503, key="503")
    verifier, challenge = pkce_pair()
    flow = Flow(secrets.token_urlsafe(24), verifier, secrets.token_urlsafe(24), local_path(next))
    query = urlencode(
        {
            "response_type": "code",
            "client_id": ui.settings.ui_oidc_client_id,
            "redirect_uri": ui.settings.redirect_uri,
            "scope": ui.settings.ui_oidc_scopes,
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "ui_locales": lang_of(request),
        }
    )
    response = RedirectResponse(f"{ui.oidc.authorization_endpoint}?{query}", status_code=303)
    _cookie(response, request, FLOW_COOKIE, ui.sealer.seal_flow(flow), 600, "/auth")
    return response


@router.get("/auth/callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    ui = ui_of(request)
    flow = ui.sealer.open_flow(request.cookies.get(FLOW_COOKIE))
    if error or not code or flow is None or not secrets.compare_digest(state, flow.state):
        log.warning(
            "sign-in callback refused", extra={"error": error, "has_flow": flow is not None}
        )
        return _failed("/?failed=1")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": ui.settings.redirect_uri,
        "client_id": ui.settings.ui_oidc_client_id,
        "code_verifier": flow.verifier,
    }
    if ui.settings.ui_oidc_client_secret is not None:
        form["client_secret"] = ui.settings.ui_oidc_client_secret.get_secret_value()
    try:
        answer = await ui.client.post(ui.oidc.token_endpoint, data=form)
        answer.raise_for_status()
        token = str(answer.json()["access_token"])
        principal = await ui.authenticator.authenticate(f"Bearer {token}")
    except (httpx.HTTPError, ValueError, KeyError, Refusal) as exc:
        log.warning("sign-in token refused", extra={"error": str(exc)})
        return _failed("/?failed=1")
    if principal.role not in ROLES:
        return _failed("/?no_role=1")
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    expires = float(claims.get("exp", time.time() + 3600))
    expires = min(expires, time.time() + ui.settings.ui_session_hours * 3600)
    session = Session(
        token=token,
        subject=principal.subject,
        role=principal.role,
        name=str(claims.get("name") or principal.subject),
        municipality=principal.municipality_code,
        cvr=principal.cvr,
        expires_at=expires,
        csrf=new_csrf(),
    )
    target = flow.next if flow.next != "/" else HOME[principal.role]
    response = redirect(target)
    _cookie(
        response,
        request,
        SESSION_COOKIE,
        ui.sealer.seal_session(session),
        int(expires - time.time()),
    )
    response.delete_cookie(FLOW_COOKIE, path="/auth")
    log.info("signed in", extra={"actor": principal.label()})
    return response


def _failed(target: str) -> Response:
    response = redirect(target)
    response.delete_cookie(FLOW_COOKIE, path="/auth")
    return response


@router.post("/auth/signout")
async def signout(
    request: Request, session: Annotated[Session, Depends(require(*ROLES))]
) -> Response:
    await form_of(request, session)
    response = redirect("/?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def language(request: Request, code: str, next: str = "/") -> Response:
    response = redirect(local_path(next))
    if code in ("da", "en"):
        _cookie(response, request, LANG_COOKIE, code, 365 * 24 * 3600)
    return response


@router.get("/occupations", response_class=HTMLResponse)
async def occupations(
    request: Request,
    session: Annotated[Session, Depends(require(*ROLES))],
    q: Annotated[str, Query(max_length=200)] = "",
    title: Annotated[str, Query(max_length=200)] = "",
    occupation: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """htmx: the `<option>`s of a datalist for what was typed (ESCO, in the page's language),
    through the events service's taxonomy search with the person's token."""
    text = (q or title or occupation).strip()
    results: list[dict[str, Any]] = []
    if len(text) >= 2:
        try:
            answer = await ui_of(request).api.get(
                "events",
                "/v1/taxonomy/occupations",
                session.token,
                params={"q": text, "lang": lang_of(request), "limit": 10},
            )
            results = list(answer.get("results", []))
        except ApiError as exc:
            if exc.status == 401:
                raise
            results = []
    return render(request, "partials/occupation_options.html", results=results)
