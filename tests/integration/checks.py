"""Small assertions shared by the resource tests."""
from __future__ import annotations

from datetime import datetime


def aware_datetime(value: str) -> datetime:
    """An ISO 8601 timestamp that carries its time zone, parsed (docs/API.md section 3)."""
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed
