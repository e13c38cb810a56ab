"""Probe of the production topology (settings side): what a start-up must refuse at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings

URL_VARIABLES = ("DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_LISTEN_URL", "DATABASE_OWNER_URL",
                 "DATABASE_REPLICA_URL")


def _load(tmp_path: Path, **env: str):
    return load_settings({"VAR_DIR": str(tmp_path), **env})


@pytest.mark.parametrize("variable", URL_VARIABLES)
@pytest.mark.parametrize("raw", [
    "postgresql://app@db.example:54x2/app",            # a typo in the port
    "postgresql://app@db.example:99999/app",           # no such port
    "postgresql://app@[::1/app",                       # an unclosed IPv6 address
    "postgresql://app@db1:5432,db2:abc/app",           # one bad port in a host list
    "postgresql://app@/app?host=/run/postgresql&port=fifty",
])
def test_a_malformed_database_url_stops_start_up_naming_the_variable(tmp_path, variable, raw):
    """asyncpg only parses the URL when it connects: DATABASE_URL's typo ended `serve` with a
    ValueError traceback and exit code 1, and DATABASE_REPLICA_URL's started a service whose
    replica stayed `down` for ever (`ValueError: invalid literal for int()`), reads all on the
    primary, instead of the one line and exit code 2 the README promises for a bad value."""
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, **{variable: raw})
    message = str(caught.value)
    assert message.startswith(variable + ":") and "\n" not in message
    assert "secret" not in message


@pytest.mark.parametrize("raw", [
    "postgresql://app:s3cret@db.example:5433/app",
    "postgres://app@db.example/app",
    "postgresql://app@[::1]:6432/app",
    "postgresql://app@db1:5432,db2:5433/app?target_session_attrs=read-write",
    "postgresql://postgres@/content_jumpstart?host=/tmp/pg&port=5432",
    "postgresql://app@db.example:/app",
])
def test_well_formed_database_urls_still_load(tmp_path, raw):
    assert _load(tmp_path, DATABASE_REPLICA_URL=raw).database_replica_url == raw


def test_the_refusal_never_echoes_a_password(tmp_path):
    """An unencoded `/` in a password ends the host part early: what looks like the port is
    then a piece of the password, which must not reach a log line."""
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, DATABASE_URL="postgresql://app:Xq7/Zk9@db.example/app")
    assert "Xq7" not in str(caught.value) and "Zk9" not in str(caught.value)


def test_a_placeholder_password_in_the_replica_url_is_refused(tmp_path):
    """README: start-up stops on a value starting with change-me, 'also for METRICS_TOKEN and
    any database URL's password'. DATABASE_REPLICA_URL was not among the URLs checked: a
    deployment that copied a placeholder into it started, and its replica stayed down
    (authentication failed) while every read went to the primary."""
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, DATABASE_REPLICA_URL="postgresql://jumpstart_app:change-me-app@replica:5432/jumpstart")
    assert str(caught.value).startswith("DATABASE_REPLICA_URL:")


def test_behind_a_pooler_only_the_listeners_count_against_max_connections():
    from service.observability.advice import capacity_advice
    from service.settings import Settings
    settings = Settings(database_url="postgresql://x/y", workers=64, db_pool_size=20, db_max_overflow=1000)
    capacity = {"max_connections": 100, "reserved": 3}
    assert list(capacity_advice(settings, {"max_connections": 200, "reserved": 3}, pooled=True)) == []  # 128 fit
    (critical,) = capacity_advice(settings, capacity, pooled=True)
    assert critical["severity"] == "critical" and "64 worker(s) x 2 LISTEN connection(s) = 128" in critical["message"]
    uncached = settings.replace(cache_enabled=False, auth_cache_enabled=False, jobs_worker=False)
    assert list(capacity_advice(uncached, {"max_connections": 10, "reserved": 3}, pooled=True)) == []
    assert [a["severity"] for a in capacity_advice(settings, capacity)] == ["critical"]     # direct: as before


def test_the_job_wakeup_listener_counts_too():
    """Each `serve` worker with JOBS_WORKER (the default) holds a second LISTEN connection of
    its own, the job wake-ups (cj-jobs-listener beside cj-cache-listener in
    pg_stat_activity): the check counted one, so max_connections sized to its figure left the
    last worker's job listener without a slot ('too many clients', jobs only polled)."""
    from service.observability.advice import capacity_advice
    from service.settings import Settings
    settings = Settings(database_url="postgresql://x/y", workers=2, db_pool_size=10, db_max_overflow=5)
    (critical,) = capacity_advice(settings, {"max_connections": 36, "reserved": 3})    # 33 usable
    assert critical["severity"] == "critical" and "= 34 at peak" in critical["message"]
    no_jobs = settings.replace(jobs_worker=False)
    assert [a["severity"] for a in capacity_advice(no_jobs, {"max_connections": 36, "reserved": 3})] == ["warning"]
    (pooled,) = capacity_advice(settings, {"max_connections": 6, "reserved": 3}, pooled=True)  # 4 > 3
    assert "= 4" in pooled["message"]
