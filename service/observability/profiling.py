"""Query profiling: per-pattern statistics, a slow-query log and per-request N+1 findings.

`Profiler.observe` is a Database observer, called after every execution with the
query, its time and its row count; `Profiler.finish_request` runs when a request
ends and looks at that request's own query counts (RequestContext.query_counts),
so an N+1 is pinned to the endpoint that did it, not guessed from global totals.

A query is identified by its SQL file name and its normalized text: comments
dropped, literals that remain in the text replaced by `?`, whitespace folded
(parameters are already `$n`). Raw parameter values are never seen here: the
observer receives the query, not its arguments.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from service.context import RequestContext, current_request, holder
from service.db.registry import Query
from service.observability.advice import Advice, advice
from service.observability.stats import Timings
from service.settings import Settings

P95_WINDOW = 256               # recent executions per pattern kept for the p95
MAX_PATTERNS = 2000            # beyond this, new patterns are counted as dropped, not stored
MAX_FINDINGS = 500
TOP = 10

# One left-to-right alternation, so `--` inside a string, a quote inside a comment
# or a digit inside a name is never misread: comments, strings, dollar-quoted
# strings, $n parameters, names, numbers.
_TOKENS = re.compile(r"""
      (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>[EeBbXxNn]?'(?:[^']|'')*')
    | (?P<dollar>\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$)
    | (?P<param>\$\d+)
    | (?P<name>"(?:[^"]|"")*"|[A-Za-z_][\w$]*)
    | (?P<number>(?<![\w.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|(?<![\w.])\.\d+(?:[eE][+-]?\d+)?)
    """, re.X | re.S)
_SPACE = re.compile(r"\s+")


def normalize_sql(text: str) -> str:
    """The query's shape: no comments, literals as `?`, `$n` kept, whitespace folded."""
    return _SPACE.sub(" ", _TOKENS.sub(_replace_token, text)).strip().rstrip(";").strip()


def _replace_token(match: re.Match) -> str:
    kind = match.lastgroup
    if kind == "comment":
        return " "
    return "?" if kind in ("string", "dollar", "number") else match.group(0)


def query_hash(name: str, normalized: str) -> str:
    """Stable short id of a pattern: the same file and shape give the same hash in every process."""
    return hashlib.blake2b(f"{name}\n{normalized}".encode(), digest_size=6).hexdigest()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class QueryPattern:
    """Running statistics of one query pattern."""

    __slots__ = ("hash", "name", "text", "timings", "rows", "slow", "very_slow")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.hash = query_hash(name, text)
        self.timings = Timings(P95_WINDOW)
        self.rows = 0
        self.slow = 0
        self.very_slow = 0

    def as_dict(self) -> dict:
        t = self.timings
        return {"query_hash": self.hash, "name": self.name, "query": self.text,
                "execution_count": t.count, "total_time_ms": round(t.total, 3), "avg_time_ms": round(t.avg, 3),
                "min_time_ms": round(t.min, 3), "max_time_ms": round(t.max, 3),
                "p95_time_ms": round(t.percentile(0.95), 3), "rows": self.rows,
                "slow_count": self.slow, "very_slow_count": self.very_slow}


@dataclass(frozen=True, slots=True)
class SlowQuery:
    name: str
    query_hash: str
    query: str          # normalized: never the parameter values
    duration_ms: float
    at: float
    endpoint: str | None
    request_id: str | None
    is_very_slow: bool

    def as_dict(self) -> dict:
        return {"name": self.name, "query_hash": self.query_hash, "query": self.query,
                "duration_ms": round(self.duration_ms, 3), "timestamp": _iso(self.at),
                "endpoint": self.endpoint, "request_id": self.request_id, "is_very_slow": self.is_very_slow}


class NPlusOneFinding:
    """One endpoint running one query pattern N_PLUS_ONE_THRESHOLD+ times within a request."""

    __slots__ = ("endpoint", "name", "occurrences", "max_count", "last_count", "last_request_id", "last_at")

    def __init__(self, endpoint: str, name: str) -> None:
        self.endpoint = endpoint
        self.name = name
        self.occurrences = 0
        self.max_count = 0
        self.last_count = 0
        self.last_request_id = ""
        self.last_at = 0.0

    def as_dict(self, patterns: dict[str, QueryPattern]) -> dict:
        pattern = patterns.get(self.name)
        return {"endpoint": self.endpoint, "name": self.name,
                "query_hash": pattern.hash if pattern else None, "query": pattern.text if pattern else None,
                "count": self.last_count, "max_count": self.max_count, "occurrences": self.occurrences,
                "last_request_id": self.last_request_id, "last_seen": _iso(self.last_at)}


class Profiler:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.profiling_enabled
        self.slow_ms = settings.slow_query_threshold_ms
        self.very_slow_ms = settings.very_slow_query_threshold_ms
        self.n_plus_one_threshold = settings.n_plus_one_threshold
        self.max_slow_queries = settings.max_slow_queries
        self.reset()

    def reset(self) -> None:
        # Query handles are long-lived (one per SQL file): identity lookups keep observe cheap.
        self._by_query: dict[Query, QueryPattern] = {}
        self._by_key: dict[tuple[str, str], QueryPattern] = {}
        self.slow_log: deque[SlowQuery] = deque(maxlen=self.max_slow_queries)
        self.findings: dict[tuple[str, str], NPlusOneFinding] = {}
        self.dropped = 0
        self.since = time.time()

    # -- recording (hot path) ------------------------------------------------------

    def observe(self, query: Query, elapsed_ms: float, rows: int) -> None:
        pattern = self._by_query.get(query)
        if pattern is None:
            pattern = self._pattern_of(query)
            if pattern is None:
                return
        pattern.timings.add(elapsed_ms)
        pattern.rows += rows
        if elapsed_ms >= self.slow_ms:
            self._record_slow(pattern, elapsed_ms)

    def _pattern_of(self, query: Query) -> QueryPattern | None:
        normalized = normalize_sql(query.text or "")
        key = (query.name, normalized)
        pattern = self._by_key.get(key)
        if pattern is None:
            if len(self._by_key) >= MAX_PATTERNS:
                self.dropped += 1
                return None
            pattern = self._by_key[key] = QueryPattern(query.name, normalized)
        if len(self._by_query) < MAX_PATTERNS * 4:
            self._by_query[query] = pattern
        return pattern

    def _record_slow(self, pattern: QueryPattern, elapsed_ms: float) -> None:
        very_slow = elapsed_ms >= self.very_slow_ms
        pattern.slow += 1
        if very_slow:
            pattern.very_slow += 1
        endpoint, request_id = holder(current_request.get())
        self.slow_log.append(SlowQuery(pattern.name, pattern.hash, pattern.text, elapsed_ms, time.time(),
                                       endpoint, request_id, very_slow))

    def finish_request(self, ctx: RequestContext, method: str, status: int, elapsed_s: float) -> None:
        """At the end of a request: any query name run N_PLUS_ONE_THRESHOLD+ times is a finding,
        unless the request reads it page by page by design (RequestContext.paged_queries)."""
        if ctx.queries < self.n_plus_one_threshold:
            return
        for name, count in ctx.query_counts.items():
            if count >= self.n_plus_one_threshold and name not in ctx.paged_queries:
                self._record_n_plus_one(ctx, name, count)

    def _record_n_plus_one(self, ctx: RequestContext, name: str, count: int) -> None:
        key = (ctx.endpoint, name)
        finding = self.findings.get(key)
        if finding is None:
            if len(self.findings) >= MAX_FINDINGS:
                return
            finding = self.findings[key] = NPlusOneFinding(ctx.endpoint, name)
        finding.occurrences += 1
        finding.last_count = count
        finding.max_count = max(finding.max_count, count)
        finding.last_request_id = ctx.request_id
        finding.last_at = time.time()

    # -- reading -------------------------------------------------------------------

    def patterns(self) -> list[QueryPattern]:
        return list(self._by_key.values())

    def summary(self) -> dict:
        patterns = self.patterns()
        total = sum(p.timings.count for p in patterns)
        total_ms = sum(p.timings.total for p in patterns)
        slow = sum(p.slow for p in patterns)
        very_slow = sum(p.very_slow for p in patterns)

        def percent(n: int) -> float:
            return round(100.0 * n / total, 2) if total else 0.0
        return {"enabled": self.enabled, "since": _iso(self.since), "total_queries": total,
                "total_time_ms": round(total_ms, 3), "avg_time_ms": round(total_ms / total, 3) if total else 0.0,
                "slow_queries": slow, "very_slow_queries": very_slow,
                "slow_query_percent": percent(slow), "very_slow_query_percent": percent(very_slow),
                "unique_query_patterns": len(patterns), "n_plus_one_findings": len(self.findings),
                "patterns_dropped": self.dropped}

    def query_stats(self, *, min_execution_count: int = 0, min_avg_time_ms: float = 0.0, only_slow: bool = False,
                    limit: int = 50) -> list[dict]:
        """Per-pattern statistics, most total time first."""
        chosen = [p for p in self.patterns()
                  if p.timings.count >= min_execution_count and p.timings.avg >= min_avg_time_ms
                  and (p.slow > 0 or not only_slow)]
        chosen.sort(key=lambda p: -p.timings.total)
        return [p.as_dict() for p in chosen[:limit]]

    def top_slowest(self, limit: int = TOP) -> list[dict]:
        ranked = sorted(self.patterns(), key=lambda p: -p.timings.avg)
        return [p.as_dict() for p in ranked[:limit]]

    def slow_queries(self, *, limit: int = 50, since_minutes: float | None = None,
                     very_slow_only: bool = False) -> list[dict]:
        """The slow log, newest first."""
        cutoff = time.time() - since_minutes * 60.0 if since_minutes is not None else None
        out = []
        for entry in reversed(self.slow_log):
            if cutoff is not None and entry.at < cutoff:
                break
            if very_slow_only and not entry.is_very_slow:
                continue
            out.append(entry.as_dict())
            if len(out) >= limit:
                break
        return out

    def n_plus_one(self) -> list[dict]:
        by_name = {p.name: p for p in self.patterns()}
        ranked = sorted(self.findings.values(), key=lambda f: (-f.occurrences, -f.max_count))
        return [f.as_dict(by_name) for f in ranked]

    def thresholds(self) -> dict:
        return {"slow_query_ms": self.slow_ms, "very_slow_query_ms": self.very_slow_ms,
                "n_plus_one": self.n_plus_one_threshold, "max_slow_queries": self.max_slow_queries}

    def recommendations(self) -> list[Advice]:
        found = list(_recommendations(self))
        return found or [advice("info", "No query problems found.")]

    def report(self) -> dict:
        return {"summary": self.summary(), "top_slowest_queries": self.top_slowest(),
                "recent_slow_queries": self.slow_queries(limit=TOP), "n_plus_one": self.n_plus_one(),
                "recommendations": self.recommendations(), "thresholds": self.thresholds()}


def _recommendations(profiler: Profiler) -> Iterable[Advice]:
    if not profiler.enabled:
        yield advice("info", "Profiling is off (PROFILING_ENABLED=false): nothing is recorded.")
        return
    patterns = profiler.patterns()
    for finding in sorted(profiler.findings.values(), key=lambda f: -f.occurrences)[:TOP]:
        yield advice("warning", f"N+1: {finding.endpoint} ran {finding.name} up to {finding.max_count} times in one "
                      f"request ({finding.occurrences} requests): fetch the rows in one query (= ANY($1) or a join).")
    for pattern in sorted(patterns, key=lambda p: -p.timings.avg)[:TOP]:
        if pattern.timings.avg >= profiler.slow_ms and pattern.timings.count:
            yield advice("warning", f"{pattern.name} averages {pattern.timings.avg:.1f} ms over "
                      f"{pattern.timings.count} runs: check its plan (EXPLAIN ANALYZE) and the indexes it needs.")
        elif pattern.very_slow:
            yield advice("info", f"{pattern.name} was very slow {pattern.very_slow} times (max "
                      f"{pattern.timings.max:.0f} ms) though fast on average: look for lock waits or cold caches.")
    total_ms = sum(p.timings.total for p in patterns)
    if total_ms > 0 and len(patterns) > 1:
        heaviest = max(patterns, key=lambda p: p.timings.total)
        share = 100.0 * heaviest.timings.total / total_ms
        if share >= 50.0 and heaviest.timings.count >= 100:
            yield advice("info", f"{heaviest.name} takes {share:.0f}% of all database time: "
                      "it is the first candidate for caching or tuning.")
    if profiler.dropped:
        yield advice("warning", f"{profiler.dropped} executions of new query shapes were not tracked "
                      f"(over {MAX_PATTERNS} patterns).")
