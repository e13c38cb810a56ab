"""Emails under NFKC and case mapping: one definition of "the same email" for register,
login, uniqueness and the login throttle, and one length limit (254 characters after NFKC)
for every email field, login included.

The definition (README "Login throttling and passwords"): the email is NFKC-normalised and
trimmed in Python (service/schemas/types.py normalize_email); any case is then the
database's lower() - the expression of the unique index users_email_lower_key, of the
login lookup and of the throttle's key - never Python's str.lower(), which differs from
it ('İ' lowers to two characters, a word-final 'Σ' to 'ς').
"""
from __future__ import annotations

import secrets
import unicodedata

import aiohttp
import asyncpg
import pytest
from dbutil import drop_database, with_database

from service.api import auth as auth_handlers
from service.db.migrations import apply_migrations
from service.db.registry import query

GROWS_UNDER_NFKC = "a@" + "\u3315" * 240 + ".jp"      # 245 characters sent; ㌕ is five under NFKC: 1205


def _loopback() -> str:
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"


async def _login_from(api, address: str, email: str, password: str) -> tuple[int, dict]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(api.client.make_url("/api/auth/login"),
                                json={"email": email, "password": password}) as resp:
            return resp.status, await resp.json()


async def _failures_from(database_url: str, address: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM login_failures WHERE address = $1", address)
    finally:
        await conn.close()


def _counting_verifications(monkeypatch) -> list:
    """Every argon2id (or scrypt) verification login runs from now on."""
    verified: list = []
    real = auth_handlers.verify_password_async

    async def counting(password, stored):
        verified.append(stored)
        return await real(password, stored)
    monkeypatch.setattr(auth_handlers, "verify_password_async", counting)
    return verified


# -- bug 1: a login email that grows when normalised escaped the throttle ---------------

async def test_a_failed_login_whose_email_grows_when_lowered_is_401_and_counted(make_api, settings, monkeypatch):
    """254 x 'İ': Python's lower() made 508 characters of it, more than login_failures'
    CHECK (<= 320) allows, so recording the failure failed (422 invalid_value) and nothing
    was counted: unlimited argon2id verifications from one address. The key is now the
    database's lower() (254 characters here), and is bounded whatever the collation makes."""
    api = await make_api(settings.replace(login_max_failures=3, login_window_s=300))
    address = _loopback()
    verified = _counting_verifications(monkeypatch)
    statuses = [(await _login_from(api, address, "\u0130" * 254, "wrong-password"))[0] for _ in range(4)]
    assert statuses == [401, 401, 401, 429], statuses
    assert await _failures_from(api.database_url, address) == 3
    assert len(verified) == 3                 # the throttled fourth attempt verified nothing


async def test_a_login_email_over_254_characters_after_nfkc_is_422_before_any_work(make_api, settings, monkeypatch):
    """No account can have an email over 254 characters after NFKC (register refuses it), so
    login refuses one at once: 422 naming `email`, as register does, before the throttle's
    query, the user lookup and the password verification. Before, every attempt cost an
    argon2id verification and then failed to be counted (the CHECK of login_failures)."""
    api = await make_api(settings.replace(login_max_failures=3, login_window_s=300))
    address = _loopback()
    verified = _counting_verifications(monkeypatch)
    for _ in range(4):
        status, body = await _login_from(api, address, GROWS_UNDER_NFKC, "wrong-password")
        assert status == 422, body
        assert body["error"]["code"] == "validation_error" and body["error"]["field"] == "email", body
        assert "254" in body["error"]["message"], body
    assert verified == []                     # no argon2id verification at all
    assert await _failures_from(api.database_url, address) == 0
    # The address is not throttled by them: a real login from it still works.
    email = f"grows-{secrets.token_hex(4)}@example.com"
    await api.post("/api/auth/register", json={"email": email, "password": "password-123"})
    assert (await _login_from(api, address, email, "password-123"))[0] == 200


# -- bug 2: accounts that could register but never log in -------------------------------

@pytest.mark.parametrize("local", ["\u0130lker", "\u039f\u0394\u039f\u03a3"])   # İlker; ΟΔΟΣ (final sigma)
async def test_an_account_that_registers_can_log_in_with_the_same_email(api, local):
    """login looked the user up with Python's lower() of the email against PostgreSQL's
    lower(email): 'İ' became 'i̇' (two characters) in Python, 'i' in PostgreSQL; a
    word-final 'Σ' became 'ς' in Python, 'σ' in PostgreSQL. The account was created (201)
    and the right password answered 401 for ever."""
    email = f"{local}@{secrets.token_hex(4)}.example.com"
    resp, body = await api.call("POST", "/api/auth/register", json={"email": email, "password": "password-123"})
    assert resp.status == 201, body
    resp, body = await api.call("POST", "/api/auth/login", json={"email": email, "password": "password-123"})
    assert resp.status == 200, (resp.status, body)
    assert body["user"]["email"] == email
    # In any case the database's lower() equates, it is the same account, for login and for uniqueness.
    for spelling in (email.upper(), f"  {email}  "):
        resp, body = await api.call("POST", "/api/auth/login", json={"email": spelling, "password": "password-123"})
        assert resp.status == 200, (spelling, resp.status, body)
    resp, body = await api.call("POST", "/api/auth/register", json={"email": email.upper(), "password": "password-123"})
    assert resp.status == 409 and body["error"]["field"] == "email", body


@pytest.mark.parametrize(("local", "spellings"), [
    ("ilker", ["\u0130LKER", "ilker", "ILKER"]),                           # İLKER reaches ilker's account
    ("\u039f\u0394\u039f\u03a3", ["\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c3", "\u039f\u03b4\u03bf\u03c3"]),
])
async def test_every_spelling_that_reaches_one_account_counts_against_its_throttle(make_api, settings, local, spellings):
    """The throttle counts by the same equality as the account lookup: with Python's lower()
    as its key, 'İLKER@..' (which the lookup finds as ilker's account) was counted apart
    from 'ilker@..', so each dotted/undotted variant of an address had its own budget of
    failures against one account."""
    api = await make_api(settings.replace(login_max_failures=3, login_window_s=300))
    domain = f"{secrets.token_hex(4)}.example.com"
    email = f"{local}@{domain}"
    await api.post("/api/auth/register", json={"email": email, "password": "password-123"})
    for spelling in spellings:
        status, body = await _login_from(api, _loopback(), f"{spelling}@{domain}", "wrong-password")
        assert status == 401, (spelling, body)
    status, body = await _login_from(api, _loopback(), email, "password-123")
    assert status == 429, body


# -- bug 3: an email over 254 characters after NFKC was refused without naming the field ----

async def test_an_email_over_254_characters_after_nfkc_is_422_naming_the_field(api):
    """Email's max_length=254 was checked before NFKC; the normalised value then broke the
    column's CHECK (length <= 254) and the database's refusal named no field."""
    user = await api.user()
    grows = "a@" + "\u3315" * 60 + ".jp"          # 65 characters sent, 305 after NFKC
    resp, body = await api.call("POST", "/api/clients", user, json={"name": "x", "email": grows})
    assert resp.status == 422 and body["error"].get("field") == "email", body
    resp, body = await api.call("POST", "/api/auth/register", json={"email": grows, "password": "password-123"})
    assert resp.status == 422 and body["error"].get("field") == "email", body


async def test_the_email_limit_is_254_characters_after_nfkc_at_and_one_past_it(api):
    user = await api.user()
    local = secrets.token_hex(3)                    # 6 characters
    at_limit = f"{local}@" + "\u3315" * 49 + ".j"   # 58 characters sent; 7 + 245 + 2 = 254 after NFKC
    assert len(unicodedata.normalize("NFKC", at_limit)) == 254
    one_past = at_limit + "p"
    client = await api.post("/api/clients", user, json={"name": "x", "email": at_limit})
    assert len(client["email"]) == 254
    resp, body = await api.call("POST", "/api/clients", user, json={"name": "x", "email": one_past})
    assert resp.status == 422 and body["error"]["field"] == "email", body
    resp, body = await api.call("PATCH", f"/api/clients/{client['id']}", user, json={"email": one_past})
    assert resp.status == 422 and body["error"]["field"] == "email", body
    registered = await api.post("/api/auth/register", json={"email": at_limit, "password": "password-123"})
    assert len(registered["email"]) == 254
    resp, body = await api.call("POST", "/api/auth/login", json={"email": at_limit, "password": "password-123"})
    assert resp.status == 200, body
    resp, body = await api.call("POST", "/api/auth/login", json={"email": one_past, "password": "password-123"})
    assert resp.status == 422 and body["error"]["field"] == "email", body


# -- the same promises under a collation whose lower() grows the text ---------------------

@pytest.fixture
async def unicode_fast_database(pg_server):
    """A migrated database whose default collation is the builtin PG_UNICODE_FAST
    (PostgreSQL 18): full Unicode case mapping, so lower('İ') is two characters and a
    word-final 'Σ' lowers to 'ς' - unlike the libc C.UTF-8 of the embedded default."""
    admin_url, _ = pg_server
    name = f"cj_unicode_fast_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT current_setting('server_version_num')::int >= 180000"):
            pytest.skip("PG_UNICODE_FAST needs PostgreSQL 18")
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8 '
                           "LOCALE_PROVIDER builtin BUILTIN_LOCALE 'PG_UNICODE_FAST'")
    finally:
        await conn.close()
    url = with_database(admin_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT length(lower('\u0130'))") == 2
            await apply_migrations(conn)
        finally:
            await conn.close()
        yield url
    finally:
        await drop_database(admin_url, name)


async def test_under_full_case_mapping_the_same_promises_hold(unicode_fast_database, make_api, settings):
    api = await make_api(settings.replace(database_url=unicode_fast_database, login_max_failures=3,
                                          login_window_s=300))
    for local in ("\u0130lker", "\u039f\u0394\u039f\u03a3"):
        email = f"{local}@{secrets.token_hex(4)}.example.com"
        await api.post("/api/auth/register", json={"email": email, "password": "password-123"})
        resp, body = await api.call("POST", "/api/auth/login", json={"email": email, "password": "password-123"})
        assert resp.status == 200, (resp.status, body)
    # 254 x 'İ' lowers to 508 characters here: still counted (the key is bounded), so throttled.
    address = _loopback()
    statuses = [(await _login_from(api, address, "\u0130" * 254, "wrong-password"))[0] for _ in range(4)]
    assert statuses == [401, 401, 401, 429], statuses
    assert await _failures_from(unicode_fast_database, address) == 3
    conn = await asyncpg.connect(unicode_fast_database)
    try:
        assert await conn.fetchval("SELECT DISTINCT email_normalized FROM login_failures WHERE address = $1",
                                   address) == "i\u0307" * 160            # 508 characters of lower(), cut to 320
    finally:
        await conn.close()


async def test_the_throttle_key_fits_its_column_whatever_its_length(db_conn):
    """The key is the database's lower() of the email, cut to login_failures' 320 characters:
    a longer one (only a collation whose lower() grows text makes one from a 254-character
    email) is still recorded and counted; keys merged by the cut only throttle sooner."""
    record, retry_after = query("login_failures/record").text, query("login_failures/retry_after").text
    address = _loopback()
    key = f"{secrets.token_hex(4)}@" + "x" * 400
    for _ in range(2):
        await db_conn.execute(record, key, address, 300)
    assert await db_conn.fetchval(retry_after, key, _loopback(), 300, 2) is not None
    assert await db_conn.fetchval("SELECT max(length(email_normalized)) FROM login_failures WHERE address = $1",
                                  address) == 320

