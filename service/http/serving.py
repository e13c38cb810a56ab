"""Serving an app on a port with the guarded connection handler (http/protocol.py):
what `web.run_app` does, with our runner. Tests start the service the same way."""
from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from service.http import loops
from service.http.protocol import GuardedAppRunner
from service.settings import Settings

# An idle connection between two requests is kept this long (as web.run_app sets it). A
# new connection must send its first request within REQUEST_HEADER_TIMEOUT_S instead, and
# one address holds at most MAX_CONNECTIONS_PER_ADDRESS of them (http/protocol.py).
KEEPALIVE_TIMEOUT_S = 75.0
SHUTDOWN_TIMEOUT_S = 5.0
# After an early answer (413, 408) aiohttp reads and drops the rest of the body for this
# long before it closes (10 s by default): a slow client is not worth waiting for.
LINGERING_TIME_S = 2.0


async def start(app: web.Application, settings: Settings, *, host: str, port: int,
                reuse_port: bool = False, handle_signals: bool = False) -> GuardedAppRunner:
    """Set the app up and listen; the caller cleans the returned runner up."""
    runner = GuardedAppRunner(app, header_timeout_s=settings.request_header_timeout_s,
                              send_timeout_s=settings.response_send_timeout_s,
                              max_connections_per_address=settings.max_connections_per_address, access_log=None,
                              keepalive_timeout=KEEPALIVE_TIMEOUT_S, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                              lingering_time=LINGERING_TIME_S,
                              handle_signals=handle_signals)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def _serve_forever(app: web.Application, settings: Settings, reuse_port: bool) -> None:
    # SIGINT/SIGTERM end the wait, and this task shuts down. aiohttp's own handlers
    # (handle_signals) raised GracefulExit out of the loop instead: the runner then
    # cancelled every task at once, requests in flight and running jobs among them, so
    # a write waiting on a lock was cut off and its client disconnected, and the graceful
    # steps below ran in a cancelled task.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = await start(app, settings, host=settings.host, port=settings.port, reuse_port=reuse_port)
    try:
        await stop.wait()
    finally:
        # Stops listening, gives requests in flight SHUTDOWN_TIMEOUT_S, then the app's
        # cleanup (the job worker's grace, the pools).
        await runner.cleanup()


def run(app: web.Application, settings: Settings, *, reuse_port: bool = False) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully, on EVENT_LOOP's loop."""
    with contextlib.suppress(KeyboardInterrupt):
        loops.run(_serve_forever(app, settings, reuse_port), settings.event_loop)
