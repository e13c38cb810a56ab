"""The NOTIFY payloads of the cache invalidation trigger (migrations 0100 and 0120), heard
on a LISTEN connection of the test's own: per distinct owner of the changed rows, `:+` for
an INSERT, the changed ids (at most 100) for an UPDATE or DELETE, the owner alone
beyond 100. cache/invalidation.py parses exactly these; test_cache.py checks what the
service does with them."""
from __future__ import annotations

import asyncio

import asyncpg

from service.cache.feed import CHANNEL


class Heard:
    """Every payload NOTIFYed on the channel, from the connection's LISTEN on."""

    def __init__(self, owners: set[str]) -> None:
        self.owners = owners          # other tests' writes may NOTIFY meanwhile: only these count
        self.payloads: list[str] = []
        self._marker = 0

    def __call__(self, _conn, _pid, _channel, payload: str) -> None:
        self.payloads.append(payload)

    async def after(self, sender: asyncpg.Connection, statement: str, *args) -> list[str]:
        """Run the statement; the payloads it caused (ours only: a marker NOTIFY follows it,
        and notifications arrive in commit order)."""
        start = len(self.payloads)
        await sender.execute(statement, *args)
        self._marker += 1
        marker = f"jobs:marker-{self._marker}"
        await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, marker)
        for _ in range(600):                      # a hang detector, not a speed check
            if marker in self.payloads[start:]:
                break
            await asyncio.sleep(0.05)
        got = self.payloads[start:]
        assert marker in got, got
        # Table-wide payloads (`users`, a TRUNCATE's `posts`) name no owner: not ours.
        ours = [p for p in got[:got.index(marker)] if p.split(":")[1:2] and p.split(":")[1] in self.owners]
        return [_ids_sorted(p) for p in ours]


def _ids_sorted(payload: str) -> str:
    """The payload with its id list in Python's order: string_agg orders it by the
    database's collation, which may not be byte order (TEST_DATABASE_URL), and
    cache/invalidation.py does not depend on the order."""
    parts = payload.split(":")
    if len(parts) == 3 and parts[2] != "+":
        parts[2] = ",".join(sorted(parts[2].split(",")))
    return ":".join(parts)


async def test_each_statement_notifies_its_rows_per_owner(api, db_conn, database_url):
    alice, bob = await api.user(), await api.user()
    a_posts = await api.posts_of(alice, (await api.project_of(alice))["id"], 102)
    b_posts = await api.posts_of(bob, (await api.project_of(bob))["id"], 2)
    client = await api.client_of(bob)       # before the LISTEN: its own `:+` must not be heard
    listener = await asyncpg.connect(database_url)
    heard = Heard({alice.id, bob.id})
    await listener.add_listener(CHANNEL, heard)
    try:
        a1, a2 = sorted(p["id"] for p in a_posts[:2])
        b1 = b_posts[0]["id"]

        # INSERT: one `:+` per owner, however many rows each.
        got = await heard.after(db_conn, """
            INSERT INTO posts (owner_id, project_id, content, word_count)
            SELECT owner_id, project_id, 'copy', 1 FROM posts WHERE id = ANY($1::uuid[])""", [a1, a2, b1])
        assert sorted(got) == sorted([f"posts:{alice.id}:+", f"posts:{bob.id}:+"])

        # UPDATE: the changed ids of each owner, comma-separated.
        got = await heard.after(db_conn, "UPDATE posts SET content = 'changed' WHERE id = ANY($1::uuid[])",
                                [a2, a1, b1])
        assert sorted(got) == sorted([f"posts:{alice.id}:{a1},{a2}", f"posts:{bob.id}:{b1}"])

        # An UPDATE that moves a row to another owner names it under both.
        got = await heard.after(db_conn, "UPDATE posts SET owner_id = $2::uuid WHERE id = $1::uuid", b1, alice.id)
        assert sorted(got) == sorted([f"posts:{alice.id}:{b1}", f"posts:{bob.id}:{b1}"])

        # Up to 100 rows of one owner are named; more: the owner alone.
        ids = sorted(await db_conn.fetchval(
            "SELECT array_agg(id::text) FROM posts WHERE owner_id = $1::uuid", alice.id))
        assert len(ids) > 101
        some = "UPDATE posts SET content = 'some' WHERE id = ANY($1::uuid[])"
        assert await heard.after(db_conn, some, ids[:100]) == [f"posts:{alice.id}:{','.join(ids[:100])}"]
        assert await heard.after(db_conn, some, ids[:101]) == [f"posts:{alice.id}"]

        # DELETE: like an UPDATE, from the old rows.
        b2 = b_posts[1]["id"]
        got = await heard.after(db_conn, "DELETE FROM posts WHERE id = ANY($1::uuid[])", [a1, b2])
        assert sorted(got) == sorted([f"posts:{alice.id}:{a1}", f"posts:{bob.id}:{b2}"])

        # DELETE of more than 100 rows: the owner alone.
        got = await heard.after(db_conn, "DELETE FROM posts WHERE owner_id = $1::uuid", alice.id)
        assert got == [f"posts:{alice.id}"]

        # Every table with the trigger: a client's rename.
        got = await heard.after(db_conn, "UPDATE clients SET name = 'Renamed' WHERE id = $1::uuid", client["id"])
        assert got == [f"clients:{bob.id}:{client['id']}"]
    finally:
        await listener.close()


async def test_the_trigger_function_has_no_dynamic_sql(db_conn):
    """Migration 0120: no EXECUTE, so PL/pgSQL keeps each query's plan (per trigger, per
    session) instead of parsing and planning one per write (docs/performance.md)."""
    body = await db_conn.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'notify_cache_invalidation_of_rows'")
    assert "pg_notify" in body and "EXECUTE" not in body.upper()
