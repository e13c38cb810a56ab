"""The access log: one line per request on logger service.access with method, route
template, status, duration, request id and user id; key=value after the usual prefix
by default, one JSON object per line with LOG_FORMAT=json; nothing with ACCESS_LOG=false.
Lines are buffered and handed to the logger in batches (tests flush explicitly)."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import orjson

from service import keys
from service.http.access_log import AccessLog
from service.observability.logs import JsonFormatter

ACCESS = "service.access"
TEXT_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[\d+\] service\.access: ")


def _access_log(api) -> AccessLog | None:
    found = [hook for hook in api.client.app[keys.REQUEST_FINISHED] if isinstance(hook, AccessLog)]
    return found[0] if found else None


def _lines(api, caplog, request_id: str) -> list[str]:
    """The access lines naming request_id, after flushing the buffer."""
    access = _access_log(api)
    if access is not None:
        access.flush()
    lines = [line for record in caplog.records if record.name == ACCESS
             for line in record.getMessage().split("\n")]
    return [line for line in lines if request_id in line]


def _pairs(line: str) -> dict[str, str]:
    assert TEXT_PREFIX.match(line), line
    return dict(part.split("=", 1) for part in TEXT_PREFIX.sub("", line).split(" "))


async def test_one_key_value_line_per_request_with_route_template_and_user(api, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    user = await api.user()
    client = await api.client_of(user)
    resp, _ = await api.call("GET", f"/api/clients/{client['id']}", user, expect=200)
    [line] = _lines(api, caplog, resp.headers["X-Request-ID"])
    fields = _pairs(line)
    assert list(fields) == ["method", "route", "status", "duration_ms", "request_id", "user_id"]
    assert fields["method"] == "GET" and fields["route"] == "/api/clients/{id}" and fields["status"] == "200"
    assert float(fields["duration_ms"]) >= 0
    assert fields["request_id"] == resp.headers["X-Request-ID"] and fields["user_id"] == user.id
    assert client["id"] not in line      # the template, never the raw path

    # Anonymous callers, errors and unknown routes are logged too.
    await api.call("GET", "/api/clients", expect=401, headers={"X-Request-ID": "anon-call-1"})
    [line] = _lines(api, caplog, "anon-call-1")
    assert _pairs(line)["user_id"] == "null" and _pairs(line)["status"] == "401"
    await api.call("GET", "/no/such/thing", expect=404, headers={"X-Request-ID": "unmatched-call-1"})
    [line] = _lines(api, caplog, "unmatched-call-1")
    assert _pairs(line)["route"] == "unmatched"


async def test_lines_are_batched_and_written_without_an_explicit_flush(api, caplog):
    """The buffer goes out by itself (timer), as whole lines, one record per batch."""
    from checks import eventually
    caplog.set_level(logging.INFO, logger=ACCESS)
    for i in range(5):
        await api.call("GET", "/api/health", expect=200, headers={"X-Request-ID": f"batched-{i}"})

    def written():
        lines = [line for r in caplog.records if r.name == ACCESS for line in r.getMessage().split("\n")]
        return [line for line in lines if "request_id=batched-" in line]
    lines = await eventually(lambda: len(written()) == 5 and written(), "the buffered lines are written")
    assert all(TEXT_PREFIX.match(line) for line in lines)
    assert len([r for r in caplog.records if r.name == ACCESS and "batched-0" in r.getMessage()]) == 1


async def test_json_format_puts_the_fields_at_the_top_level(make_api, settings, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    api = await make_api(settings.replace(log_format="json"))
    user = await api.user()
    await api.call("POST", "/api/clients", user, expect=201, json={"name": "Logged"},
                   headers={"X-Request-ID": "json-call-1"})
    [line] = _lines(api, caplog, "json-call-1")
    fields = orjson.loads(line)
    assert {k: fields[k] for k in ("logger", "level", "method", "route", "status", "request_id", "user_id")} == {
        "logger": ACCESS, "level": "INFO", "method": "POST", "route": "/api/clients", "status": 201,
        "request_id": "json-call-1", "user_id": user.id}
    assert isinstance(fields["duration_ms"], float) and fields["ts"].endswith("Z") and isinstance(fields["pid"], int)
    assert fields["message"] == "POST /api/clients 201"


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
    assert _access_log(api) is None
    await api.call("GET", "/api/health", expect=200, headers={"X-Request-ID": "quiet-call-1"})
    assert _lines(api, caplog, "quiet-call-1") == []


def test_access_lines_are_written_whatever_log_level_unless_access_log_is_off():
    """LOG_LEVEL=WARNING quiets the service's diagnostics, not the access log ACCESS_LOG asks for;
    the access handler writes the (already formatted) lines unchanged."""
    script = ("import logging, sys; from service.observability.logs import configure_logging;"
              "from service.settings import Settings;"
              "configure_logging(Settings(log_level='WARNING', access_log=sys.argv[1] == 'on', log_format='json'));"
              "logging.getLogger('service.access').info('{\"status\": 200}\\n{\"status\": 404}');"
              "logging.getLogger('service.web').info('diagnostic')")
    root = Path(__file__).resolve().parents[2]
    on = subprocess.run([sys.executable, "-c", script, "on"], cwd=root, capture_output=True, text=True, timeout=120)
    off = subprocess.run([sys.executable, "-c", script, "off"], cwd=root, capture_output=True, text=True, timeout=120)
    assert [orjson.loads(line)["status"] for line in on.stderr.splitlines()] == [200, 404], on.stderr
    assert off.stderr == ""
