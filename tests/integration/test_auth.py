"""Auth (docs/API.md section 4): register, login, logout, /me, token expiry and storage."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from service.auth.passwords import verify_password


def _email() -> str:
    return f"auth-{secrets.token_hex(5)}@example.com"


async def _register(api, email, password="password-123", expect=201, **extra):
    return await api.post("/api/auth/register", json={"email": email, "password": password, **extra},
                          expect=expect)


async def _login(api, email, password="password-123", expect=200):
    return await api.post("/api/auth/login", json={"email": email, "password": password}, expect=expect)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_returns_the_public_user(api):
    email = _email()
    user = await _register(api, email, full_name="Ada Lovelace")
    assert set(user) == {"id", "email", "full_name", "is_admin", "created_at"}
    assert user["email"] == email and user["full_name"] == "Ada Lovelace" and user["is_admin"] is False
    assert isinstance(user["id"], str)
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None


async def test_register_ignores_is_admin_in_the_body(api, db_conn):
    user = await _register(api, _email(), is_admin=True)
    assert user["is_admin"] is False
    assert await db_conn.fetchval("SELECT is_admin FROM users WHERE id = $1::uuid", user["id"]) is False


async def test_register_rejects_a_bad_email(api):
    for bad in ("not-an-email", "two@@example.com", "no-domain@", "spaces in@example.com", ""):
        body = await _register(api, bad, expect=422)
        assert body["error"]["field"] == "email", bad


async def test_register_rejects_a_short_password_and_accepts_eight_characters(api):
    body = await _register(api, _email(), password="1234567", expect=422)
    assert body["error"]["field"] == "password"
    # Spaces count: a password is not trimmed.
    await _register(api, _email(), password="  abcdef", expect=201)


async def test_duplicate_email_is_409_regardless_of_case(api):
    email = _email()
    await _register(api, email)
    body = await _register(api, email.upper(), expect=409)
    assert body["error"]["code"] == "conflict" and body["error"]["field"] == "email"


async def test_register_missing_or_unknown_fields_are_422(api):
    body = await api.post("/api/auth/register", json={"email": _email()}, expect=422)
    assert body["error"]["field"] == "password"
    body = await api.post("/api/auth/register", json={"email": _email(), "password": "password-123",
                                                      "role": "admin"}, expect=422)
    assert body["error"]["field"] == "role"


async def test_login_answers_token_type_expiry_and_user(api, settings):
    email = _email()
    registered = await _register(api, email)
    before = datetime.now(UTC)
    body = await _login(api, email)
    assert set(body) == {"access_token", "token_type", "expires_at", "user"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32
    assert body["user"] == registered
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.utcoffset() is not None
    ttl = timedelta(hours=settings.token_ttl_hours)
    assert before + ttl - timedelta(minutes=1) <= expires <= datetime.now(UTC) + ttl + timedelta(minutes=1)


async def test_the_longest_token_lifetime_and_statement_timeout_allowed_work(make_api, settings):
    """TOKEN_TTL_HOURS and DB_STATEMENT_TIMEOUT_MS at their upper bounds: a login answers
    (past the year 9999 its expiry could not be read back: every login was a 500) and
    every connection starts (PostgreSQL refused a larger statement_timeout)."""
    from service.settings import STATEMENT_TIMEOUT_MS_MAX, TOKEN_HOURS_MAX
    api = await make_api(settings.replace(token_ttl_hours=TOKEN_HOURS_MAX,
                                          db_statement_timeout_ms=STATEMENT_TIMEOUT_MS_MAX))
    email = _email()
    await _register(api, email)
    body = await _login(api, email)
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=TOKEN_HOURS_MAX - 1) < lifetime <= timedelta(hours=TOKEN_HOURS_MAX)
    me = await api.get("/api/auth/me", headers=_bearer(body["access_token"]))
    assert me["email"] == email


async def test_login_with_the_email_in_another_case(api):
    email = _email()
    await _register(api, email)
    body = await _login(api, email.upper())
    assert body["user"]["email"] == email


async def test_wrong_password_and_unknown_email_answer_the_same(api):
    email = _email()
    await _register(api, email)
    wrong = await _login(api, email, password="wrong-password", expect=401)
    unknown = await _login(api, _email(), expect=401)
    assert wrong["error"] == unknown["error"]
    assert wrong["request_id"] != unknown["request_id"]


async def test_logout_is_204_and_the_token_dies_at_once(api):
    user = await api.user()
    await api.get("/api/auth/me", user)
    await api.post("/api/auth/logout", user, expect=204)
    body = await api.get("/api/auth/me", user, expect=401)
    assert body["error"]["code"] == "unauthorized"
    await api.get("/api/clients", user, expect=401)
    # Logging out again with a dead token is 401, not a silent success.
    await api.post("/api/auth/logout", user, expect=401)


async def test_logout_ends_only_that_token(api):
    email = _email()
    await _register(api, email)
    first = (await _login(api, email))["access_token"]
    second = (await _login(api, email))["access_token"]
    await api.call("POST", "/api/auth/logout", headers=_bearer(first), expect=204)
    await api.call("GET", "/api/auth/me", headers=_bearer(first), expect=401)
    await api.call("GET", "/api/auth/me", headers=_bearer(second), expect=200)


async def test_me_returns_the_current_user(api, db_conn):
    user = await api.user(admin=True)
    me = await api.get("/api/auth/me", user)
    row = await db_conn.fetchrow("SELECT email, full_name, is_admin, created_at FROM users WHERE id = $1::uuid",
                                 user.id)
    assert me["id"] == user.id and me["email"] == row["email"] and me["is_admin"] is True
    assert datetime.fromisoformat(me["created_at"]) == row["created_at"]


async def test_missing_malformed_and_unknown_tokens_are_401(api):
    resp, body = await api.call("GET", "/api/auth/me", expect=401)
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer " + secrets.token_urlsafe(32), "Bearer " + "x" * 600):
        _, body = await api.call("GET", "/api/auth/me", headers={"Authorization": header}, expect=401)
        assert body["error"]["status"] == 401


async def test_an_expired_token_is_401(api, db_conn):
    user = await api.user()
    # Expired before its first use (the service may cache a token it has seen until its expiry).
    await db_conn.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
                          hashlib.sha256(user.token.encode()).digest())
    await api.get("/api/auth/me", user, expect=401)


async def test_passwords_are_stored_as_argon2id_hashes_with_owasp_parameters(api, db_conn):
    email, password = _email(), "correct horse battery"
    await _register(api, email, password=password)
    stored = await db_conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and password not in stored
    assert verify_password(password, stored) == (True, False)
    assert not verify_password(password + "!", stored).ok
    # Salted: the same password hashes differently for another user.
    other = _email()
    await _register(api, other, password=password)
    assert await db_conn.fetchval("SELECT password_hash FROM users WHERE email = $1", other) != stored


async def test_tokens_are_stored_only_as_hashes(api, db_conn):
    user = await api.user()
    rows = await db_conn.fetch("SELECT token_hash FROM access_tokens WHERE user_id = $1::uuid", user.id)
    assert [bytes(r["token_hash"]) for r in rows] == [hashlib.sha256(user.token.encode()).digest()]
    found = await db_conn.fetchval(
        "SELECT count(*) FROM access_tokens WHERE position($1::bytea IN token_hash) > 0"
        " OR encode(token_hash, 'escape') LIKE '%' || $2 || '%'", user.token.encode(), user.token)
    assert found == 0


async def test_look_alike_emails_cannot_register_a_second_account(api):
    """NFKC first (a full-width letter is its plain letter), then invisible characters and
    mixed alphabets are refused: none of these becomes a second account of the same address."""
    email = f"lookalike-{uuid.uuid4().hex[:8]}@example.com"
    await api.post("/api/auth/register", json={"email": email, "password": "password-123"})
    full_width = "ｌ" + email[1:]                                    # NFKC: the same address
    resp, body = await api.call("POST", "/api/auth/register", json={"email": full_width, "password": "password-123"})
    assert resp.status == 409, body
    for variant, words in ((email.replace("@", "\u200b@"), "invisible"), ("l\u0430" + email[2:], "alphabets"),
                           (email.replace("example", "ex\u00adample"), "invisible")):
        error = (await api.post("/api/auth/register", json={"email": variant, "password": "password-123"},
                                expect=422))["error"]
        assert error["field"] == "email" and words in error["message"], (variant, error)
    # The normalised form logs in to the one account.
    assert (await api.post("/api/auth/login", json={"email": full_width, "password": "password-123"},
                           expect=200))["user"]["email"] == email
