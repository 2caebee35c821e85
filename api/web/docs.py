"""The documentation pages, /docs (Swagger UI) and /redoc, served from the package's own files
(FastAPI's recipe "Self-hosting JavaScript and CSS for docs"): a hospital network without
internet sees them all the same, and each page's Content-Security-Policy admits only this
origin's scripts and the page's one inline start-up script, by its hash."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_ASSETS_PATH = "/docs-assets"
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
"""Swagger UI's and ReDoc's built scripts and styles, as the fastapi-offline package ships and
updates them (the package is MIT; Swagger UI is Apache-2.0, ReDoc MIT). A dependency rather than
vendored copies, so that a new Swagger UI arrives with an upgrade, not a hand-copied file. A
hospital network without internet sees the pages all the same."""
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
"""Swagger UI would otherwise send the document to a public validator for its badge."""


def docs_policy(page: str) -> str:
    """The Content-Security-Policy of a documentation page: its scripts from this origin, its
    inline start-up script by hash, styles inline or from this origin, images inline (the UI's
    icons are data: URLs), fetches to this origin only (the document; "Try it out")."""
    scripts = ["'self'"] + [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(page)
    ]
    return (
        f"default-src 'none'; script-src {' '.join(scripts)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


def with_docs_policy(response: HTMLResponse) -> HTMLResponse:
    page = bytes(response.body).decode()
    response.headers["Content-Security-Policy"] = docs_policy(page)
    response.headers["Cache-Control"] = "no-cache"
    return response


def install_docs(app: FastAPI) -> None:
    """/docs and /redoc, with their assets under DOCS_ASSETS_PATH (FastAPI's recipe
    "Self-hosting JavaScript and CSS for docs"). No OAuth2 redirect page: keys are bearer
    tokens pasted into the form."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_docs_policy(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
                swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_docs_policy(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{DOCS_ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )
        )
