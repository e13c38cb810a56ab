"""The access log: one line per request on logger service.access with method, route
template, status, duration, request id and user id; key=value by default, JSON fields
with LOG_FORMAT=json; nothing with ACCESS_LOG=false."""
from __future__ import annotations

import logging
import sys

import orjson

from service.observability.logs import JsonFormatter

ACCESS = "service.access"


def _lines(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS and request_id in r.getMessage() + str(getattr(r, "fields", ""))]


def _pairs(message: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in message.split(" "))


async def test_one_key_value_line_per_request_with_route_template_and_user(api, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    user = await api.user()
    client = await api.client_of(user)
    resp, _ = await api.call("GET", f"/api/clients/{client['id']}", user, expect=200)
    [record] = _lines(caplog, resp.headers["X-Request-ID"])
    assert record.levelno == logging.INFO
    line = _pairs(record.getMessage())
    assert list(line) == ["method", "route", "status", "duration_ms", "request_id", "user_id"]
    assert line["method"] == "GET" and line["route"] == "/api/clients/{id}" and line["status"] == "200"
    assert float(line["duration_ms"]) >= 0
    assert line["request_id"] == resp.headers["X-Request-ID"] and line["user_id"] == user.id
    assert client["id"] not in record.getMessage()      # the template, never the raw path

    # Anonymous callers, errors and unknown routes are logged too.
    resp, _ = await api.call("GET", "/api/clients", expect=401, headers={"X-Request-ID": "anon-call-1"})
    [record] = _lines(caplog, "anon-call-1")
    assert _pairs(record.getMessage())["user_id"] == "null" and _pairs(record.getMessage())["status"] == "401"
    await api.call("GET", "/no/such/thing", expect=404, headers={"X-Request-ID": "unmatched-call-1"})
    [record] = _lines(caplog, "unmatched-call-1")
    assert _pairs(record.getMessage())["route"] == "unmatched"


async def test_json_format_puts_the_fields_at_the_top_level(make_api, settings, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    api = await make_api(settings.replace(log_format="json"))
    user = await api.user()
    resp, _ = await api.call("POST", "/api/clients", user, expect=201, json={"name": "Logged"},
                             headers={"X-Request-ID": "json-call-1"})
    [record] = _lines(caplog, "json-call-1")
    line = orjson.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("logger", "level", "method", "route", "status", "request_id", "user_id")} == {
        "logger": ACCESS, "level": "INFO", "method": "POST", "route": "/api/clients", "status": 201,
        "request_id": "json-call-1", "user_id": user.id}
    assert isinstance(line["duration_ms"], float) and line["ts"].endswith("Z") and isinstance(line["pid"], int)


def test_json_format_of_an_ordinary_record_with_a_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("service.web").makeRecord(
            "service.web", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info=sys.exc_info())
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here" and line["level"] == "ERROR" and "ValueError: boom" in line["exc"]


async def test_access_log_false_writes_no_line(make_api, settings, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    api = await make_api(settings.replace(access_log=False))
    await api.call("GET", "/api/health", expect=200, headers={"X-Request-ID": "quiet-call-1"})
    assert _lines(caplog, "quiet-call-1") == []
