"""Probe of the observability surfaces: profiling, metrics, the scraper token."""
from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest
from cdp import Chromium
from live import require_tool, served
from status_page import open_sign_in, sign_in

from service.settings import SettingsError, load_settings


async def test_a_streamed_result_download_is_no_n_plus_one(make_api, settings, db_conn):
    """Before: GET /api/jobs/{id}/result reads its result one chunk (1 MiB) per query, by
    design (memory holds one chunk). A result of N_PLUS_ONE_THRESHOLD chunks or more (5 MiB
    by default) was recorded as an N+1 of the service's own, with the advice "fetch the rows
    in one query", which is exactly what the download must not do."""
    api = await make_api(settings.replace(n_plus_one_threshold=3))
    admin, user = await api.user(admin=True), await api.user()
    chunks = [bytes([65 + seq]) * 10 for seq in range(6)]
    body = b"".join(chunks)
    job_id = await db_conn.fetchval(
        "INSERT INTO jobs (owner_id, kind, status, attempts, finished_at) "
        "VALUES ($1::uuid, 'report', 'succeeded', 1, now()) RETURNING id", user.id)
    await db_conn.execute(
        "INSERT INTO job_results (job_id, attempt, content_type, filename, bytes, sha256) "
        "VALUES ($1, 1, 'text/plain', 'r.txt', $2, $3)", job_id, len(body), hashlib.sha256(body).hexdigest())
    await db_conn.executemany("INSERT INTO job_result_chunks (job_id, attempt, seq, data) VALUES ($1, 1, $2, $3)",
                              [(job_id, seq, chunk) for seq, chunk in enumerate(chunks)])
    resp = await api.client.get(f"/api/jobs/{job_id}/result", headers=user.headers)
    assert resp.status == 200 and await resp.read() == body
    report = await api.get("/api/health/profiling", admin)
    assert report["summary"]["total_queries"] >= 6           # every chunk read was profiled
    assert report["n_plus_one"] == [], report["n_plus_one"]
    assert not any(r["message"].startswith("N+1") for r in report["recommendations"])


@pytest.mark.parametrize("token", ["two words", "pässwort-" + "x" * 24, "t" * 513, "tab\tinside"])
def test_a_metrics_token_no_request_can_carry_stops_start_up(token, tmp_path):
    """Before: METRICS_TOKEN was any non-empty text, but a bearer token is checked against
    1-512 printable ASCII characters without spaces (auth/tokens.py). A token with a space,
    a non-ASCII letter or over 512 characters was accepted at start-up and then matched no
    request: /metrics and the scraper routes answered 401 for ever, silently."""
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings({"METRICS_TOKEN": token, "SECRET_KEY": "k" * 40, "VAR_DIR": str(tmp_path)})


async def test_a_metrics_token_of_every_allowed_shape_opens_metrics(make_api, settings, tmp_path):
    token = "".join(chr(c) for c in range(0x21, 0x7f))            # every printable ASCII character
    parsed = load_settings({"METRICS_TOKEN": token, "SECRET_KEY": "k" * 40, "VAR_DIR": str(tmp_path)})
    assert parsed.metrics_token == token
    api = await make_api(settings.replace(metrics_token=token))
    await api.call("GET", "/metrics", headers={"Authorization": f"Bearer {token}"}, expect=200)
    await api.call("GET", "/metrics", headers={"Authorization": f"Bearer {token}x"}, expect=401)


def test_the_status_page_revokes_the_token_of_an_account_it_turns_away(database_url, tmp_path):
    """Before: a non-admin who signed in on the status page was told so and shown the form
    again, but the token the login had made was only dropped from the tab, never revoked:
    a live bearer token nobody held stayed valid for TOKEN_TTL_HOURS (168 h), one more per
    attempt. The README says the account is "signed out"; now it is (POST /api/auth/logout)."""
    binary = require_tool("chromium", "chromium-browser", package="chromium")
    with served(database_url, tmp_path) as service:
        email, password, _ = service.user()
        asyncio.run(_sign_in_as_non_admin(binary, service, email, password, database_url, tmp_path))


async def _sign_in_as_non_admin(binary, service, email, password, database_url, tmp_path) -> None:
    async def tokens() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM access_tokens JOIN users ON users.id = user_id "
                                       "WHERE users.email = $1", email)
        finally:
            await conn.close()
    before = await tokens()                       # the one service.user() logged in with
    async with Chromium(binary, tmp_path) as page:
        await open_sign_in(page, service.base)
        await sign_in(page, email, password)
        await page.wait_for("document.getElementById('login-error').textContent.includes('not an administrator')",
                            "the page to turn the account away")
        assert await page.evaluate("sessionStorage.length") == 0
        assert await tokens() == before               # revoked before the message is shown
