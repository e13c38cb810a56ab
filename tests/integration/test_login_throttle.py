"""Login throttling (LOGIN_MAX_FAILURES per LOGIN_WINDOW_S, per email and per client
address; 429 + Retry-After), checked before any password hashing, shared by instances
through PostgreSQL; and scrypt hashes re-hashed to argon2id on login.

Each test logs in from loopback addresses of its own (127.x.y.z all reach the test
server on Linux), so failures never leak into another test's counts.
"""
from __future__ import annotations

import base64
import hashlib
import secrets

import aiohttp
import pytest

from service.api import auth as auth_handlers

MAX = 3


def _address() -> str:
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"


async def login_from(address: str, api, email: str, password: str) -> tuple[int, dict, dict]:
    """POST /api/auth/login from `address`: (status, headers, JSON body)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(api.client.make_url("/api/auth/login"),
                                json={"email": email, "password": password}) as resp:
            return resp.status, dict(resp.headers), await resp.json()


@pytest.fixture
async def throttled(make_api, settings):
    return await make_api(settings.replace(login_max_failures=MAX, login_window_s=300))


async def _registered(api, password: str = "password-123") -> str:
    email = f"throttle-{secrets.token_hex(5)}@example.com"
    await api.post("/api/auth/register", json={"email": email, "password": password})
    return email


def assert_throttled(status: int, headers: dict, body: dict, window: int = 300) -> int:
    assert status == 429, body
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= window
    assert body["error"]["status"] == 429 and body["error"]["code"] == "too_many_requests"
    assert body["request_id"] == headers["X-Request-ID"]
    return retry_after


async def test_failures_for_one_email_from_many_addresses_answer_429_with_retry_after(throttled):
    email = await _registered(throttled)
    for _ in range(MAX):
        status, _, _ = await login_from(_address(), throttled, email, "wrong-password")
        assert status == 401
    # Even the right password, from a fresh address: the email is throttled.
    status, headers, body = await login_from(_address(), throttled, email, "password-123")
    assert_throttled(status, headers, body)
    # Another email is unaffected.
    other = await _registered(throttled)
    assert (await login_from(_address(), throttled, other, "password-123"))[0] == 200


async def test_failures_from_one_address_for_many_emails_answer_429(throttled):
    address = _address()
    for _ in range(MAX):
        status, _, _ = await login_from(address, throttled, f"nobody-{secrets.token_hex(4)}@example.com", "x" * 10)
        assert status == 401
    email = await _registered(throttled)
    status, headers, body = await login_from(address, throttled, email, "password-123")
    assert_throttled(status, headers, body)
    # The same user from another address is not throttled.
    assert (await login_from(_address(), throttled, email, "password-123"))[0] == 200


async def test_a_throttled_login_computes_no_password_hash(throttled, monkeypatch):
    email = await _registered(throttled)
    address = _address()
    for _ in range(MAX):
        assert (await login_from(address, throttled, email, "wrong-password"))[0] == 401
    verified = []
    real = auth_handlers.verify_password_async

    async def counting(password, stored):
        verified.append(stored)
        return await real(password, stored)
    monkeypatch.setattr(auth_handlers, "verify_password_async", counting)
    for _ in range(3):
        assert (await login_from(address, throttled, email, "password-123"))[0] == 429
    assert verified == []
    # ... and throttled attempts are not counted: only the MAX real failures are stored.
    rows = await throttled_rows(throttled, email)
    assert rows == MAX


async def throttled_rows(api, email: str) -> int:
    import asyncpg
    conn = await asyncpg.connect(api.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM login_failures WHERE email_normalized = $1", email)
    finally:
        await conn.close()


async def test_a_success_clears_the_email_failures(throttled):
    email = await _registered(throttled)
    for _ in range(MAX - 1):
        assert (await login_from(_address(), throttled, email, "wrong-password"))[0] == 401
    assert (await login_from(_address(), throttled, email.upper(), "password-123"))[0] == 200
    assert await throttled_rows(throttled, email) == 0
    for _ in range(MAX - 1):
        assert (await login_from(_address(), throttled, email, "wrong-password"))[0] == 401
    assert (await login_from(_address(), throttled, email, "password-123"))[0] == 200


async def test_the_email_is_counted_case_and_space_insensitively(throttled):
    email = await _registered(throttled)
    for variant in (email.upper(), f"  {email}  ", email.title()):
        assert (await login_from(_address(), throttled, variant, "wrong-password"))[0] == 401
    status, headers, body = await login_from(_address(), throttled, email, "password-123")
    assert_throttled(status, headers, body)


async def test_two_instances_share_the_count_through_the_database(make_api, settings):
    custom = settings.replace(login_max_failures=MAX, login_window_s=300)
    first, second = await make_api(custom), await make_api(custom)
    assert first.client.port != second.client.port
    email = await _registered(first)
    assert (await login_from(_address(), first, email, "wrong-password"))[0] == 401
    assert (await login_from(_address(), second, email, "wrong-password"))[0] == 401
    assert (await login_from(_address(), first, email, "wrong-password"))[0] == 401
    for api in (first, second):
        status, headers, body = await login_from(_address(), api, email, "password-123")
        assert_throttled(status, headers, body)


async def test_retry_after_is_when_the_oldest_counted_failure_leaves_the_window(throttled, db_conn):
    email = await _registered(throttled)
    for _ in range(MAX):
        assert (await login_from(_address(), throttled, email, "wrong-password"))[0] == 401
    # Age the failures by 100 s: the throttle lifts 200 s from now.
    await db_conn.execute("UPDATE login_failures SET at = at - interval '100 seconds' WHERE email_normalized = $1",
                          email)
    status, headers, body = await login_from(_address(), throttled, email, "password-123")
    retry_after = assert_throttled(status, headers, body)
    assert 150 <= retry_after <= 201, retry_after       # generous: the machine may be slow, never sub-second
    # Past the window they no longer count.
    await db_conn.execute("UPDATE login_failures SET at = at - interval '201 seconds' WHERE email_normalized = $1",
                          email)
    assert (await login_from(_address(), throttled, email, "password-123"))[0] == 200


async def test_expired_failures_are_pruned_when_a_failure_is_recorded(throttled, db_conn):
    stale = f"stale-{secrets.token_hex(4)}@example.com"
    await db_conn.execute("INSERT INTO login_failures (email_normalized, address, at) "
                          "SELECT $1, '192.0.2.1', now() - interval '301 seconds' FROM generate_series(1, 5)", stale)
    await db_conn.execute("INSERT INTO login_failures (email_normalized, address, at) "
                          "VALUES ($1, '192.0.2.1', now() - interval '200 seconds')", stale + ".recent")
    assert (await login_from(_address(), throttled, "someone@example.com", "wrong-password"))[0] == 401
    assert await throttled_rows(throttled, stale) == 0
    assert await throttled_rows(throttled, stale + ".recent") == 1


def _scrypt_hash(password: str) -> str:
    """A hash as the service wrote them before argon2id: scrypt$n$r$p$salt$hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024)
    return f"scrypt${2 ** 14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


async def test_a_scrypt_user_logs_in_and_is_rehashed_to_argon2id(api, db_conn):
    email, password = await _registered(api), "an old password"
    old = _scrypt_hash(password)
    await db_conn.execute("UPDATE users SET password_hash = $2 WHERE email = $1", email, old)
    await api.post("/api/auth/login", json={"email": email, "password": password + "?"}, expect=401)
    assert await db_conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email) == old
    await api.post("/api/auth/login", json={"email": email, "password": password}, expect=200)
    stored = await db_conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # The same password keeps working against the new hash; a wrong one still fails.
    await api.post("/api/auth/login", json={"email": email, "password": password}, expect=200)
    await api.post("/api/auth/login", json={"email": email, "password": password + "?"}, expect=401)
    assert await db_conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email) == stored
