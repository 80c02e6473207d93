"""Interactive API docs that work offline: Swagger UI served from this package, no CDN.

The page opens without a token; its Authorize button takes one for trying a call.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).resolve().parent / "static" / "swagger-ui"
FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "init.js", "favicon-32x32.png"})

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/init.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Call on an app made with `docs_url=None, redoc_url=None`."""
    page = PAGE.format(title=app.title)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in FILES:
            raise HTTPException(404, detail="not found")
        return FileResponse(STATIC / name)
