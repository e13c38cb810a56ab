"""deploy/grafana/dashboard.json and deploy/prometheus/alerts.yml against a real
Prometheus scraping a real `run.py serve`.

What "returns data" means here (the rule the alert file's header states):
- a dashboard target returns a non-empty vector (a histogram quantile over a window
  without observations is NaN: still a series, so the metric and labels are right);
- an alert is `<query> <comparison> <number>`: the query alone must return a
  non-empty vector (ratios are written to be 0, not absent, when nothing failed),
  the whole expression must evaluate without error (an empty answer is the normal
  "not firing"), and Prometheus itself must report every rule's health as ok.
So a misspelt metric, a label the service never sets, or a wrong aggregation fails
the test, while the service does not have to be failing for its alerts to be proven.
The replica group's series exist only with a replica configured: here they are only
evaluated and healthy; test_prometheus_replica.py proves them on a real standby.
The job queue's rules read the jobs table, so each test here serves a database of its
own: the session's holds the failed jobs other tests make on purpose.
"""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import asyncpg
import pytest
import yaml
from dbutil import fresh_database
from live import ROOT, Service, free_port, require_tool, served, stop, wait_until

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
JOB = "content-jumpstart-api"            # the job name of deploy/prometheus.yml; the rules select it
REPLICA_GROUP = "content-jumpstart-api-replica"     # series only when DATABASE_REPLICA_URL is set
RATE_INTERVAL = "10s"                    # what $__rate_interval becomes (Grafana: >= 4 scrape intervals)
COMPARISON = re.compile(r"^(?P<query>.+?)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<threshold>-?[0-9.]+(?:e-?[0-9]+)?)\s*$",
                        re.DOTALL)


@pytest.fixture
def own_database(pg_server):
    """A fresh migrated database: its jobs table holds only what the test puts there."""
    admin_url, _ = pg_server
    with fresh_database(admin_url, "cj_prometheus") as url:
        yield url


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, expression) for every target of every panel, Grafana variables substituted."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], substitute(target["expr"])))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"]["query"])
            assert match, variable
            found.append((f"variable {variable['name']}", substitute(match.group(1))))
    return found


def substitute(expr: str) -> str:
    """Grafana's variables as the dashboard would set them: this job, every instance."""
    return (expr.replace("$__rate_interval", RATE_INTERVAL).replace("$job", JOB).replace("$instance", ".*"))


def alert_rules(*, with_replica: bool = True) -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
            if with_replica or group["name"] != REPLICA_GROUP]


def split_alert(expr: str) -> tuple[str, str]:
    """(the query, the comparison) of `<query> <op> <number>`, the shape every rule must have."""
    match = COMPARISON.match(expr.strip())
    assert match, f"not of the form <query> <comparison> <number>: {expr}"
    query = match.group("query")
    assert query.count("(") == query.count(")"), f"the comparison is not at the top level: {expr}"
    return query, f"{match.group('op')} {match.group('threshold')}"


def test_dashboard_is_grafana_json_with_unique_panels_and_datasource_variables():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    titles = set()
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'job=~"$job"' in target["expr"] and 'instance=~"$instance"' in target["expr"], target["expr"]
    # what the issue asks the dashboard to show
    expected = {"Connections", "Acquire timeouts and suspected leaks", "Acquire wait", "Connection hold time",
                "Hit rate by tier", "Hits and misses by tier", "Evictions and entries by tier", "Coherent",
                "Executions by query", "p95 by query", "Slow executions by query", "Requests by route and status",
                "5xx ratio", "Latency", "CPU", "Resident memory", "Jobs by status", "Oldest due job waiting",
                "Failed in the last 15 minutes", "Job attempts finished by outcome", "Pickup latency p95 by kind"}
    assert expected <= titles, expected - titles


def test_every_alert_is_a_query_compared_with_a_number():
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    assert names >= {"ContentJumpstartDown", "ContentJumpstartHigh5xxRatio", "ContentJumpstartHighP99Latency",
                     "ContentJumpstartPoolSaturated", "ContentJumpstartPoolAcquireTimeouts",
                     "ContentJumpstartConnectionLeakSuspected", "ContentJumpstartSlowQueries",
                     "ContentJumpstartCacheIncoherent", "ContentJumpstartReplicaUnavailable",
                     "ContentJumpstartReplicaLagging", "ContentJumpstartJobsWaiting", "ContentJumpstartJobsFailed"}
    for rule in rules:
        split_alert(rule["expr"])
        assert rule["labels"]["severity"] in ("critical", "warning") and rule["annotations"]["summary"]


def test_promtool_accepts_the_alert_rules():
    promtool = require_tool("promtool", package="prometheus")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


class Prometheus:
    def __init__(self, port: int, process: subprocess.Popen, log: Path) -> None:
        self.port, self.process, self.log = port, process, log

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:          # 400/422: a bad expression; its error says why
            body = json.loads(exc.read())
        return body

    def query(self, expr: str) -> list:
        body = self.api("query", query=expr)
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        return body["data"]["result"]


def start_prometheus(tmp_path: Path, target_port: int, scrape_every: str = "1s") -> Prometheus:
    """Scraping every `scrape_every` (also the scrape's timeout: Prometheus allows no more)."""
    binary = require_tool("prometheus", package="prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": scrape_every, "evaluation_interval": "1s", "scrape_timeout": scrape_every},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": JOB, "metrics_path": "/metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}],
    }))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("w") as out:
        process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                    f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
                                   stdout=out, stderr=subprocess.STDOUT)
    return Prometheus(port, process, log)


class Traffic(threading.Thread):
    """Keeps every kind of request flowing until stopped: lists, details, writes, misses, 404s."""

    def __init__(self, service: Service, token: str) -> None:
        super().__init__(daemon=True)
        self.service, self.token = service, token
        self.done = threading.Event()
        self.errors: list[str] = []
        self.rounds = 0
        self.first_round = threading.Event()

    def run(self) -> None:
        call = self.service.call
        try:
            status, client = call("POST", "/api/clients", self.token, {"name": "Prometheus"})
            assert status == 201, client
            status, project = call("POST", "/api/projects", self.token, {"client_id": client["id"], "name": "P"})
            assert status == 201, project
            while not self.done.is_set():
                status, post = call("POST", "/api/posts", self.token, {"project_id": project["id"],
                                                                       "content": f"round {self.rounds}"})
                assert status == 201, post
                for path, expected in ((f"/api/clients/{client['id']}", 200), ("/api/clients", 200),
                                       (f"/api/projects/{project['id']}", 200), ("/api/posts?page_size=5", 200),
                                       (f"/api/posts/{post['id']}", 200), ("/api/posts/not-an-id", 404),
                                       ("/api/health", 200), ("/no/such/route", 404)):
                    status, body = call("GET", path, self.token)
                    assert status == expected, (path, status, body)
                self.rounds += 1
                self.first_round.set()
                self.done.wait(0.1)
        except Exception as exc:     # reported by the test, which asserts on self.errors
            self.errors.append(repr(exc))
            self.first_round.set()


def test_every_dashboard_query_and_alert_returns_data_from_a_real_prometheus(own_database, tmp_path):
    # The serve's own job worker runs its first maintenance job at start: the panels of
    # attempts finished and pickup latency have a series.
    with served(own_database, tmp_path, SLOW_QUERY_THRESHOLD_MS="0") as service:
        _, _, token = service.user()
        prometheus = start_prometheus(tmp_path, service.port)
        traffic = Traffic(service, token)
        try:
            wait_until(lambda: prometheus.api("status/runtimeinfo").get("status") == "success",
                       "prometheus to answer", timeout=30)
            traffic.start()
            assert traffic.first_round.wait(30) and not traffic.errors, traffic.errors
            # several scrapes after traffic began: every rate() window holds two samples or more
            wait_until(lambda: prometheus.query(f'count_over_time(up{{job="{JOB}"}}[{RATE_INTERVAL}]) >= 4')
                       and traffic.rounds >= 3, "four scrapes with traffic", timeout=30)
            assert prometheus.query(f'up{{job="{JOB}"}}')[0]["value"][1] == "1"

            pending = {f"panel {title}: {expr}": expr for title, expr in dashboard_targets()}
            for rule in alert_rules():
                prometheus.query(rule["expr"])          # evaluates: an empty answer means "not firing"
            for rule in alert_rules(with_replica=False):      # no replica here: its series do not exist
                query, comparison = split_alert(rule["expr"])
                pending[f"alert {rule['alert']} without `{comparison}`: {query}"] = query
            # a series appears within a scrape or two of its first request: poll, with a deadline
            deadline = time.monotonic() + 20
            while pending and time.monotonic() < deadline:
                pending = {name: expr for name, expr in pending.items() if not prometheus.query(expr)}
                if pending:
                    time.sleep(1)
            assert not pending, "no data for:\n" + "\n".join(pending)

            groups = wait_until(lambda: [g for g in prometheus.api("rules")["data"]["groups"]
                                         if all(not r.get("lastEvaluation", "0001").startswith("0001") for r in g["rules"])],
                                "every rule to be evaluated", timeout=20)
            evaluated = {rule["name"]: rule for group in groups for rule in group["rules"]}
            assert set(evaluated) == {rule["alert"] for rule in alert_rules()}
            unhealthy = {name: rule.get("lastError") for name, rule in evaluated.items() if rule["health"] != "ok"}
            assert not unhealthy, unhealthy
            # the service is healthy: nothing fires (pending would be fine too, firing means a wrong threshold)
            firing = [r["name"] for r in evaluated.values() if r["state"] == "firing"]
            assert not firing, firing
            assert not traffic.errors, traffic.errors
        finally:
            traffic.done.set()
            if traffic.is_alive():
                traffic.join(15)
            stop(prometheus.process)
    if prometheus.process.returncode not in (0, None):
        pytest.fail(f"prometheus exited {prometheus.process.returncode}: {prometheus.log.read_text()[-2000:]}")


def rule_states(prometheus: Prometheus) -> dict[str, str]:
    """alert name -> inactive | pending | firing, for the rules evaluated so far."""
    groups = prometheus.api("rules")["data"]["groups"]
    return {rule["name"]: rule["state"] for group in groups for rule in group["rules"]
            if not rule.get("lastEvaluation", "0001").startswith("0001")}


def job_alerts_raised(prometheus: Prometheus) -> dict[str, str] | None:
    """Every rule's state once JobsFailed fires (no `for`) and JobsWaiting is pending (`for: 5m`)."""
    states = rule_states(prometheus)
    raised = (states.get("ContentJumpstartJobsFailed") == "firing"
              and states.get("ContentJumpstartJobsWaiting") == "pending")
    return states if raised else None


def test_job_queue_alerts_fire_while_a_due_job_waits_and_a_job_failed_then_clear(own_database, tmp_path):
    """No worker anywhere (JOBS_WORKER=false): a job due ten minutes ago waits, and one job
    failed for good just now. The serving process reads both from the table at each scrape."""
    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(own_database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # Beside them, what must not count: a retry waiting out its backoff (not due), and a
    # failure older than 15 minutes.
    asyncio.run(execute("""
        INSERT INTO jobs (kind, status, run_after, created_at)
        VALUES ('report', 'queued', clock_timestamp() - interval '10 minutes',
                clock_timestamp() - interval '10 minutes'),
               ('email', 'queued', clock_timestamp() + interval '1 hour', clock_timestamp() - interval '2 hours');
        INSERT INTO jobs (kind, status, attempts, max_attempts, error, started_at, finished_at)
        VALUES ('export', 'failed', 5, 5, 'boom', clock_timestamp(), clock_timestamp()),
               ('export', 'failed', 5, 5, 'old', clock_timestamp() - interval '1 hour',
                clock_timestamp() - interval '20 minutes');"""))
    with served(own_database, tmp_path, JOBS_WORKER="false") as service:
        # 2 s: a scrape that reads the queue on a loaded machine must not count as the target down.
        prometheus = start_prometheus(tmp_path, service.port, scrape_every="2s")
        try:
            wait_until(lambda: prometheus.api("status/runtimeinfo").get("status") == "success",
                       "prometheus to answer", timeout=30)
            states = wait_until(lambda: job_alerts_raised(prometheus), "the job alerts to fire and to be pending",
                                timeout=30)
            others = {name: state for name, state in states.items() if "Jobs" not in name and state != "inactive"}
            assert not others, others
            waited = prometheus.query(f'max by (job) (cj_jobs_oldest_due_seconds{{job="{JOB}"}})')
            assert 600 <= float(waited[0]["value"][1]) < 3600, waited
            failed = prometheus.query(f'max by (job) (cj_jobs_recent_failures{{job="{JOB}"}})')
            assert failed[0]["value"][1] == "1", failed
            assert any(r["metric"].get("status") == "queued" and r["value"][1] == "1"
                       for r in prometheus.query(f'cj_jobs{{job="{JOB}",kind="report"}}'))

            # A worker took the due job and the recent failure was dealt with: both clear.
            asyncio.run(execute("""
                UPDATE jobs SET status = 'succeeded', started_at = clock_timestamp(), finished_at = clock_timestamp()
                WHERE kind = 'report';
                DELETE FROM jobs WHERE error = 'boom';"""))
            wait_until(lambda: all(rule_states(prometheus).get(name) == "inactive"
                                   for name in ("ContentJumpstartJobsFailed", "ContentJumpstartJobsWaiting")),
                       "the job alerts to clear (JobsWaiting looks back 30 s)", timeout=90)
            for gauge in ("cj_jobs_oldest_due_seconds", "cj_jobs_recent_failures"):
                assert prometheus.query(f'max by (job) ({gauge}{{job="{JOB}"}})')[0]["value"][1] == "0", gauge
        finally:
            stop(prometheus.process)
