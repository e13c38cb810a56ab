"""Query strings of the admin health endpoints."""
from __future__ import annotations

from typing_extensions import TypedDict

from service.cache.response_cache import NAMESPACES, TIERS
from service.schemas.types import STRICT, Choice, QueryBool, QueryInt, QueryNumber


class CacheTier(TypedDict, total=False):
    __pydantic_config__ = STRICT
    tier: Choice(TIERS)


class CacheClear(TypedDict, total=False):
    __pydantic_config__ = STRICT
    tier: Choice(TIERS)
    key_prefix: Choice(NAMESPACES)


class ProfilingQueries(TypedDict, total=False):
    __pydantic_config__ = STRICT
    min_execution_count: QueryInt(0)
    min_avg_time_ms: QueryNumber(0)
    only_slow: QueryBool
    limit: QueryInt(1, 1000)


class SlowQueries(TypedDict, total=False):
    __pydantic_config__ = STRICT
    limit: QueryInt(1, 100000)
    since_minutes: QueryNumber(0, 525600)
    very_slow_only: QueryBool


class NoParameters(TypedDict, total=False):
    __pydantic_config__ = STRICT


CACHE_TIER, CACHE_CLEAR, PROFILING_QUERIES, SLOW_QUERIES, NONE = (
    CacheTier, CacheClear, ProfilingQueries, SlowQueries, NoParameters)
