"""No request answers 500 because of what it contains (issue 15): a property-based test
that sends generated requests to every route of the route table — path ids, query
parameters, bodies and headers drawn from what the schemas expect and from what they
do not (wrong types, huge and negative numbers, nulls, deep nesting, odd unicode,
unknown names) — as an anonymous caller, a user and an admin. Every answer must be
below 500 and, when it is an error, the contract's JSON envelope."""
from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.routes import ROUTES
from service.schemas.validate import adapter

EXAMPLES = 300
_INT_EDGES = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53, 2**63, -(2**63) - 1, 10**30]

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(_INT_EDGES), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), st.floats(min_value=-1e308, max_value=1e308),
    st.text(max_size=50), st.sampled_from(["", " ", "\u200b", "\U0001f600" * 3, "a" * 300, "%_\\", "x\x00y",
                                           "2026-12-04T00:00:00Z", "00000000-0000-0000-0000-000000000000"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=12)
deep = st.integers(min_value=1, max_value=400).map(lambda n: orjson.loads(b"[" * n + b"]" * n))


def field_value(prop: dict) -> st.SearchStrategy:
    """Values near what a property of the schema's JSON Schema takes, and the wrong kinds."""
    options = prop.get("anyOf", [prop])
    near = st.nothing()
    for option in options:
        kind = option.get("type")
        if "enum" in option:
            near |= st.sampled_from(option["enum"]) | st.text(max_size=12)
        elif option.get("format") == "uuid":
            near |= st.uuids().map(str) | st.text(max_size=40)
        elif option.get("format") == "email":
            near |= st.emails() | st.text(max_size=40)
        elif kind == "string":
            near |= st.text(max_size=option.get("maxLength", 100) + 2)
        elif kind == "integer":
            near |= st.integers() | st.sampled_from(_INT_EDGES)
        elif kind == "number":
            near |= st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(_INT_EDGES)
        elif kind == "boolean":
            near |= st.booleans()
        elif kind == "array" and option.get("items", {}).get("type") == "string":
            near |= st.lists(st.text(max_size=60), max_size=option.get("maxItems", 10) + 1)
        elif kind == "array":
            near |= st.lists(json_values, max_size=5) | deep
        elif kind == "object":
            near |= st.dictionaries(st.text(max_size=210), st.integers(), max_size=5)
    return near | json_values


def body_for(schema) -> st.SearchStrategy:
    props = adapter(schema).json_schema().get("properties", {})
    known = st.fixed_dictionaries({}, optional={name: field_value(prop) for name, prop in props.items()})
    unknown = st.dictionaries(st.text(max_size=12), json_values, max_size=3)
    return st.one_of(known, st.tuples(known, unknown).map(lambda kv: {**kv[1], **kv[0]}), json_values,
                     st.just({"items": []}), st.lists(known, max_size=3).map(lambda items: {"items": items}))


def query_for(route) -> st.SearchStrategy:
    names = list(route.query.__annotations__ if route.query else {}) + (["page", "cursor", "page_size", "order"] if route.paginated else [])
    values = st.one_of(st.text(max_size=30), st.sampled_from([str(n) for n in _INT_EDGES]),
                       st.sampled_from(["true", "no", "%", "asc", "desc", "nan", "1e309", "-0"]))
    return st.dictionaries(st.sampled_from(names or ["x"]) | st.text(min_size=1, max_size=8), values, max_size=4)


# What a client library lets through (control characters are refused before sending; the
# raw-socket tests in test_errors.py and test_slow_clients.py cover those bytes).
header_text = st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), max_size=140)
headers = st.fixed_dictionaries({}, optional={
    "If-None-Match": header_text,
    "X-Request-ID": header_text,
    "Idempotency-Key": header_text,
    "Accept": st.sampled_from(["*/*", "text/html", "application/json;q=0.1"]),
})
REAL = "<an id of the caller's own object>"
_segment = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20)
path_id = st.one_of(st.just(REAL), st.just(REAL), st.uuids().map(str),
                    _segment.filter(lambda t: not set(t) & set("/?#")))


def request_for(route) -> st.SearchStrategy:
    return st.tuples(st.just(route), path_id, query_for(route),
                     body_for(route.body) if route.body else st.none() | json_values, headers,
                     st.sampled_from(["anonymous", "user", "admin"]))


requests = st.one_of([request_for(route) for route in ROUTES if route.path != "/api/auth/logout"])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
@given(generated=requests)
async def test_no_generated_request_answers_500(api, generated):
    route, raw_id, query, body, extra_headers, who = generated
    if not hasattr(api, "people"):
        api.people = {"anonymous": None, "user": await api.user(), "admin": await api.user(admin=True)}
        api.owned = await _objects_of(api, api.people["user"])
    if raw_id == REAL:
        parts = route.path.split("/")
        raw_id = api.owned.get(parts[2] if len(parts) > 2 else "", "no-object")
    path = route.path.replace("{id}", raw_id)
    kwargs = {"params": query, "headers": extra_headers}
    if body is not None and route.method != "GET":
        kwargs["data"] = json.dumps(body).encode()      # stdlib: big integers are sent as written
        kwargs["headers"] = {**extra_headers, "Content-Type": "application/json"}
    resp, payload = await api.call(route.method, path, api.people[who], **kwargs)
    assert resp.status < 500, f"{route.method} {path} {query} {body!r:.300} -> {resp.status} {payload}"
    if route.method == "DELETE" and resp.status == 204:
        api.owned = await _objects_of(api, api.people["user"])
    if resp.status >= 400 and resp.content_type == "application/json":
        assert payload["error"]["status"] == resp.status and payload["request_id"]


async def _objects_of(api, user) -> dict[str, str]:
    """One object of each resource, owned by the user (fresh ones when a DELETE took them)."""
    client = await api.client_of(user)
    project = await api.project_of(user, client["id"])
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={})
    post = (await api.posts_of(user, project["id"], 1))[0]
    job = await api.post(f"/api/projects/{project['id']}/reports", user, json={}, expect=202)
    return {"clients": client["id"], "projects": project["id"], "runs": run["id"], "posts": post["id"],
            "jobs": job["id"]}
