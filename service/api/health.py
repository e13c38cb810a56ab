"""Public health endpoints: /api/health, /api/health/live, /api/health/ready."""
from __future__ import annotations

import asyncio
import os

from aiohttp import web

from service import SERVICE_NAME, __version__, keys
from service.db import server
from service.db.errors import translate_db_error
from service.db.migrations import MigrationError, pending_migrations
from service.errors import ServiceUnavailable
from service.http.responses import json_response
from service.observability.probes import BoundedCheckout

READY_TIMEOUT_S = 1.0


def worker_info() -> dict:
    return {"pid": os.getpid()}


async def health(request: web.Request) -> web.Response:
    return json_response(request, {"status": "healthy", "service": SERVICE_NAME, "version": __version__,
                                   "worker": worker_info()})


async def live(request: web.Request) -> web.Response:
    return json_response(request, {"status": "alive", "worker": worker_info()})


async def _readiness(checkout: BoundedCheckout, request: web.Request) -> list:
    async with checkout.session() as session:
        await server.ping(session)
        try:
            return await pending_migrations(session.conn, migrations=request.app[keys.MIGRATIONS])
        except MigrationError:
            raise
        except Exception as exc:        # the connection lost meanwhile: 503, not 500
            translated = translate_db_error(exc)
            if translated is exc:
                raise
            raise translated from exc


async def ready(request: web.Request) -> web.Response:
    checkout = BoundedCheckout(request.app[keys.DB])
    try:
        pending = await asyncio.wait_for(_readiness(checkout, request), READY_TIMEOUT_S)
    except TimeoutError:
        saturated = checkout.saturated(READY_TIMEOUT_S)
        if saturated:
            # Not ready either way (no request would get a connection now), but the database
            # was not asked: say so, or a saturated pool reads as a database that stopped answering.
            raise ServiceUnavailable(saturated, code="pool_exhausted") from None
        raise ServiceUnavailable(f"the database did not answer within {READY_TIMEOUT_S:g} s") from None
    except MigrationError as exc:
        raise ServiceUnavailable(f"schema problem: {exc}", code="not_ready") from None
    if pending:
        raise ServiceUnavailable("migrations pending: " + ", ".join(m.path.name for m in pending),
                                 code="not_ready")
    return json_response(request, {"status": "ready", "database": "ok", "migrations": "applied",
                                   "worker": worker_info()})
