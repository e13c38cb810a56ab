"""Argument shapes the SQL files share."""
from __future__ import annotations


def contains(text: str | None) -> str | None:
    """A case-insensitive 'contains' ILIKE pattern with LIKE's wildcards escaped, or None."""
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
