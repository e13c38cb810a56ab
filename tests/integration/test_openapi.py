"""GET /api/openapi.json and GET /api/docs (issue 11): one document built from the route
table and the schemas, valid OpenAPI 3.1, naming exactly the routes the router serves;
a documentation page from packaged files under a strict CSP that, in a real headless
Chromium, renders every operation without one error."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

from cdp import Chromium
from live import require_tool, served
from openapi_spec_validator import validate

from service.api.openapi import document
from service.api.routes import ROUTES
from service.app import create_app
from service.schemas.validate import adapter
from service.settings import Settings

APP = create_app(Settings(database_url="postgresql://unused/none", secret_key="k" * 32))
METHODS = {"get", "post", "put", "patch", "delete"}


def _documented(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def test_the_document_names_exactly_the_routes_the_router_serves():
    routed = {(route.method, route.resource.canonical) for route in APP.router.routes()
              if route.method != "HEAD" and route.resource is not None}
    documented = _documented(document())
    assert routed - documented == set(), "served but not documented"
    assert documented - routed == set(), "documented but not served"
    assert len(documented) == len(ROUTES) >= 50


def test_openapi_spec_validator_accepts_the_document():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_operation_documents_its_parameters_body_security_and_errors():
    doc = document()
    rows = {(route.method, route.path): route for route in ROUTES}
    for (method, path), route in rows.items():
        operation = doc["paths"][path][method.lower()]
        responses = operation["responses"]
        assert str(route.status) in responses, (method, path)
        names = {p["name"] for p in operation.get("parameters", [])}
        if "{id}" in path:
            assert "id" in names and "404" in responses
        if route.query is not None:
            assert set(route.query.__annotations__) <= names and "400" in responses, (method, path)
        if route.paginated:
            assert {"page", "cursor", "page_size", "order"} <= names
        if route.body is not None:
            assert "requestBody" in operation and "422" in responses, (method, path)
            assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if route.auth in ("user", "admin", "admin_or_metrics"):
            assert operation["security"] == [{"bearer": []}] and "401" in responses, (method, path)
        if route.auth in ("admin", "admin_or_metrics"):
            assert "403" in responses
        if route.auth == "public":
            assert operation["security"] == []
        assert "Retry-After" in responses["503"]["headers"]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "access_token from POST /api/auth/login"}


def test_409_is_listed_only_where_a_state_or_a_named_object_can_cause_it():
    """A job's state refuses cancel and result (409); reading a job answers any state."""
    paths = document()["paths"]
    assert "409" in paths["/api/jobs/{id}/cancel"]["post"]["responses"]
    assert "409" in paths["/api/jobs/{id}/result"]["get"]["responses"]
    assert "409" not in paths["/api/jobs/{id}"]["get"]["responses"]
    assert "409" not in paths["/api/jobs"]["get"]["responses"]
    assert "409" in paths["/api/posts"]["post"]["responses"]


def test_body_errors_and_304_are_listed_only_where_they_can_happen():
    """GET /api/runs listed 408/413/415 (a path test meant for POST .../runs matched it), and
    GET /metrics listed 304 though it sends no ETag and answers If-None-Match with 200."""
    paths = document()["paths"]
    for route in ROUTES:
        responses = paths[route.path][route.method.lower()]["responses"]
        if route.method == "GET":
            assert not {"408", "413", "415"} & set(responses), (route.method, route.path)
    assert "304" not in paths["/metrics"]["get"]["responses"]
    assert "304" in paths["/api/runs"]["get"]["responses"]
    assert {"408", "413", "415"} <= set(paths["/api/projects/{id}/runs"]["post"]["responses"])


def test_body_schemas_are_the_ones_validation_uses():
    """The document's body schemas come from the same TypedDicts the handlers validate with."""
    doc = document()
    schemas = doc["components"]["schemas"]
    for route in ROUTES:
        if route.body is not None and route.method == "POST" and route.path != "/api/posts":
            own = adapter(route.body).json_schema(ref_template="#/components/schemas/{model}")
            own.pop("$defs", None)
            assert schemas[own["title"]] == own, route.path
            assert own.get("additionalProperties") is False, f"{route.path}: unknown fields must be refused"
    assert schemas["ClientBody"]["properties"]["name"]["maxLength"] == 200
    assert schemas["ProjectBody"]["properties"]["template_quantities"]["anyOf"][0]["maxProperties"] == 200
    assert schemas["BulkPosts"]["properties"]["items"]["maxItems"] == 1000


def test_examples_are_given():
    doc = document()
    assert doc["components"]["schemas"]["Register"]["properties"]["email"]["examples"]
    example = doc["paths"]["/api/clients"]["post"]["responses"]["422"]["content"]["application/json"]["example"]
    assert example["error"]["errors"] == [{"field": "colour", "message": "unknown field"},
                                          {"field": "name", "message": "is required"}]


async def test_the_service_serves_the_document_and_the_page(api):
    resp, served_doc = await api.call("GET", "/api/openapi.json", expect=200)
    assert served_doc["paths"].keys() == document()["paths"].keys()
    assert served_doc["info"]["title"] == "Content Jumpstart API"
    await api.call("GET", "/api/openapi.json", headers={"If-None-Match": resp.headers["ETag"]}, expect=304)
    page, _ = await api.call("GET", "/api/docs", expect=200)
    html = await page.text()
    assert page.content_type == "text/html"
    policy = {d.split()[0]: d.split()[1:] for d in page.headers["Content-Security-Policy"].split(";") if d.strip()}
    assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in source for sources in policy.values() for source in sources)
    # every script is a file of this service; no inline code, nothing from another origin
    assert re.findall(r'<script src="([^"]+)"></script>', html) == ["/api/docs/swagger-ui-bundle.js",
                                                                   "/api/docs/init.js"]
    assert not re.search(r"<script>|\sstyle=|\son[a-z]+=|<style|//[\w-]+\.", html)
    for path, kind in (("/api/docs/swagger-ui-bundle.js", "text/javascript"),
                       ("/api/docs/init.js", "text/javascript"), ("/api/docs/swagger-ui.css", "text/css")):
        asset, _ = await api.call("GET", path, expect=200)
        assert asset.content_type == kind and len(await asset.read()) > 100


def test_the_docs_page_renders_every_operation_in_headless_chromium(database_url, tmp_path):
    binary = require_tool("chromium", "chromium-browser", package="chromium")
    with served(database_url, tmp_path) as service:
        asyncio.run(_drive(binary, service, tmp_path))


async def _drive(binary: str, service, tmp_path: Path) -> None:
    expected = len(ROUTES)
    async with Chromium(binary, tmp_path) as page:
        await page.navigate(service.base + "/api/docs")
        count = await page.wait_for(
            f"document.querySelectorAll('.opblock').length >= {expected} && "
            "document.querySelectorAll('.opblock').length", "Swagger UI to render every operation", timeout=60)
        assert count == expected
        title = await page.evaluate("document.querySelector('.info .title').textContent")
        assert "Content Jumpstart API" in title
        paths = await page.evaluate(
            "Array.from(document.querySelectorAll('.opblock-summary-path')).map(e => e.dataset.path || e.textContent)")
        assert "/api/posts/{id}" in {p.replace("\u200b", "") for p in paths}
        urls = {event["params"]["request"]["url"] for event in page.events
                if event["method"] == "Network.requestWillBeSent"}
        origin = urlsplit(service.base)
        foreign = {url for url in urls if urlsplit(url)[:2] != origin[:2] and not url.startswith(("about:", "data:"))}
        assert not foreign, foreign
        errors = [event["params"] for event in page.events
                  if event["method"] == "Runtime.exceptionThrown"
                  or (event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error"
                      and not event["params"]["entry"].get("url", "").endswith("/favicon.ico"))
                  or (event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error")]
        assert not errors, errors


async def test_the_rules_the_document_states_in_words_are_the_ones_enforced(api):
    """info.description names the rules JSON Schema cannot express; each is refused as said."""
    assert "2, not 2.0" in document()["info"]["description"]
    user = await api.user()
    for body, message in (({"name": "a\u0000b"}, "NUL"), ({"name": "   "}, "empty")):
        data = await api.post("/api/clients", user, json=body, expect=422)
        assert message in data["error"]["message"], data
    client = await api.client_of(user)
    data = await api.post("/api/projects", user, json={"client_id": client["id"], "name": "p", "num_posts": 2.0},
                          expect=422)
    assert data["error"]["field"] == "num_posts", data
    data = await api.get("/api/posts?page=1&cursor=abc", user, expect=400)
    assert "not both" in data["error"]["message"], data
    project = await api.project_of(user, client["id"])
    data = await api.post(f"/api/projects/{project['id']}/exports", user, headers={"Idempotency-Key": "a\tb"},
                          expect=400)
    assert "Idempotency-Key" in data["error"]["message"], data
