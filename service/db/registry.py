"""The SQL registry: every query is a file under sql/, loaded by name at start-up.

A query's name is its path below sql/ without the suffix (`posts/get`). Code names
the queries it uses with `query("posts/get")` at import time; `load_registry`
reads every file once and fails start-up when a named query has no readable file,
so a missing file never surfaces as a first-request error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

_declared: dict[str, "Query"] = {}
_loaded: dict[str, "LoadedQuery"] = {}


class RegistryError(RuntimeError):
    """A query the code needs is missing or unreadable."""


class Query:
    """A handle on a named SQL file; its text is bound when the registry loads."""

    __slots__ = ("name", "text", "header")

    def __init__(self, name: str) -> None:
        self.name = name
        self.text: str | None = None
        self.header = ""

    def __repr__(self) -> str:
        return f"Query({self.name!r})"


def query(name: str) -> Query:
    """Declare that the code needs sql/<name>.sql; one shared handle per name."""
    handle = _declared.get(name)
    if handle is None:
        handle = _declared[name] = Query(name)
        if _loaded:
            if name not in _loaded:
                raise RegistryError(f"SQL file missing under sql/: {name}.sql")
            _bind(handle, _loaded[name])
    return handle


def _bind(handle: Query, loaded: "LoadedQuery") -> None:
    handle.text = loaded.text
    handle.header = loaded.header


@dataclass(frozen=True)
class LoadedQuery:
    name: str
    text: str
    header: str


_HEADER = re.compile(r"\A((?:\s*--[^\n]*\n)+)")


def _read(path: Path, name: str) -> LoadedQuery:
    text = path.read_text(encoding="utf-8")
    match = _HEADER.match(text)
    header = "\n".join(line.strip()[2:].strip() for line in match.group(1).splitlines() if line.strip()) if match else ""
    return LoadedQuery(name=name, text=text.strip().rstrip(";"), header=header)


def load_registry(sql_dir: Path = SQL_DIR) -> dict[str, LoadedQuery]:
    """Load every query file (migrations excluded) and bind every declared Query."""
    loaded: dict[str, LoadedQuery] = {}
    for path in sorted(sql_dir.rglob("*.sql")):
        relative = path.relative_to(sql_dir)
        if relative.parts[0] == "migrations":
            continue
        name = relative.with_suffix("").as_posix()
        try:
            loaded[name] = _read(path, name)
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"cannot read SQL file {path}: {exc}") from exc
    missing = sorted(name for name in _declared if name not in loaded)
    if missing:
        raise RegistryError("SQL files missing under sql/: " + ", ".join(f"{m}.sql" for m in missing))
    for name, handle in _declared.items():
        _bind(handle, loaded[name])
    _loaded.clear()
    _loaded.update(loaded)
    return loaded
