"""Validation of JSON bodies (422) and query parameters (400) against small field specs.

A spec is a dict of field name -> Field. Unknown names are rejected, so a typo
never passes silently. Ids are opaque: a value that is not an id of ours is
reported as "not found" (404) by the handler, never as a parse error.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from service.errors import InvalidParameter, NotFound, ValidationFailed
from service.jsonutil import dumps

MAX_KEY_LENGTH = 200
# A 'part of the text' search is served by a trigram index, and a trigram needs three
# characters: anything shorter would scan every row the caller may see.
# Unicode categories nobody can see: format (zero-width space, joiners, BOM), control,
# unassigned and private use.
_INVISIBLE = frozenset({"Cf", "Cc", "Cn", "Co", "Cs"})


def normalize_email(text: str) -> str:
    """NFKC (full-width and compatibility forms become their plain letters), trimmed.
    Uniqueness is then case-insensitive in the database (lower(email))."""
    return unicodedata.normalize("NFKC", text).strip()


def _scripts(part: str) -> set[str]:
    """The alphabets the letters of one address part are written in (LATIN, CYRILLIC, ...)."""
    return {unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in part if ch.isalpha()}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Field:
    kind: str                      # text | email | int | number | bool | text_list | int_map | json_list | id
    required: bool = False
    nullable: bool = True
    max_length: int = 10000
    min_length: int = 0
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_items: int = 100
    max_depth: int = 8           # json_list: nesting of arrays and objects, the list itself included
    max_bytes: int = 65536       # json_list: its size as compact JSON


SEARCH = Field("text", min_length=3, max_length=200)
"""A case-insensitive 'contains' search: 3 to 200 characters (docs/API.md section 4)."""


def _fail(field: str, message: str):
    raise ValidationFailed(f"{field}: {message}", field=field)


def _check_text(name: str, value: Any, spec: Field) -> str:
    if not isinstance(value, str):
        _fail(name, "must be a string")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: reject it here rather than fail in the driver.
        _fail(name, "must not contain NUL characters")
    # A blank value is empty; otherwise the length counts every character (a password
    # with leading spaces is not shorter than it looks).
    if spec.min_length and not value.strip():
        _fail(name, "must not be empty")
    if len(value) < spec.min_length:
        _fail(name, f"must be at least {spec.min_length} characters")
    if len(value) > spec.max_length:
        _fail(name, f"must be at most {spec.max_length} characters")
    if spec.choices is not None and value not in spec.choices:
        _fail(name, "must be one of " + ", ".join(spec.choices))
    return value


def _check_number(name: str, value: Any, spec: Field, integer: bool) -> int | float:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        _fail(name, "must be a whole number" if integer else "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        _fail(name, "must be a finite number")
    if spec.minimum is not None and value < spec.minimum:
        _fail(name, f"must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        _fail(name, f"must be at most {spec.maximum:g}")
    return value


def _check_value(name: str, value: Any, spec: Field) -> Any:
    kind = spec.kind
    if kind in ("text", "id"):
        return _check_text(name, value, spec)
    if kind == "email":
        text = normalize_email(_check_text(name, value, spec))
        if any(unicodedata.category(ch) in _INVISIBLE for ch in text):
            _fail(name, "must not contain invisible or control characters")
        if not _EMAIL.match(text):
            _fail(name, "must be an email address")
        if any(len(_scripts(part)) > 1 for part in re.split(r"[@.]", text)):
            _fail(name, "must not mix alphabets within one part (look-alike addresses are refused)")
        return text
    if kind in ("int", "number"):
        return _check_number(name, value, spec, integer=kind == "int")
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(name, "must be true or false")
        return value
    if kind == "text_list":
        if not isinstance(value, list):
            _fail(name, "must be a list of strings")
        if len(value) > spec.max_items:
            _fail(name, f"must have at most {spec.max_items} items")
        item_spec = Field("text", max_length=spec.max_length, choices=spec.choices)
        return [_check_text(f"{name}[{i}]", item, item_spec) for i, item in enumerate(value)]
    if kind == "int_map":
        if not isinstance(value, dict):
            _fail(name, "must be an object of whole numbers")
        if len(value) > spec.max_items:
            _fail(name, f"must have at most {spec.max_items} entries")
        item_spec = Field("int", minimum=0, maximum=1_000_000)
        if any("\x00" in k for k in value):
            _fail(name, "keys must not contain NUL characters")
        too_long = next((k for k in value if len(k) > MAX_KEY_LENGTH), None)
        if too_long is not None:
            # Refused, never cut: two cut keys could merge into one.
            _fail(name, f"keys must be at most {MAX_KEY_LENGTH} characters")
        return {k: _check_number(f"{name}.{k}", v, item_spec, integer=True) for k, v in value.items()}
    if kind == "json_list":
        if not isinstance(value, list):
            _fail(name, "must be a list")
        if len(value) > spec.max_items:
            _fail(name, f"must have at most {spec.max_items} items")
        depth, holds_nul = _shape(value, spec.max_depth)
        if depth > spec.max_depth:
            _fail(name, f"must not nest deeper than {spec.max_depth} levels")
        if holds_nul:
            # jsonb refuses \u0000 in any string.
            _fail(name, "must not contain NUL characters")
        if len(dumps(value)) > spec.max_bytes:
            _fail(name, f"must be at most {spec.max_bytes} bytes as JSON")
        return value
    raise AssertionError(f"unknown field kind {kind}")


def _shape(value: Any, limit: int) -> tuple[int, bool]:
    """(nesting depth, whether any string holds NUL) of a JSON value, without recursion;
    the walk stops once the depth passes `limit`."""
    depth, holds_nul = 0, False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, str):
            holds_nul = holds_nul or "\x00" in item
        elif isinstance(item, (list, dict)):
            depth = max(depth, level)
            if depth > limit:
                return depth, holds_nul
            children = item if isinstance(item, list) else [*item.keys(), *item.values()]
            pending.extend((child, level + 1) for child in children)
    return depth, holds_nul


def validate_body(body: Any, schema: Mapping[str, Field], *, partial: bool = False) -> dict[str, Any]:
    """Clean a JSON object against a schema; partial=True for PATCH (nothing required)."""
    if not isinstance(body, dict):
        raise ValidationFailed("request body must be a JSON object")
    # min, not sorted: a body of a million keys costs one pass, not a sort.
    unknown = min((name for name in body if name not in schema), default=None)
    if unknown is not None:
        raise ValidationFailed(f"unknown field: {unknown}", field=unknown)
    cleaned: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in body:
            if spec.required and not partial:
                _fail(name, "is required")
            continue
        value = body[name]
        if value is None:
            if spec.required or not spec.nullable:
                _fail(name, "must not be null")
            cleaned[name] = None
            continue
        cleaned[name] = _check_value(name, value, spec)
    if partial and not cleaned:
        raise ValidationFailed("the body names no field to change")
    return cleaned


def parse_id(raw: Any, what: str) -> UUID:
    """An id from a path, filter or body; anything that is not one of ours is 404."""
    if isinstance(raw, str):
        try:
            return UUID(raw)
        except ValueError:
            pass
    raise NotFound(f"{what} not found")


# Query parameters ----------------------------------------------------------------

def _param_fail(name: str, message: str):
    raise InvalidParameter(f"{name} {message}", field=name)


# Plain ASCII digits only: int() and float() would also take " 7", "1_000", "1e3" and
# non-ASCII digits, none of which a query string should mean.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}")
_DECIMAL = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


def parse_whole_number(raw: str, name: str) -> int:
    """A whole-number query parameter, strictly; 400 naming it otherwise."""
    if not _WHOLE_NUMBER.fullmatch(raw):
        _param_fail(name, f"must be a whole number, got {raw[:40]!r}")
    return int(raw)


def parse_query(params: Mapping[str, str], spec: Mapping[str, Field], *, also_allowed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Typed filter values from the query string; unknown or repeated names are 400."""
    values: dict[str, Any] = {}
    seen: set[str] = set()
    # items(), not keys(): a MultiDict's keys() view lists a repeated name once.
    for name, _ in params.items():
        if name in seen:
            _param_fail(name, "is given more than once")
        seen.add(name)
        if name not in spec and name not in also_allowed:
            raise InvalidParameter(f"unknown query parameter: {name}", field=name)
    for name, field in spec.items():
        if name not in params:
            continue
        raw = params[name]
        if field.kind == "bool":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0"):
                _param_fail(name, "must be true or false")
            values[name] = lowered in ("true", "1")
        elif field.kind in ("int", "number"):
            if field.kind == "int":
                number = parse_whole_number(raw, name)
            elif _DECIMAL.fullmatch(raw):
                number = float(raw)
            else:
                _param_fail(name, f"must be a number, got {raw[:40]!r}")
            if field.minimum is not None and number < field.minimum:
                _param_fail(name, f"must be at least {field.minimum:g}")
            if field.maximum is not None and number > field.maximum:
                _param_fail(name, f"must be at most {field.maximum:g}")
            values[name] = number
        elif field.kind == "id":
            values[name] = parse_id(raw, name.removesuffix("_id"))
        else:
            if "\x00" in raw:
                _param_fail(name, "must not contain NUL characters")
            if len(raw) > field.max_length:
                _param_fail(name, f"must be at most {field.max_length} characters")
            if field.min_length and not raw.strip():
                _param_fail(name, "must not be empty")
            if len(raw.strip()) < field.min_length:
                _param_fail(name, f"must be at least {field.min_length} characters")
            if field.choices is not None and raw not in field.choices:
                _param_fail(name, "must be one of " + ", ".join(field.choices))
            values[name] = raw
    return values
