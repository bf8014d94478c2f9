"""The FastAPI application factory: database, admission, static files, error handlers, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from app import api, pages
from app.admission import install_admission
from app.auth import BrowserIdMiddleware, guard, login_required
from app.boundary import BoundaryMiddleware
from app.deps import LoginRequired
from app.errors import install_error_handlers
from app.request_session import SessionCloser
from app.security_headers import SecurityHeadersMiddleware
from app.templating import HTMX_CDN, make_templates
from db.engine import (
    WEB_PING_AFTER_IDLE_S,
    make_engine,
    make_sessionmaker,
    resolve_database_url,
)
from db.migrate import upgrade
from db.read_pool import make_read_pool
from db.settings import Settings, get_settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database (embedded server when no URL is configured), migrate it, close it."""
    settings: Settings = app.state.settings
    url = await run_in_threadpool(resolve_database_url, settings)
    await run_in_threadpool(upgrade, url)
    # No overflow: Admission lets in exactly as many database requests as there are connections.
    engine = make_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_s,
        ping_after_idle_s=WEB_PING_AFTER_IDLE_S,
    )
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.read_pool = make_read_pool(
        url,
        size=settings.db_read_pool_size,
        timeout_s=settings.db_pool_timeout_s,
        ping_after_idle_s=WEB_PING_AFTER_IDLE_S,
    )
    try:
        await app.state.read_pool.open(wait=True)
        log.info("database ready")
        yield
    finally:
        await app.state.read_pool.close()
        engine.dispose()


class ExplorerApp(FastAPI):
    """FastAPI whose every response carries the security headers, error pages included.

    Starlette puts its server-error middleware outside every added middleware, so a 500 page would
    bypass an added header middleware; the headers therefore wrap the whole stack instead.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(
            super().build_middleware_stack(), extra_script_sources=self.state.csp_script_sources
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web application; nothing touches the database until start-up."""
    app = ExplorerApp(
        title="MAIRA-2 SAE Explorer",
        summary="Sparse autoencoder features of MAIRA-2's layer-15 residual stream.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # app/pages/docs.py serves /docs from local files
        redoc_url=None,
        # Identity, required sign-in, Origin and CSRF checks for every route (app/auth.py).
        dependencies=[Depends(guard)],
    )
    app.state.settings = settings or get_settings()
    app.state.templates = make_templates(STATIC_DIR)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_handlers(app)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_middleware(BrowserIdMiddleware, secure=app.state.settings.secure_cookies)
    app.add_middleware(SessionCloser)
    # Starlette runs the last-added middleware first: bad input is refused before it can queue
    # for a database slot. Security headers wrap the whole stack (ExplorerApp).
    install_admission(app, app.state.settings)
    app.add_middleware(BoundaryMiddleware)
    htmx_local = app.state.templates.env.globals["htmx_local"]
    app.state.csp_script_sources = () if htmx_local else (HTMX_CDN,)
    # Every area's routers are listed in app/api/__init__.py (JSON, mounted under /api/v1)
    # and app/pages/__init__.py (HTML): add a new router there, not here.
    for router in api.ROUTERS:
        app.include_router(router, prefix="/api/v1")
    for router in pages.ROUTERS:
        app.include_router(router, include_in_schema=False)
    return app
