"""Query strings of the admin health endpoints."""
from __future__ import annotations

from service.cache.response_cache import NAMESPACES, TIERS
from service.schemas.fields import Field

CACHE_TIER = {"tier": Field("text", choices=TIERS)}
CACHE_CLEAR = {**CACHE_TIER, "key_prefix": Field("text", choices=NAMESPACES)}
PROFILING_QUERIES = {
    "min_execution_count": Field("int", minimum=0),
    "min_avg_time_ms": Field("number", minimum=0),
    "only_slow": Field("bool"),
    "limit": Field("int", minimum=1, maximum=1000),
}
SLOW_QUERIES = {
    "limit": Field("int", minimum=1, maximum=100000),
    "since_minutes": Field("number", minimum=0, maximum=525600),
    "very_slow_only": Field("bool"),
}
NONE: dict = {}
