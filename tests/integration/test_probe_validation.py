"""Request validation probed as a hostile client (docs/API.md section 3; README "API
description, validation and fuzzing"): every refusal is a 4xx in the envelope naming what
is wrong, and nothing is stored other than what was sent."""
from __future__ import annotations

import io

import pytest

# -- a declared charset other than UTF-8 was ignored: the bytes were read as UTF-8 -------

@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "windows-1252"])
async def test_a_body_declared_in_a_charset_other_than_utf8_is_415_and_stores_nothing(api, db_conn, charset):
    user = await api.user()
    # "Ã©" in latin-1 is the bytes C3 A9: read as UTF-8 they are "é", a different name.
    body = '{"name": "probe-charset-Ã©"}'.encode("latin-1")
    resp, data = await api.call("POST", "/api/clients", user, data=body,
                                headers={"Content-Type": f"application/json; charset={charset}"})
    assert resp.status == 415, data
    assert data["error"]["code"] == "unsupported_media_type"
    assert data["error"]["field"] == "Content-Type"
    assert await db_conn.fetchval("SELECT count(*) FROM clients WHERE name LIKE 'probe-charset-%'") == 0


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"'])
async def test_a_body_declared_utf8_is_read(api, charset):
    user = await api.user()
    resp, data = await api.call("POST", "/api/clients", user, data='{"name": "café"}'.encode(),
                                headers={"Content-Type": f"application/json; charset={charset}"})
    assert resp.status == 201, data
    assert data["name"] == "café"


# -- an email was anything with one @ and no space: lists, brackets, empty labels -------

NOT_ADDRESSES = [
    "root,ada@example.com",      # the delivery notice went to "root" (a mailbox of the relay) and ada
    "ada;x@example.com",         # ... and this one to "ada" only
    "<ada@example.com>", "Ada<ada@example.com>", "ada(x)@example.com",
    ".ada@example.com", "ada.@example.com", "ada..b@example.com",
    "ada@-example.com", "ada@example-.com", "ada@example..com", "ada@.example.com", "ada@example.com.",
    "ada@ex_ample.com", "ada\\b@example.com",
]
ADDRESSES = ["o'brien+tag@example.com", "ädä@bücher.de", "ada@xn--bcher-kva.de", "ada@[192.0.2.1]",
             "a_b-c.d@sub.example.co.uk", "ａｄａ@example.com"]


@pytest.mark.parametrize("email", NOT_ADDRESSES)
async def test_what_is_not_an_address_is_refused_as_an_email_and_stored_nowhere(api, db_conn, email):
    user = await api.user()
    for method, path, body in [("POST", "/api/auth/register", {"email": email, "password": "password-123"}),
                               ("POST", "/api/clients", {"name": "probe-email", "email": email})]:
        resp, data = await api.call(method, path, user if path == "/api/clients" else None, json=body)
        assert resp.status == 422, (path, data)
        assert data["error"]["field"] == "email"
    client = await api.client_of(user)
    resp, data = await api.call("PATCH", f"/api/clients/{client['id']}", user, json={"email": email})
    assert resp.status == 422 and data["error"]["field"] == "email", data
    assert await db_conn.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0
    assert await db_conn.fetchval("SELECT count(*) FROM clients WHERE email = $1", email) == 0


@pytest.mark.parametrize("email", ADDRESSES)
async def test_addresses_of_every_form_the_document_allows_are_taken(api, email):
    user = await api.user()
    client = await api.post("/api/clients", user, json={"name": "probe-email", "email": email})
    assert client["email"] == email.replace("ａｄａ", "ada")


# -- the document allowed a required text of spaces that validation refuses ---------------

@pytest.mark.parametrize("schema, field, body, path", [
    ("ClientBody", "name", {}, "/api/clients"),
    ("Register", "password", {"email": "blank-password@example.com"}, "/api/auth/register"),
])
async def test_a_text_of_spaces_is_refused_and_the_document_says_so(api, schema, field, body, path):
    document = await api.get("/api/openapi.json")
    prop = document["components"]["schemas"][schema]["properties"][field]
    assert prop.get("pattern") == r"\S", prop         # minLength alone allows "        "
    user = await api.user()
    resp, data = await api.call("POST", path, user, json={**body, field: " " * 8})
    assert resp.status == 422 and data["error"]["field"] == field, data


# -- a query value whose percent-encoded bytes are not UTF-8 was read with U+FFFD in them -

@pytest.mark.parametrize("query, field", [
    ("search=caf%E9", "search"),                       # latin-1's "café": searched "caf\ufffd", found nothing
    ("template_name=%FF%FEabc", "template_name"),
    ("platform=blog%FF", "platform"),
])
async def test_a_query_value_that_is_not_utf8_is_400_naming_it(api, query, field):
    user = await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 1)
    resp, data = await api.call("GET", f"/api/posts?{query}", user)
    assert resp.status == 400, data
    assert data["error"]["code"] == "invalid_parameter"
    assert data["error"]["field"] == field


async def test_a_utf8_query_value_is_still_searched(api):
    user = await api.user()
    project = await api.project_of(user)
    await api.post("/api/posts", user, json={"project_id": project["id"], "content": "un café noir"})
    page = await api.get("/api/posts?search=caf%C3%A9", user)
    assert [post["content"] for post in page["items"]] == ["un café noir"]


# -- ids: the document says format uuid, but every spelling Python's UUID() reads was taken -

def _spellings(object_id: str) -> list[str]:
    return ["{" + object_id + "}", "urn:uuid:" + object_id, object_id.replace("-", ""),
            "----" + object_id.replace("-", "")]


async def test_an_id_in_another_spelling_than_the_documents_uuid_is_not_found(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    for spelling in _spellings(post["id"]):
        resp, data = await api.call("GET", f"/api/posts/{spelling}", user)
        assert resp.status == 404, (spelling, data)
        resp, data = await api.call("GET", f"/api/posts?project_id={spelling}", user)
        assert resp.status == 404, (spelling, data)
        resp, data = await api.call("POST", "/api/posts", user, json={"project_id": spelling, "content": "probe-id"})
        assert resp.status == 404, (spelling, data)
    assert await db_conn.fetchval("SELECT count(*) FROM posts WHERE content = 'probe-id'") == 0
    # The canonical form in either case is the id.
    assert (await api.get(f"/api/posts/{post['id'].upper()}", user))["id"] == post["id"]


# -- JSON Schema's "integer" includes 2.0; validation refuses it: the document must say so --

async def test_an_integer_written_with_a_fraction_is_refused_and_the_document_says_so(api):
    document = await api.get("/api/openapi.json")
    schemas = document["components"]["schemas"]
    word_count = schemas["PostBody"]["properties"]["word_count"]["anyOf"][0]
    quantity = schemas["ProjectBody"]["properties"]["template_quantities"]["anyOf"][0]["additionalProperties"]
    for integer in (word_count, quantity):
        assert integer["type"] == "integer" and "2.0" in integer.get("description", ""), integer
    user = await api.user()
    project = await api.project_of(user)
    for raw in (b"2.0", b"2e0"):
        body = b'{"project_id": "%s", "content": "a", "word_count": %s}' % (project["id"].encode(), raw)
        resp, data = await api.call("POST", "/api/posts", user, data=body,
                                    headers={"Content-Type": "application/json"})
        assert resp.status == 422 and data["error"]["field"] == "word_count", data


async def test_the_document_says_which_emails_are_refused_beyond_format_email(api):
    document = await api.get("/api/openapi.json")
    for name in ("Register", "ClientBody"):
        prop = document["components"]["schemas"][name]["properties"]["email"]
        email = prop["anyOf"][0] if "anyOf" in prop else prop
        assert email["format"] == "email" and "without quotes" in email.get("description", ""), email
    user = await api.user()
    resp, data = await api.call("POST", "/api/clients", user, json={"name": "x", "email": '"ada b"@example.com'})
    assert resp.status == 422 and data["error"]["field"] == "email", data
    resp, data = await api.call("POST", "/api/clients", user, json={"name": "x", "email": "ada@localhost"})
    assert resp.status == 422 and data["error"]["field"] == "email", data


async def test_a_search_of_three_characters_with_spaces_around_two_is_refused_and_the_document_says_so(api):
    document = await api.get("/api/openapi.json")
    search = next(p for p in document["paths"]["/api/clients"]["get"]["parameters"] if p["name"] == "search")
    assert "leading and trailing spaces" in search["schema"].get("description", search.get("description", "")), search
    user = await api.user()
    resp, data = await api.call("GET", "/api/clients?search=%20ab%20", user)
    assert resp.status == 400 and data["error"]["field"] == "search", data


# -- a name the caller sent was echoed whole, three times: a 7 MB key made a 21 MB answer ---

async def _posted(api, user, path: str, raw: bytes):
    return await api.call("POST", path, user, data=io.BytesIO(raw), headers={"Content-Type": "application/json"})


async def test_an_unknown_name_of_megabytes_is_named_cut_short_in_a_small_answer(api):
    user = await api.user()
    client = await api.client_of(user)
    key = "k" * 7_000_000
    bodies = [
        ("/api/posts", b'{"%s": 1}' % key.encode()),
        ("/api/posts", b'{"items": [{"%s": 1}]}' % key.encode()),
        ("/api/projects", b'{"client_id": "%s", "name": "n", "template_quantities": {"%s": "x"}}'
         % (client["id"].encode(), key.encode())),
    ]
    for path, raw in bodies:
        resp, data = await _posted(api, user, path, raw)
        assert resp.status == 422, data
        assert resp.content_length < 64 * 1024, (path, resp.content_length)
        fields = [problem["field"] for problem in data["error"]["errors"]]
        assert any(f.endswith("k" * 200 + "…") for f in fields) or fields == ["template_quantities"], fields
    resp, data = await api.call("GET", "/api/posts?" + "q" * 7000 + "=1", user)
    assert resp.status == 400 and resp.content_length < 2048, resp.content_length
    assert data["error"]["field"] == "q" * 200 + "…"


async def test_a_name_of_200_characters_is_named_whole(api):
    user = await api.user()
    name = "n" * 200
    resp, data = await api.call("POST", "/api/clients", user, json={"name": "x", name: 1})
    assert resp.status == 422 and data["error"]["field"] == name, data
