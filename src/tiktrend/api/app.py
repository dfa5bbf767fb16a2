"""The FastAPI application: one reader per process (from settings, at startup), read-only over the store."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from tiktrend import __version__
from tiktrend.api.cache import ResponseCache
from tiktrend.api.checks import KnownCache
from tiktrend.query import CursorError, Reader, StoreBusy, open_reader
from tiktrend.settings import Settings
from tiktrend.store import StoreError
from tiktrend.store.pg_options import options_from_settings

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when TIKTREND_API_KEY is set.")

DESCRIPTION = """
Read-only access to tiktrend's store: the ranked trends of every detector and window, each keyword's
evidence (series per bucket, modalities, regions, example videos), the original project's engagement
rankings, videos, the pipeline's runs and figures, backtest reports, and Prometheus metrics.

Every list can be downloaded as CSV or Parquet: `?format=csv|parquet`, or an `Accept: text/csv` /
`Accept: application/vnd.apache.parquet` header. Filters name values the store holds; an unknown one is
answered 422 with the allowed values.
"""


def check_api_key(request: Request, key: Annotated[str | None, Security(API_KEY_HEADER)] = None) -> None:
    """With TIKTREND_API_KEY set, the X-API-Key header must carry it."""
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    if key is None or not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header")


def create_app(settings: Settings | None = None, reader: Reader | None = None) -> FastAPI:
    """The API over ``reader``, or over the store ``settings`` (default: the environment) name."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = reader is None
        opened = reader or open_reader(
            settings.database_url, options_from_settings(settings), hold_s=settings.api_duckdb_hold_s
        )
        app.state.reader = opened
        app.state.known = KnownCache(opened)
        try:
            yield
        finally:
            if own:
                opened.close()

    app = FastAPI(
        title="tiktrend",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if settings.api_cache_check_s > 0:  # inside CORS: kept answers carry no origin's headers
        app.add_middleware(ResponseCache, check_s=settings.api_cache_check_s)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET"],
            allow_headers=["X-API-Key", "Accept"],
        )
    _error_handlers(app)
    from tiktrend.api.routes import router

    app.include_router(router)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(StoreError)
    async def unreachable(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": f"the store cannot be read: {exc}"}, status_code=503)

    @app.exception_handler(CursorError)
    async def bad_cursor(request: Request, exc: CursorError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's list of errors, plus one sentence a person reads first.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'][1:]) or error['loc'][0]}: {error['msg']}" for error in exc.errors()
        )
        return JSONResponse({"detail": problems, "errors": _plain_errors(exc)}, status_code=422)


def _plain_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    return [{"loc": list(error["loc"]), "msg": str(error["msg"]), "type": str(error["type"])} for error in exc.errors()]
