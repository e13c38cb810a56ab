"""Waiting for the cache invalidation feed: shared by the cache and token-cache tests."""
from __future__ import annotations

import asyncio
import secrets

from service import keys


async def settle_feed(api):
    """Wait until the feed has handled every NOTIFY sent so far, so that no invalidation
    from the setup's own writes lands in the middle of a check. A marker with a unique
    payload goes out last; notifications reach the connection's listeners in order, so
    when the marker arrives every earlier one has reached the feed. The marker names a
    table that feeds no cached namespace (`jobs`), so it drops nothing itself: a check
    that a notification dropped an entry cannot be passed by the marker's own effect."""
    from service.cache.feed import CHANNEL

    feed = api.client.app[keys.CACHE_FEED]
    if not feed.connected.is_set():
        return
    marker = f"jobs:settle-{secrets.token_hex(4)}"
    heard = asyncio.Event()

    def on_notify(_conn, _pid, _channel, payload):
        if payload == marker:
            heard.set()

    conn = feed._conn
    await conn.add_listener(CHANNEL, on_notify)
    try:
        async with api.client.app[keys.DB].pool.acquire() as sender:
            await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, marker)
        await asyncio.wait_for(heard.wait(), 60)      # a hang detector, not a speed check
    finally:
        await conn.remove_listener(CHANNEL, on_notify)
    for _ in range(3):
        await asyncio.sleep(0)       # let the invalidation tasks the feed scheduled run
