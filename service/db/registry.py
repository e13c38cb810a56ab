"""The SQL registry: every query is a file under sql/, read once when this module loads.

A query's name is its path below sql/ without the suffix (`posts/get`). Its header
comment names the positional parameters (`--   $1 owner_id uuid: ...`), and that
header is the one place their order is kept: callers pass keyword arguments and
`Query.bind` lays them out as `$1, $2, ...`. The files keep `$n` so each still
runs in psql with `\\bind ... \\g`.

`query(name)` fails at import time when a file is missing or its header does not
name every `$n` it uses, so such a mistake stops start-up, never a first request.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

_HEADER = re.compile(r"\A((?:\s*--[^\n]*\n)+)")
_HEADER_PARAMETER = re.compile(r"\$(\d+)\s+([a-z_][a-z0-9_]*)")
_PLACEHOLDER = re.compile(r"\$(\d+)")


class RegistryError(RuntimeError):
    """A query the code needs is missing, unreadable, or its header does not name its parameters."""


@dataclass(frozen=True, slots=True)
class Query:
    """One SQL file: its name, text (header included), header and parameter names in $n order."""

    name: str
    text: str
    header: str = ""
    params: tuple[str, ...] = ()

    def bind(self, values: Mapping[str, Any]) -> tuple:
        """The positional arguments for `values` given by parameter name; every name is required."""
        if len(values) != len(self.params):
            self._refuse(values)
        try:
            return tuple([values[name] for name in self.params])
        except KeyError:
            self._refuse(values)
            raise

    def _refuse(self, values: Mapping[str, Any]) -> None:
        missing = [name for name in self.params if name not in values]
        unknown = [name for name in values if name not in self.params]
        raise TypeError(f"{self.name}.sql takes {', '.join(self.params) or 'no parameters'}; "
                        f"missing {missing}, unknown {unknown}")

    def __repr__(self) -> str:
        return f"Query({self.name!r})"


def parse(name: str, text: str) -> Query:
    """A Query from a file's text; its header must name $1..$n, each placeholder the body uses."""
    match = _HEADER.match(text)
    header_lines = match.group(1) if match else ""
    header = "\n".join(line.strip()[2:].strip() for line in header_lines.splitlines() if line.strip())
    named = _HEADER_PARAMETER.findall(header_lines)
    numbers = [int(number) for number, _ in named]
    used = {int(n) for n in _PLACEHOLDER.findall(text[len(header_lines):])}
    if numbers != list(range(1, len(numbers) + 1)) or used - set(numbers):
        raise RegistryError(f"{name}.sql: the header must name $1..$n in order, each as `$n name type` "
                            f"(named {numbers}, used {sorted(used)})")
    return Query(name=name, text=text.strip().rstrip(";"), header=header,
                 params=tuple(param for _, param in named))


def load_registry(sql_dir: Path = SQL_DIR) -> dict[str, Query]:
    """Every query file below sql_dir (migrations excluded), by name."""
    loaded: dict[str, Query] = {}
    for path in sorted(sql_dir.rglob("*.sql")):
        relative = path.relative_to(sql_dir)
        if relative.parts[0] == "migrations":
            continue
        name = relative.with_suffix("").as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"cannot read SQL file {path}: {exc}") from exc
        loaded[name] = parse(name, text)
    return loaded


_REGISTRY = load_registry()


def query(name: str) -> Query:
    """The query in sql/<name>.sql."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"SQL file missing under sql/: {name}.sql") from None
