"""The public APIs, called with the signed-in person's access token.

The application reads and writes nothing but through these (the same access rules apply
to a person here as to any other client): events (commands), profiles (queries) and the
matching worker's pages. One httpx client per process, opened in the app's lifespan.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import httpx

from services.ui.errors import ApiError

log = logging.getLogger(__name__)
Service = Literal["events", "profiles", "matching"]


class Api:
    def __init__(self, client: httpx.AsyncClient, urls: dict[Service, str]) -> None:
        self.client = client
        self.urls = urls

    async def request(
        self,
        method: str,
        service: Service,
        path: str,
        token: str | None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        url = self.urls[service] + path
        try:
            response = await self.client.request(method, url, params=clean, json=json, headers=sent)
        except httpx.HTTPError as exc:
            # "api", not "service": that key names the process writing the log line.
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            log.warning("api unreachable", extra={"api": service, "error": error})
            raise ApiError(503, "unreachable", service) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:500]
            log.info(
                "api refused",
                extra={"api": service, "path": path, "status": response.status_code},
            )
            raise ApiError(
                response.status_code, detail, service, response.headers.get("Retry-After")
            )
        if not response.content:
            return None
        return response.json()

    async def get(self, service: Service, path: str, token: str | None, **kw: Any) -> Any:
        return await self.request("GET", service, path, token, **kw)

    async def post(self, service: Service, path: str, token: str | None, **kw: Any) -> Any:
        return await self.request("POST", service, path, token, **kw)

    async def put(self, service: Service, path: str, token: str | None, **kw: Any) -> Any:
        return await self.request("PUT", service, path, token, **kw)
