"""JSON bytes in and out with orjson; database values made JSON-friendly."""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, UUID):       # asyncpg's own UUID type, which orjson does not know
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """UUIDs and timezone-aware datetimes go out as strings (ISO 8601 with offset)."""
    return orjson.dumps(value, default=_default)


loads = orjson.loads
