"""Settings (docs/API.md section 2): documented defaults, parsing, one clear error naming the variable."""
from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, load_settings

# docs/API.md section 2, variable -> documented default.
DOCUMENTED_DEFAULTS = {
    "database_url": None, "host": "127.0.0.1", "port": 8080, "workers": 1,
    "db_pool_size": 20, "db_max_overflow": 40, "db_pool_recycle": 3600, "db_pool_pre_ping": True,
    "db_pool_timeout": 30, "db_echo_pool": False, "db_statement_timeout_ms": 30000,
    "cache_enabled": True, "cache_short_ttl": 300, "cache_medium_ttl": 600, "cache_long_ttl": 3600,
    "cache_max_size": 100, "auth_cache_enabled": True, "offset_threshold": 100, "default_page_size": 20, "max_page_size": 100,
    "profiling_enabled": True, "slow_query_threshold_ms": 100, "very_slow_query_threshold_ms": 500,
    "max_slow_queries": 100, "n_plus_one_threshold": 5, "metrics_token": None, "token_ttl_hours": 168,
    "login_max_failures": 10, "login_window_s": 300, "access_log": True, "log_format": "text",
    "database_replica_url": None, "db_replica_max_lag_s": 5.0,
}


def _load(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"VAR_DIR": str(tmp_path), **env})


def _error(tmp_path: Path, **env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, **env)
    return str(caught.value)


def test_defaults_match_the_documentation(tmp_path):
    settings = _load(tmp_path)
    assert {k: getattr(settings, k) for k in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS
    assert settings.pool_max_size == 20 + 40
    assert Settings().port == 8080 and Settings().db_pool_size == 20


def test_every_documented_variable_is_read(tmp_path):
    env = {
        "DATABASE_URL": "postgresql://u:p@db.example:5433/app", "HOST": "0.0.0.0", "PORT": "9000", "WORKERS": "3",
        "SECRET_KEY": "s3cret-" + "x" * 32, "DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "0", "DB_POOL_RECYCLE": "60",
        "DB_POOL_PRE_PING": "false", "DB_POOL_TIMEOUT": "2.5", "DB_ECHO_POOL": "true",
        "DB_STATEMENT_TIMEOUT_MS": "1000", "CACHE_ENABLED": "off", "CACHE_SHORT_TTL": "1",
        "CACHE_MEDIUM_TTL": "2", "CACHE_LONG_TTL": "3", "CACHE_MAX_SIZE": "7", "OFFSET_THRESHOLD": "0",
        "DEFAULT_PAGE_SIZE": "10", "MAX_PAGE_SIZE": "50", "PROFILING_ENABLED": "0",
        "SLOW_QUERY_THRESHOLD_MS": "0", "VERY_SLOW_QUERY_THRESHOLD_MS": "0.5", "MAX_SLOW_QUERIES": "9",
        "N_PLUS_ONE_THRESHOLD": "3", "METRICS_TOKEN": "scrape-me", "TOKEN_TTL_HOURS": "1",
    }
    s = _load(tmp_path, **env)
    assert (s.direct_url, s.listen_url) == (env["DATABASE_URL"], env["DATABASE_URL"])
    direct = _load(tmp_path, **env, DATABASE_DIRECT_URL="postgresql://u@db.example:5432/app")
    assert (direct.direct_url, direct.listen_url) == ("postgresql://u@db.example:5432/app",) * 2
    listen = _load(tmp_path, **env, DATABASE_LISTEN_URL="postgresql://u@listen.example/app")
    assert (listen.direct_url, listen.listen_url) == (env["DATABASE_URL"], "postgresql://u@listen.example/app")
    assert (s.database_url, s.host, s.port, s.workers, s.secret_key) == (env["DATABASE_URL"], "0.0.0.0", 9000, 3, env["SECRET_KEY"])
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_recycle, s.db_pool_pre_ping) == (5, 0, 60, False)
    assert (s.db_pool_timeout, s.db_echo_pool, s.db_statement_timeout_ms) == (2.5, True, 1000)
    assert (s.cache_enabled, s.cache_short_ttl, s.cache_medium_ttl, s.cache_long_ttl, s.cache_max_size) == \
        (False, 1, 2, 3, 7)
    assert (s.offset_threshold, s.default_page_size, s.max_page_size) == (0, 10, 50)
    assert (s.profiling_enabled, s.slow_query_threshold_ms, s.very_slow_query_threshold_ms) == (False, 0.0, 0.5)
    assert (s.max_slow_queries, s.n_plus_one_threshold, s.metrics_token, s.token_ttl_hours) == (9, 3, "scrape-me", 1)
    assert s.var_dir == tmp_path
    assert _load(tmp_path, AUTH_CACHE_ENABLED="false").auth_cache_enabled is False
    ops = _load(tmp_path, LOGIN_MAX_FAILURES="5", LOGIN_WINDOW_S="60", ACCESS_LOG="false", LOG_FORMAT="JSON")
    assert (ops.login_max_failures, ops.login_window_s, ops.access_log, ops.log_format) == (5, 60, False, "json")


@pytest.mark.parametrize("raw, expected", [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
                                           ("false", False), ("False", False), ("0", False), ("no", False),
                                           ("off", False), (" true ", True)])
def test_boolean_spellings(tmp_path, raw, expected):
    assert _load(tmp_path, CACHE_ENABLED=raw).cache_enabled is expected


def test_numbers_allow_surrounding_spaces_and_empty_means_default(tmp_path):
    assert _load(tmp_path, DB_POOL_SIZE=" 25 ").db_pool_size == 25
    assert _load(tmp_path, DB_POOL_SIZE="").db_pool_size == 20


@pytest.mark.parametrize("variable, raw", [
    ("DB_POOL_SIZE", "abc"), ("DB_POOL_SIZE", "1.5"), ("DB_POOL_SIZE", "0"), ("DB_POOL_SIZE", "-3"),
    ("DB_MAX_OVERFLOW", "-1"), ("PORT", "70000"), ("PORT", "eighty"), ("WORKERS", "0"),
    ("CACHE_SHORT_TTL", "-5"), ("CACHE_MEDIUM_TTL", "0"), ("CACHE_LONG_TTL", "1h"), ("CACHE_MAX_SIZE", "0"),
    ("DB_POOL_RECYCLE", "-1"), ("DB_STATEMENT_TIMEOUT_MS", "-1"), ("TOKEN_TTL_HOURS", "0"),
    ("MAX_PAGE_SIZE", "0"), ("DEFAULT_PAGE_SIZE", "0"), ("OFFSET_THRESHOLD", "-1"),
    ("N_PLUS_ONE_THRESHOLD", "1"), ("MAX_SLOW_QUERIES", "0"),
    ("DB_POOL_TIMEOUT", "soon"), ("DB_POOL_TIMEOUT", "0"), ("DB_POOL_TIMEOUT", "nan"), ("DB_POOL_TIMEOUT", "inf"),
    ("DB_POOL_TIMEOUT", "-2"),
    ("SLOW_QUERY_THRESHOLD_MS", "-1"), ("VERY_SLOW_QUERY_THRESHOLD_MS", "fast"),
    ("DB_POOL_PRE_PING", "maybe"), ("CACHE_ENABLED", "2"), ("PROFILING_ENABLED", "enabled"), ("DB_ECHO_POOL", "y"),
    ("DATABASE_URL", "mysql://localhost/db"), ("DATABASE_URL", "localhost:5432"),
    ("HOST", "   "), ("SECRET_KEY", "   "), ("METRICS_TOKEN", "  "),
    ("TOKEN_TTL_HOURS", "87601"), ("DB_STATEMENT_TIMEOUT_MS", "2147483648"),
    ("COUNT_EXACT_LIMIT", "2147483647"), ("SEARCH_COUNT_EXACT_LIMIT", "99999999999999999999"),
    ("LOGIN_MAX_FAILURES", "0"), ("LOGIN_WINDOW_S", "0"), ("ACCESS_LOG", "sometimes"), ("LOG_FORMAT", "xml"),
])
def test_a_bad_value_is_one_line_naming_the_variable(tmp_path, variable, raw):
    message = _error(tmp_path, **{variable: raw})
    assert message.startswith(variable + ":") and "\n" not in message


def test_inconsistent_values_are_refused(tmp_path):
    assert _error(tmp_path, SLOW_QUERY_THRESHOLD_MS="200", VERY_SLOW_QUERY_THRESHOLD_MS="100") \
        .startswith("VERY_SLOW_QUERY_THRESHOLD_MS")
    assert _error(tmp_path, DEFAULT_PAGE_SIZE="50", MAX_PAGE_SIZE="20").startswith("DEFAULT_PAGE_SIZE")


def test_secret_key_is_generated_once_into_var_dir(tmp_path):
    first = _load(tmp_path)
    path = tmp_path / "secret_key"
    assert first.secret_key and path.read_text().strip() == first.secret_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _load(tmp_path).secret_key == first.secret_key
    assert _load(tmp_path, SECRET_KEY="given-" + "k" * 32).secret_key == "given-" + "k" * 32
    other = tmp_path / "other"
    assert load_settings({"VAR_DIR": str(other)}).secret_key != first.secret_key


def test_starters_racing_to_create_the_secret_key_agree_and_never_read_it_empty(tmp_path, monkeypatch):
    """Another starter arrives while the first is writing the new key (inside its write):
    both get the same full-length key and nothing but secret_key is left in VAR_DIR.
    Creating the target itself and then writing let the second read it empty."""
    from service import settings as settings_module

    seen: list[str] = []
    real_fdopen = os.fdopen

    def racing_fdopen(fd, *args, **kwargs):
        monkeypatch.setattr(os, "fdopen", real_fdopen)       # one racer is enough
        seen.append(_load(tmp_path).secret_key)
        return real_fdopen(fd, *args, **kwargs)
    monkeypatch.setattr(os, "fdopen", racing_fdopen)
    seen.append(settings_module._stored_secret(tmp_path))
    assert len(seen) == 2 and seen[0] == seen[1]
    assert len(seen[0].encode()) >= settings_module.MIN_SECRET_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_the_secret_key_is_created_without_hard_links(tmp_path, monkeypatch):
    """A file system that refuses link() (vfat, some network mounts) still gets its key."""
    def no_links(*_args, **_kwargs):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    key = _load(tmp_path).secret_key
    assert len(key.encode()) >= 32 and (tmp_path / "secret_key").read_text().strip() == key
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert _load(tmp_path).secret_key == key


def test_create_secret_false_writes_nothing(tmp_path):
    assert _load(tmp_path).secret_key  # the file now exists under tmp_path
    fresh = tmp_path / "fresh"
    settings = load_settings({"VAR_DIR": str(fresh)}, create_secret=False)
    assert settings.secret_key == "" and not fresh.exists()


def test_settings_are_frozen_and_replace_returns_a_copy(tmp_path):
    settings = _load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    changed = settings.replace(port=1)
    assert changed.port == 1 and settings.port == 8080


@pytest.mark.parametrize("given", ["x", "k" * 31, "é" * 15])
def test_a_short_secret_key_is_refused_naming_the_variable(tmp_path, given):
    message = _error(tmp_path, SECRET_KEY=given)
    assert message.startswith("SECRET_KEY:") and "32 bytes" in message


@pytest.mark.parametrize("stored", ["", "\n", "short-key\n"])
def test_an_empty_or_short_stored_secret_is_refused_naming_the_file(tmp_path, stored):
    (tmp_path / "secret_key").write_text(stored)
    message = _error(tmp_path)
    assert message.startswith(str(tmp_path / "secret_key")) and "32 bytes" in message


def test_a_generated_secret_file_is_never_readable_by_others(tmp_path):
    """Created 0600 in one os.open: there is no moment where it exists with wider rights."""
    import os
    old = os.umask(0)                  # even with a permissive umask
    try:
        _load(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_replica_settings(tmp_path):
    s = _load(tmp_path, DATABASE_REPLICA_URL="postgresql://u@replica.example/app", DB_REPLICA_MAX_LAG_S="2.5")
    assert (s.database_replica_url, s.db_replica_max_lag_s) == ("postgresql://u@replica.example/app", 2.5)
    assert _error(tmp_path, DATABASE_REPLICA_URL="mysql://x").startswith("DATABASE_REPLICA_URL: ")
    assert _error(tmp_path, DB_REPLICA_MAX_LAG_S="soon").startswith("DB_REPLICA_MAX_LAG_S: ")
@pytest.mark.parametrize("variable, raw", [
    ("SECRET_KEY", "change-me-secret-key"), ("METRICS_TOKEN", "CHANGE-ME-metrics"),
    ("DATABASE_URL", "postgresql://jumpstart_app:change-me-app@db:5432/jumpstart"),
    ("DATABASE_DIRECT_URL", "postgresql://jumpstart_app:change-me-app@db:5432/jumpstart"),
    ("DATABASE_OWNER_URL", "postgresql://jumpstart_owner:change-me-owner@db:5432/jumpstart"),
])
def test_placeholder_secrets_are_refused_naming_the_variable(tmp_path, variable, raw):
    message = _error(tmp_path, **{variable: raw})
    assert message.startswith(variable + ":") and "placeholder" in message and "\n" not in message
    assert "change-me-app" not in message and "change-me-owner" not in message    # no password echoed


def test_owner_url_defaults_to_the_direct_url(tmp_path):
    url, direct, owner = ("postgresql://app@h/db", "postgresql://app@h2/db", "postgresql://owner@h2/db")
    assert _load(tmp_path, DATABASE_URL=url).owner_url == url
    assert _load(tmp_path, DATABASE_URL=url, DATABASE_DIRECT_URL=direct).owner_url == direct
    assert _load(tmp_path, DATABASE_URL=url, DATABASE_DIRECT_URL=direct, DATABASE_OWNER_URL=owner).owner_url == owner


def test_the_settings_repr_shows_no_secret():
    """The dataclass repr printed the signing key, METRICS_TOKEN and the database and SMTP
    URLs with their passwords: a settings object in a log line or a traceback would too."""
    settings = load_settings({"DATABASE_URL": "postgresql://app:db-pass-1@h/d", "SECRET_KEY": "s" * 40,
                              "METRICS_TOKEN": "metrics-pass-2", "SMTP_URL": "smtp://u:smtp-pass-3@mail:25",
                              "DATABASE_REPLICA_URL": "postgresql://app:db-pass-4@r/d"}, create_secret=False)
    shown = repr(settings)
    assert "port=8080" in shown
    for secret in ("db-pass-1", "s" * 40, "metrics-pass-2", "smtp-pass-3", "db-pass-4"):
        assert secret not in shown, secret
