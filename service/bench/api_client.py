"""The few API calls the benchmark makes outside the load: log in, read fixtures."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson


class ApiError(RuntimeError):
    """The service answered a set-up call with an unexpected status."""


async def _request(base_url: str, method: str, path: str, token: str | None = None, json: Any = None,
                   fresh_connection: bool = False) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connector = aiohttp.TCPConnector(force_close=fresh_connection)
    async with aiohttp.ClientSession(base_url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        async with session.request(method, path, headers=headers, json=json) as resp:
            return resp.status, await resp.read()


def call(base_url: str, method: str, path: str, token: str | None = None, json: Any = None,
         expect: int = 200) -> Any:
    status, body = asyncio.run(_request(base_url, method, path, token, json))
    if status != expect:
        raise ApiError(f"{method} {path}: expected {expect}, got {status}: {body[:300]!r}")
    return orjson.loads(body) if body else None


def get_bytes(base_url: str, path: str, token: str) -> bytes:
    status, body = asyncio.run(_request(base_url, "GET", path, token))
    if status != 200:
        raise ApiError(f"GET {path}: {status}: {body[:300]!r}")
    return body


def login(base_url: str, email: str, password: str) -> str:
    return call(base_url, "POST", "/api/auth/login", json={"email": email, "password": password})["access_token"]


def worker_pids(base_url: str, attempts: int = 40) -> set[int]:
    """The worker pids that answer, each request on a new connection (SO_REUSEPORT spreads connections)."""
    async def probe() -> set[int]:
        pids = set()
        for _ in range(attempts):
            status, body = await _request(base_url, "GET", "/api/health/live", fresh_connection=True)
            if status == 200:
                pid = (orjson.loads(body).get("worker") or {}).get("pid")
                if pid is not None:
                    pids.add(pid)
        return pids
    return asyncio.run(probe())
