"""The topology tests' own tools: a TCP proxy that can stop forwarding bytes without
closing anything (a network partition), and the check that PgBouncer is installed.

PgBouncer itself is started by `service/topology/pgbouncer.py`, which the service's
commands (`run.py topology`, the bench) use too.
"""
from __future__ import annotations

import asyncio
import os
from urllib.parse import quote

import pytest

from service.topology.pgbouncer import PgBouncerMissing, pgbouncer_binary, server_address


def require_pgbouncer() -> str:
    """The pgbouncer executable; fails (in CI) or skips (elsewhere) saying what is missing."""
    try:
        return pgbouncer_binary()
    except PgBouncerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


class PartitionProxy:
    """A TCP listener forwarding to a PostgreSQL server (TCP or its Unix socket).

    `partition()` stops moving bytes in both directions and holds new connections
    before they reach the server, closing nothing: what a dropped network looks like
    to both ends. `heal()` lets everything flow again.
    """

    def __init__(self, server_url: str) -> None:
        self.host, self.server_port = server_address(server_url)
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(database)}"

    async def start(self) -> PartitionProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def partition(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    async def _open_upstream(self):
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.server_port}")
        return await asyncio.open_connection(self.host, self.server_port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await self._open_upstream()
        except (OSError, asyncio.CancelledError):
            writer.close()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self._flowing.wait()        # bytes read before the partition are held too
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.close()

    async def stop(self) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
