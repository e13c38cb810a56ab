"""The replica alert rules of deploy/prometheus/alerts.yml (group
content-jumpstart-api-replica) against a real Prometheus scraping a real `run.py serve`
whose DATABASE_REPLICA_URL is a real streaming standby, in the style of
test_prometheus.py: promtool accepts them (test_prometheus.py), their queries return
one series per instance while all is well and nothing fires; then, with the standby's
replay paused under writes, both rules' conditions hold (Prometheus reports them
pending: their `for:` is minutes), they clear once replay resumes, and a stopped
standby makes the unavailable rule's condition hold again."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from dbutil import create_database
from live import served, stop, wait_until
from test_prometheus import ALERTS, JOB, Traffic, split_alert, start_prometheus

from service.db.embedded import EmbeddedPostgres
from service.topology.pgbouncer import database_of
from service.topology.standby import Standby

GROUP = "content-jumpstart-api-replica"
UNAVAILABLE, LAGGING = "ContentJumpstartReplicaUnavailable", "ContentJumpstartReplicaLagging"
MAX_LAG_S = 3          # DB_REPLICA_MAX_LAG_S of the service: past it the replica is bypassed (available 0)


def replica_rules() -> dict[str, dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    (group,) = [g for g in groups if g["name"] == GROUP]
    return {rule["alert"]: rule for rule in group["rules"]}


@pytest.fixture(scope="module")
def primary_and_standby():
    """(migrated database URL on a primary of this module's own, its streaming standby):
    the module pauses and stops the standby, so it shares it with no other test."""
    workdir = Path(tempfile.mkdtemp(prefix="cj-alerts-replica-"))
    server = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True).start()
    standby = Standby(server.uri("postgres"), workdir / "standby", run_as=server.system_user)
    try:
        url = asyncio.run(create_database(server.uri("postgres"), "cj_alerts", migrate=True))
        standby.create().start().wait_streaming()
        yield url, standby
    finally:
        standby.destroy()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_replica_rules_watch_a_real_standby(primary_and_standby, tmp_path):
    rules = replica_rules()
    assert set(rules) == {UNAVAILABLE, LAGGING}
    database_url, standby = primary_and_standby
    replica_url = standby.url(database_of(database_url))
    with served(database_url, tmp_path, DATABASE_REPLICA_URL=replica_url,
                DB_REPLICA_MAX_LAG_S=str(MAX_LAG_S)) as service:
        _, _, token = service.user()
        prometheus = start_prometheus(tmp_path, service.port)
        traffic = Traffic(service, token)          # writes every round: the primary's WAL moves on
        try:
            wait_until(lambda: prometheus.api("status/runtimeinfo").get("status") == "success",
                       "prometheus to answer", timeout=30)
            traffic.start()
            assert traffic.first_round.wait(30) and not traffic.errors, traffic.errors

            # All well: each query alone returns this instance's series; nothing holds.
            def series(rule: str) -> list:
                return prometheus.query(split_alert(rules[rule]["expr"])[0])
            wait_until(lambda: series(UNAVAILABLE) and series(LAGGING)
                       and series(UNAVAILABLE)[0]["value"][1] == "1",
                       "the replica series with the replica available", timeout=30)
            for rule in rules.values():
                assert len(prometheus.query(split_alert(rule["expr"])[0])) == 1
                assert prometheus.query(rule["expr"]) == [], f"{rule['alert']} holds on a healthy replica"

            def states() -> dict[str, tuple[str, str]]:
                groups = prometheus.api("rules")["data"]["groups"]
                (group,) = [g for g in groups if g["name"] == GROUP]
                return {r["name"]: (r["state"], r["health"]) for r in group["rules"]}
            wait_until(lambda: states() == {UNAVAILABLE: ("inactive", "ok"), LAGGING: ("inactive", "ok")},
                       "both replica rules evaluated, healthy and inactive", timeout=30)

            # Replay paused under writes: the lag grows past 2 s (LAGGING) and past
            # DB_REPLICA_MAX_LAG_S (the replica is bypassed: UNAVAILABLE).
            standby.pause_replay()
            try:
                wait_until(lambda: states() == {UNAVAILABLE: ("pending", "ok"), LAGGING: ("pending", "ok")},
                           "both replica rules pending while replay is paused", timeout=60)
            finally:
                standby.resume_replay()
            wait_until(lambda: states() == {UNAVAILABLE: ("inactive", "ok"), LAGGING: ("inactive", "ok")},
                       "both rules inactive again once replay resumes", timeout=60)

            # The standby stopped: the replica is down, reads go to the primary.
            standby.stop()
            wait_until(lambda: states()[UNAVAILABLE] == ("pending", "ok"),
                       "the unavailable rule pending while the standby is down", timeout=60)
            assert not traffic.errors, traffic.errors
            assert prometheus.query(f'up{{job="{JOB}"}}')[0]["value"][1] == "1"
        finally:
            traffic.done.set()
            if traffic.is_alive():
                traffic.join(15)
            stop(prometheus.process)
