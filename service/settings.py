"""One frozen settings object, read from the environment and validated once.

Every variable of docs/API.md section 2 lives here. A bad value raises SettingsError
naming the variable; run.py turns that into one line on stderr and exit code 2.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def available_cpus(most: int) -> int:
    """The CPUs this process may run on, at most `most`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(most, cpus))


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # The secrets (keys, tokens, URLs that may carry passwords) are left out of repr(): a
    # settings object in a log line or a traceback's locals would print them.
    database_url: str | None = dataclasses.field(default=None, repr=False)
    # A direct (session) connection for what PgBouncer's transaction mode cannot carry:
    # migrations, advisory locks, LISTEN and job wake-ups. Unset: DATABASE_URL.
    database_direct_url: str | None = dataclasses.field(default=None, repr=False)
    # Older name for the LISTEN connection alone; DATABASE_DIRECT_URL covers it.
    database_listen_url: str | None = dataclasses.field(default=None, repr=False)
    # A streaming replica for list and detail reads (service/db/routing.py); unset: none.
    database_replica_url: str | None = dataclasses.field(default=None, repr=False)
    # A replica further behind the primary than this (seconds) is bypassed.
    db_replica_max_lag_s: float = 5.0
    # The role that owns the schema: migrations, the grants to the serving role, seed.
    # Unset: the direct URL (one role does both). README "Database roles".
    database_owner_url: str | None = dataclasses.field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    secret_key: str = dataclasses.field(default="", repr=False)
    var_dir: Path = Path("var")

    db_pool_size: int = 20
    db_max_overflow: int = 40
    db_pool_recycle: int = 3600
    db_pool_pre_ping: bool = True
    db_pool_timeout: float = 30.0
    db_echo_pool: bool = False
    db_statement_timeout_ms: int = 30000
    # A request's headers, and its body, must arrive within these (408 and a closed connection).
    request_header_timeout_s: float = 10.0
    request_body_timeout_s: float = 30.0
    # An answer the client stops accepting (not one byte for this long) is cut: connection aborted.
    response_send_timeout_s: float = 30.0
    # Open connections one client address (IPv6: its /64) may hold in one process; one more
    # is answered 503 and closed at once. 0: no cap (behind a proxy every client shares its address).
    max_connections_per_address: int = 256
    # Database sessions one user's requests may hold at once (a fair share of the pool).
    db_user_concurrency: int = 8
    # asyncpg's prepared-statement cache per connection; 0 behind PgBouncer (transaction mode).
    db_statement_cache_size: int = 100
    db_leak_threshold_s: float = 10.0
    db_idle_timeout_s: float = 300.0

    cache_enabled: bool = True
    cache_short_ttl: int = 300
    cache_medium_ttl: int = 600
    cache_long_ttl: int = 3600
    cache_max_size: int = 100
    # Bytes all tiers of one process's cache may hold together (bodies, keys, bookkeeping).
    cache_max_bytes: int = 64 * 1024 * 1024
    # Token -> session lookups cached while the invalidation feed is up, whatever
    # CACHE_ENABLED says (which is about responses): README "Cache".
    auth_cache_enabled: bool = True

    offset_threshold: int = 100
    default_page_size: int = 20
    max_page_size: int = 100
    count_exact_limit: int = 10000
    # A list without a text filter is counted only when the planner's cost for the
    # capped count is at most this (an index-only range of ~10,000 rows costs ~500-1,000;
    # a walk testing a filter on every heap row 4,000-50,000): README "Pagination".
    count_exact_max_cost: float = 2500.0
    # Lists filtered by a text search (search, template_name) count exactly up to this
    # many rows only: each counted row is an ILIKE test (README "Pagination").
    search_count_exact_limit: int = 200
    # A numbered page of a list filtered by search or template_name starts after at most
    # this many rows ((page - 1) x page_size); deeper is 400 invalid_parameter (page), and
    # cursors go on without limit. It bounds the walk that finds a deep page's first row
    # (Paginator._text_numbered_page, README "Pagination").
    search_max_page_offset: int = 2000

    profiling_enabled: bool = True
    slow_query_threshold_ms: float = 100.0
    very_slow_query_threshold_ms: float = 500.0
    max_slow_queries: int = 100
    n_plus_one_threshold: int = 5

    metrics_token: str | None = dataclasses.field(default=None, repr=False)
    token_ttl_hours: int = 168
    log_level: str = "INFO"
    # The event loop of `run.py serve`, `run.py worker` and the bench's ceilings:
    # uvloop | asyncio (service/http/loops.py; docs/performance.md has the measurement).
    event_loop: str = "uvloop"

    # Background jobs (issue 10, docs/API.md section 8)
    jobs_worker: bool = True
    jobs_concurrency: int = 2
    jobs_max_attempts: int = 5
    jobs_rescue_after_s: float = 30.0
    jobs_retention_hours: int = 168
    jobs_maintenance_interval_s: float = 3600.0
    jobs_poll_interval_s: float = 5.0
    jobs_backoff_base_s: float = 2.0
    jobs_backoff_max_s: float = 600.0
    jobs_export_batch_rows: int = 1000
    # Jobs one user may have queued or running at once; one more answers 429 with
    # Retry-After (service/jobs/quota.py). Jobs the service enqueues itself are not refused.
    jobs_max_active_per_user: int = 100
    # Bytes of finished job results one user may keep (until JOBS_RETENTION_HOURS deletes
    # them); 0: no bound. Enqueues over it answer 429; an export that would pass it fails.
    jobs_max_result_bytes_per_user: int = 1024 * 1024 * 1024
    smtp_url: str | None = dataclasses.field(default=None, repr=False)
    smtp_from: str = "Content Jumpstart <noreply@localhost>"

    # Login throttling (auth/throttle.py): this many failed logins per email, or per
    # client address, within the window answer 429 until the oldest one leaves it.
    login_max_failures: int = 10
    login_window_s: int = 300
    # Registration (api/auth.py): this many attempts from one client address within the
    # window; one more answers 429 until the oldest leaves it.
    register_max_per_address: int = 20
    register_window_s: int = 3600
    # Password hashing (auth/passwords.py): a pool of its own, per process. At most this
    # many hashes run at once, this many more wait, and one client address has at most
    # this many running or waiting; beyond: 503 busy / 429, at once, unhashed.
    password_hash_threads: int = dataclasses.field(default_factory=lambda: available_cpus(8))
    password_hash_queue: int = 32
    password_hash_per_address: int = 4

    # One line per request on logger service.access (http/access_log.py); the format of
    # every log line: text, or one JSON object per line (observability/logs.py).
    access_log: bool = True
    log_format: str = "text"

    @property
    def pool_max_size(self) -> int:
        return self.db_pool_size + self.db_max_overflow

    @property
    def direct_url(self) -> str | None:
        """A session connection (never through PgBouncer in transaction mode)."""
        return self.database_direct_url or self.database_url

    @property
    def owner_url(self) -> str | None:
        """The schema owner's session connection (migrations, grants, bulk loads)."""
        return self.database_owner_url or self.direct_url

    @property
    def invalidation_feed(self) -> bool:
        """Does a process LISTEN for cache invalidations? Whenever it caches anything:
        responses (CACHE_ENABLED) or token lookups (AUTH_CACHE_ENABLED)."""
        return self.cache_enabled or self.auth_cache_enabled

    @property
    def listen_url(self) -> str | None:
        """Where the cache's LISTEN connects: DATABASE_LISTEN_URL, else the direct URL."""
        return self.database_listen_url or self.direct_url

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


# A whole number without a bound of its own stays within what a JSON reader holds exactly
# (2^53 - 1, as `page`): the admin health GETs report these settings, and one past 64 bits
# (CACHE_SHORT_TTL=100000000000000000000, DB_POOL_RECYCLE, ...) was accepted at start-up and
# then made /api/health/full, /database and /cache answer 500 ("Integer exceeds 64-bit range").
WHOLE_NUMBER_MAX = 2**53 - 1


def _int(minimum: int | None = None, maximum: int = WHOLE_NUMBER_MAX) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise ValueError(f"must be at most {maximum}, got {value}")
        return value
    return parse


def _float(minimum: float = 0.0, maximum: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        # Bounds as the README writes them: `:g` printed one year of seconds as 3.1536e+07.
        if not math.isfinite(value) or value < minimum:
            raise ValueError(f"must be a number of at least {minimum:.15g}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum:.15g}, got {raw!r}")
        return value
    return parse


# The job settings below become PostgreSQL intervals subtracted from or added to the clock
# (sql/jobs/prune.sql, rescue.sql, fail.sql): past these bounds the timestamp or interval
# is out of range, and every maintenance job, or every rescue (and with it the maintenance
# scheduled after it), failed for ever. A year of seconds, a century of hours.
JOB_SECONDS_MAX = 365 * 86400.0
JOB_HOURS_MAX = 100 * 365 * 24
# A token's expiry is read back as a Python datetime, which ends at the year 9999: a
# lifetime reaching past it made every login answer 500. Ten years is plenty.
TOKEN_HOURS_MAX = 10 * 365 * 24
# PostgreSQL's statement_timeout is an int4 of milliseconds (about 24.8 days): a larger
# value made every connection fail at start with "invalid value for parameter".
STATEMENT_TIMEOUT_MS_MAX = 2**31 - 1
# A count cap goes to PostgreSQL plus one (LIMIT cap + 1, a bigint parameter): past it every
# list answered 422 "out of range", blaming the caller for a setting. Counting two billion
# rows exactly is never cheap, so the bound is an int4's, well inside.
COUNT_LIMIT_MAX = 2**31 - 2


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


# What a request's bearer token may be (auth/tokens.py checks every Authorization header
# against the same shape): a METRICS_TOKEN of any other shape could never be presented,
# and /metrics and the scraper routes would answer 401 for ever.
_BEARER_SHAPE = re.compile(r"[\x21-\x7e]{1,512}")


def _bearer_secret(raw: str) -> str:
    value = _text(raw)
    if not _BEARER_SHAPE.fullmatch(value):
        raise ValueError("must be 1 to 512 printable ASCII characters without spaces (what a bearer token "
                         "can carry)")
    return value


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URI")
    # asyncpg parses the rest only when it connects: a typo in a port stopped `serve` with a
    # traceback (DATABASE_URL), or left the replica down for good (DATABASE_REPLICA_URL).
    # The same checks as its parser, never echoing the URL (it may carry a password).
    try:
        parts = urlsplit(value)
        query = parse_qs(parts.query, strict_parsing=True) if parts.query else {}
    except ValueError:
        raise ValueError("not a valid URI (an unclosed [IPv6 address], or a query parameter without "
                         "name=value)") from None
    hosts = parts.netloc.rpartition("@")[2]
    ports = [_host_port(spec) for spec in hosts.split(",")] if hosts else []
    for listed in query.get("port", ()):
        ports.extend(listed.split(","))
    for port in ports:
        if port and not (port.isdigit() and int(port) <= 65535):
            raise ValueError("a port must be a number from 0 to 65535 (percent-encode any /, @ or : "
                             "in the user name or password)")
    return value


def _host_port(spec: str) -> str:
    """The port of one `host[:port]` or `[v6addr][:port]` of a URI's host list ('' when none)."""
    if spec.startswith("["):
        address, bracket, rest = spec[1:].partition("]")
        if not bracket or not address or (rest and not rest.startswith(":")):
            raise ValueError("an IPv6 address must be written [address] or [address]:port")
        return rest[1:]
    return spec.partition(":")[2]


def _log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("text", "json"):
        raise ValueError(f"must be text or json, got {raw!r}")
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return value


def _event_loop(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("uvloop", "asyncio"):
        raise ValueError(f"must be uvloop or asyncio, got {raw!r}")
    return value


def _smtp_url(raw: str) -> str:
    """smtp://[user:password@]host[:port] (port 25 by default), or smtps:// (TLS, port 465)."""
    value = raw.strip()
    parts = urlsplit(value)
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"bad port in {raw!r}") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"must be smtp://host:port or smtps://host:port, got {raw!r}")
    return value


# variable -> (field, parser). The table is the documentation's order.
_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "DATABASE_URL": ("database_url", _database_url),
    "DATABASE_DIRECT_URL": ("database_direct_url", _database_url),
    "DATABASE_LISTEN_URL": ("database_listen_url", _database_url),
    "DATABASE_REPLICA_URL": ("database_replica_url", _database_url),
    "DB_REPLICA_MAX_LAG_S": ("db_replica_max_lag_s", _float(0.1)),
    "DATABASE_OWNER_URL": ("database_owner_url", _database_url),
    "HOST": ("host", _text),
    "PORT": ("port", _int(0, 65535)),
    "WORKERS": ("workers", _int(1, 64)),
    "SECRET_KEY": ("secret_key", _text),
    "VAR_DIR": ("var_dir", lambda raw: Path(_text(raw))),
    "DB_POOL_SIZE": ("db_pool_size", _int(1, 1000)),
    "DB_MAX_OVERFLOW": ("db_max_overflow", _int(0, 1000)),
    "DB_POOL_RECYCLE": ("db_pool_recycle", _int(1)),
    "DB_POOL_PRE_PING": ("db_pool_pre_ping", _bool),
    "DB_POOL_TIMEOUT": ("db_pool_timeout", _float(0.001)),
    "DB_ECHO_POOL": ("db_echo_pool", _bool),
    "DB_USER_CONCURRENCY": ("db_user_concurrency", _int(1)),
    "REQUEST_HEADER_TIMEOUT_S": ("request_header_timeout_s", _float(0.001)),
    "REQUEST_BODY_TIMEOUT_S": ("request_body_timeout_s", _float(0.001)),
    "RESPONSE_SEND_TIMEOUT_S": ("response_send_timeout_s", _float(0.001)),
    "MAX_CONNECTIONS_PER_ADDRESS": ("max_connections_per_address", _int(0, 1_000_000)),
    "DB_STATEMENT_TIMEOUT_MS": ("db_statement_timeout_ms", _int(0, STATEMENT_TIMEOUT_MS_MAX)),
    "DB_STATEMENT_CACHE_SIZE": ("db_statement_cache_size", _int(0, 100000)),
    "DB_LEAK_THRESHOLD_S": ("db_leak_threshold_s", _float(0.001)),
    "DB_IDLE_TIMEOUT_S": ("db_idle_timeout_s", _float(0.0)),
    "CACHE_ENABLED": ("cache_enabled", _bool),
    "CACHE_SHORT_TTL": ("cache_short_ttl", _int(1)),
    "CACHE_MEDIUM_TTL": ("cache_medium_ttl", _int(1)),
    "CACHE_LONG_TTL": ("cache_long_ttl", _int(1)),
    "CACHE_MAX_SIZE": ("cache_max_size", _int(1)),
    "CACHE_MAX_BYTES": ("cache_max_bytes", _int(65536)),
    "AUTH_CACHE_ENABLED": ("auth_cache_enabled", _bool),
    "OFFSET_THRESHOLD": ("offset_threshold", _int(0)),
    "DEFAULT_PAGE_SIZE": ("default_page_size", _int(1)),
    "MAX_PAGE_SIZE": ("max_page_size", _int(1, 10000)),
    "COUNT_EXACT_LIMIT": ("count_exact_limit", _int(1, COUNT_LIMIT_MAX)),
    "COUNT_EXACT_MAX_COST": ("count_exact_max_cost", _float(0.0)),
    "SEARCH_COUNT_EXACT_LIMIT": ("search_count_exact_limit", _int(1, COUNT_LIMIT_MAX)),
    "SEARCH_MAX_PAGE_OFFSET": ("search_max_page_offset", _int(0, 1_000_000_000)),
    "PROFILING_ENABLED": ("profiling_enabled", _bool),
    "SLOW_QUERY_THRESHOLD_MS": ("slow_query_threshold_ms", _float(0.0)),
    "VERY_SLOW_QUERY_THRESHOLD_MS": ("very_slow_query_threshold_ms", _float(0.0)),
    "MAX_SLOW_QUERIES": ("max_slow_queries", _int(1, 100000)),
    "N_PLUS_ONE_THRESHOLD": ("n_plus_one_threshold", _int(2)),
    "METRICS_TOKEN": ("metrics_token", _bearer_secret),
    "TOKEN_TTL_HOURS": ("token_ttl_hours", _int(1, TOKEN_HOURS_MAX)),
    "LOG_LEVEL": ("log_level", _log_level),
    "EVENT_LOOP": ("event_loop", _event_loop),
    "JOBS_WORKER": ("jobs_worker", _bool),
    "JOBS_CONCURRENCY": ("jobs_concurrency", _int(1, 64)),
    "JOBS_MAX_ATTEMPTS": ("jobs_max_attempts", _int(1, 100)),
    "JOBS_RESCUE_AFTER_S": ("jobs_rescue_after_s", _float(1.0, JOB_SECONDS_MAX)),
    "JOBS_RETENTION_HOURS": ("jobs_retention_hours", _int(1, JOB_HOURS_MAX)),
    "JOBS_MAINTENANCE_INTERVAL_S": ("jobs_maintenance_interval_s", _float(1.0, JOB_SECONDS_MAX)),
    "JOBS_POLL_INTERVAL_S": ("jobs_poll_interval_s", _float(0.1, JOB_SECONDS_MAX)),
    "JOBS_BACKOFF_BASE_S": ("jobs_backoff_base_s", _float(0.01, JOB_SECONDS_MAX)),
    "JOBS_BACKOFF_MAX_S": ("jobs_backoff_max_s", _float(0.01, JOB_SECONDS_MAX)),
    "JOBS_EXPORT_BATCH_ROWS": ("jobs_export_batch_rows", _int(1, 100000)),
    "JOBS_MAX_ACTIVE_PER_USER": ("jobs_max_active_per_user", _int(1, 1000000)),
    "JOBS_MAX_RESULT_BYTES_PER_USER": ("jobs_max_result_bytes_per_user", _int(0, 1 << 50)),
    "SMTP_URL": ("smtp_url", _smtp_url),
    "SMTP_FROM": ("smtp_from", _text),

    "LOGIN_MAX_FAILURES": ("login_max_failures", _int(1, 1000000)),
    "LOGIN_WINDOW_S": ("login_window_s", _int(1, 86400 * 7)),
    "REGISTER_MAX_PER_ADDRESS": ("register_max_per_address", _int(1, 1000000)),
    "REGISTER_WINDOW_S": ("register_window_s", _int(1, 86400 * 7)),
    "PASSWORD_HASH_THREADS": ("password_hash_threads", _int(1, 256)),
    "PASSWORD_HASH_QUEUE": ("password_hash_queue", _int(0, 100000)),
    "PASSWORD_HASH_PER_ADDRESS": ("password_hash_per_address", _int(1, 100000)),
    "ACCESS_LOG": ("access_log", _bool),
    "LOG_FORMAT": ("log_format", _log_format),
}


def parser_of(variable: str) -> Callable[[str], object]:
    """The parser (and bounds) of one variable, for a command-line option that sets it."""
    return _VARIABLES[variable][1]


def load_settings(environ: Mapping[str, str] | None = None, *, create_secret: bool = True) -> Settings:
    """Read and validate every variable; raise SettingsError naming the first bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for variable, (field, parse) in _VARIABLES.items():
        raw = env.get(variable)
        if not raw:
            continue
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{variable}: {exc}") from None
    _refuse_placeholders(env)
    settings = Settings(**values)
    if settings.very_slow_query_threshold_ms < settings.slow_query_threshold_ms:
        raise SettingsError("VERY_SLOW_QUERY_THRESHOLD_MS: must not be below SLOW_QUERY_THRESHOLD_MS")
    if settings.default_page_size > settings.max_page_size:
        raise SettingsError("DEFAULT_PAGE_SIZE: must not exceed MAX_PAGE_SIZE")
    stored = not settings.secret_key and create_secret
    if stored:
        try:
            settings = settings.replace(secret_key=_stored_secret(settings.var_dir))
        except OSError as exc:       # a file in the way, no such mount, no permission: one line, not a traceback
            raise SettingsError(f"VAR_DIR: cannot keep the generated secret in {settings.var_dir / 'secret_key'}: "
                                f"{exc.strerror or exc} (set VAR_DIR to a writable directory, or SECRET_KEY)") from None
    if (stored or settings.secret_key) and len(settings.secret_key.encode()) < MIN_SECRET_BYTES:
        source = "SECRET_KEY" if env.get("SECRET_KEY") else str(settings.var_dir / "secret_key")
        raise SettingsError(f"{source}: the key that signs cursors must be at least {MIN_SECRET_BYTES} bytes "
                            "(python -c 'import secrets; print(secrets.token_urlsafe(48))' makes one)")
    return settings


MIN_SECRET_BYTES = 32
# deploy/env.example's secrets all start with this: a deployment that copied the file
# without filling it in must not start (README "Database roles", deploy/README.md).
PLACEHOLDER_PREFIX = "change-me"
_SECRETS = ("SECRET_KEY", "METRICS_TOKEN")
_URLS = ("DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_LISTEN_URL", "DATABASE_OWNER_URL", "DATABASE_REPLICA_URL")


def _refuse_placeholders(env: Mapping[str, str]) -> None:
    """A secret, or a database URL's password, still equal to a placeholder stops start-up."""
    def placeholder(value: str | None) -> bool:
        return bool(value) and value.strip().lower().startswith(PLACEHOLDER_PREFIX)

    for variable in _SECRETS:
        if placeholder(env.get(variable)):
            raise SettingsError(f"{variable}: still the placeholder from deploy/env.example; set a real secret "
                                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    for variable in _URLS:
        raw = env.get(variable)
        if raw and placeholder(urlsplit(raw.strip()).password):
            raise SettingsError(f"{variable}: the password is still the placeholder from deploy/env.example; "
                                "set the role's real password")


def _stored_secret(var_dir: Path) -> str:
    """The generated SECRET_KEY kept in VAR_DIR/secret_key, so cursors survive restarts."""
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()      # an empty or short file is refused by the caller
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    # Starters racing here (workers, `migrate` runs) must agree on one key, and none may read
    # the file before its key is in it (creating the file itself with O_EXCL and then
    # writing left that window: a concurrent starter read it empty and refused to start).
    # So the key is written whole (and flushed to disk: a crash must not leave the name on
    # an empty file) under a private name, then linked into place: link() refuses an
    # existing target, and whoever loses reads the winner's key.
    key = secrets.token_urlsafe(48) + "\n"
    partial = var_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        _write_synced(partial, key)
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links (vfat, some network mounts): create the
            # target itself, as before; only there can a racing starter read it short.
            try:
                _write_synced(path, key)
            except FileExistsError:
                pass
    finally:
        partial.unlink(missing_ok=True)
    return path.read_text().strip()


def _write_synced(path: Path, text: str) -> None:
    """Create path (0600; FileExistsError if it is there) holding text, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
