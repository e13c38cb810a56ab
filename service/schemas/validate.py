"""Validation of JSON bodies (422) and query strings (400) against the schemas, with pydantic.

Every problem is reported (error.errors, at most MAX_ERRORS, docs/API.md section 9);
error.field and error.message name the first. Unknown names are refused, so a typo
never passes silently. Ids are opaque: a value that is not an id of ours is reported
as "not found" (404) by parse_id, never as a parse error.
"""
from __future__ import annotations

import heapq
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, NotRequired, Required
from uuid import UUID

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict, get_type_hints

from service.errors import InvalidParameter, NotFound, ValidationFailed
from service.schemas.types import ID, STRICT, _query_int

MAX_ERRORS = 100
# The most characters of a name the caller chose (an unknown field or parameter, a map's key)
# an error repeats: it was echoed whole in error.field, error.message and error.errors, so a
# 7 MB unknown key made a 21 MB answer. Every name we define, and every map key we take
# (MAX_KEY_LENGTH), is shorter: those are shown whole.
MAX_NAME_SHOWN = 200
_UNDECODED = "\ufffd"     # what yarl makes of percent-encoded bytes that are not UTF-8


@cache
def adapter(schema: type) -> TypeAdapter:
    return TypeAdapter(schema)


@cache
def fields_of(schema: type) -> dict[str, Any]:
    """name -> its annotated type (Required/NotRequired unwrapped)."""
    hints = get_type_hints(schema, include_extras=True)
    return {name: _unwrap(hint) for name, hint in hints.items()}


def _unwrap(hint: Any) -> Any:
    while typing.get_origin(hint) in (Required, NotRequired, typing.Required, typing.NotRequired):
        hint = typing.get_args(hint)[0]
    return hint


@cache
def partial(schema: type) -> type:
    """The PATCH form of a body: the same fields, none required (null still refused where it is)."""
    fields = {name: NotRequired[hint] for name, hint in fields_of(schema).items()}
    name = schema.__name__ if schema.__name__.endswith("Patch") else schema.__name__ + "Patch"
    model = TypedDict(name, fields, total=False)    # type: ignore[operator]
    model.__pydantic_config__ = STRICT
    model.__doc__ = schema.__doc__
    return model


@cache
def id_fields(schema: type) -> frozenset[str]:
    def is_id(hint: Any) -> bool:
        if typing.get_origin(hint) is typing.Annotated:
            return any(meta is ID for meta in hint.__metadata__)
        return any(is_id(arg) for arg in typing.get_args(hint))
    return frozenset(name for name, hint in fields_of(schema).items() if is_id(hint))


# Problems --------------------------------------------------------------------------

def _shown(name: str) -> str:
    return name if len(name) <= MAX_NAME_SHOWN else name[:MAX_NAME_SHOWN] + "…"


def _where(loc: tuple) -> str | None:
    if "[key]" in loc:
        loc = loc[:loc.index("[key]") - 1]      # a bad key of a map: the map is named
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{_shown(part)}" if text else _shown(str(part))
    return text or None


def _bound(value: Any) -> str:
    """A limit as written: 2147483647, 9999999999.99, 100 (never 2.14748e+09)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.15g}"
    return str(value)


def _message(error: dict) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if error.get("input", ...) is None:
        return "must not be null"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return "must be a whole number"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be a string"
    if kind == "list_type":
        return "must be a list"
    if kind in ("dict_type", "model_type"):
        return "must be an object"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {_bound(ctx.get('ge', ctx.get('gt')))}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {_bound(ctx.get('le', ctx.get('lt')))}"
    if kind == "string_too_short":
        if ctx["min_length"] == 1:
            return "must not be empty"
        return f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_long":
        noun = "entries" if ctx.get("field_type") == "Dictionary" else "items"
        return f"must have at most {ctx['max_length']} {noun}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} items"
    if kind == "literal_error":
        return "must be one of " + ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def problems(exc: ValidationError, prefix: str = "") -> list[dict]:
    """[{field, message}] of a pydantic error, in our words."""
    out = []
    for error in exc.errors(include_url=False, include_input=True, include_context=True):
        loc = error["loc"]
        message = _message(error)
        field = _where(loc)
        if error["type"] in ("dict_type", "model_type") and field is None:
            message = "request body must be a JSON object"
        if prefix:
            field = prefix + ("" if field is None else ("" if field.startswith("[") else ".") + field)
        out.append({"field": field, "message": message})
    return out


def _raise(errors: list[dict], error_class: type, extra_total: int = 0, joiner: str = ": ") -> None:
    total = len(errors) + extra_total
    first = errors[0]
    if first["field"] is None:
        message = first["message"]
    elif first["message"].startswith("unknown"):
        message = f"{first['message']}: {first['field']}"
    else:
        message = f"{first['field']}{joiner}{first['message']}"
    if total > 1:
        message += f" (and {total - 1} more problem{'s' if total > 2 else ''}, see errors)"
    raise error_class(message, field=first["field"], errors=errors[:MAX_ERRORS],
                      errors_truncated=total > MAX_ERRORS)


def _unknown(given: Mapping[str, Any], known: Mapping[str, Any]) -> tuple[list[str], int]:
    """The first MAX_ERRORS unknown names in name order, and how many there are: one pass
    (and a bounded heap), so a body of a million keys is not a million errors."""
    unknown = [name for name in given if name not in known]
    return heapq.nsmallest(MAX_ERRORS, unknown), len(unknown)


# Bodies ----------------------------------------------------------------------------

def body_problems(body: Any, schema: type, *, partial_body: bool = False, prefix: str = "") -> tuple[Any, list[dict], int]:
    """(cleaned body or None, problems, how many more unknown names were not listed)."""
    if partial_body:
        schema = partial(schema)
    if not isinstance(body, dict):
        return None, [{"field": prefix or None, "message": "request body must be a JSON object" if not prefix
                       else "must be an object"}], 0
    known = fields_of(schema)
    errors: list[dict] = []
    more = 0
    if any(name not in known for name in body):
        names, count = _unknown(body, known)
        errors = [{"field": _join(prefix, _shown(name)), "message": "unknown field"} for name in names]
        more = count - len(names)
        body = {name: value for name, value in body.items() if name in known}
    try:
        cleaned = adapter(schema).validate_python(body)
    except ValidationError as exc:
        return None, errors + problems(exc, prefix), more
    if partial_body and not body and not errors:
        return None, [{"field": prefix or None, "message": "the body names no field to change"}], 0
    return (None if errors else cleaned), errors, more


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def validate_body(body: Any, schema: type, *, partial: bool = False) -> dict[str, Any]:
    """A JSON object checked against a schema (a TypedDict), only the given fields;
    partial=True for PATCH (nothing required). 422 listing every problem otherwise."""
    cleaned, errors, more = body_problems(body, schema, partial_body=partial)
    if errors:
        _raise(errors, ValidationFailed, more)
    return cleaned


def validate_items(items: list, schema: type) -> list[dict[str, Any]]:
    """Every item of a bulk body; problems of all items are listed as items[i].field."""
    valid, errors, more = [], [], 0
    for index, item in enumerate(items):
        cleaned, item_errors, item_more = body_problems(item, schema, prefix=f"items[{index}]")
        errors.extend(item_errors)
        more += item_more
        valid.append(cleaned)
    if errors:
        _raise(errors, ValidationFailed, more)
    return valid


def parse_id(raw: Any, what: str, field: str | None = None) -> UUID:
    """An id from a path, filter or body; anything that is not one of ours is 404 (naming
    `field`, the filter or body field that holds it, when given)."""
    if isinstance(raw, str):
        try:
            parsed = UUID(raw)
        except ValueError:
            pass
        else:
            # UUID() also reads "{...}", "urn:uuid:...", 32 bare digits and hyphens anywhere:
            # the document says format uuid, the 8-4-4-4-12 form (either case), and only it is ours.
            if str(parsed) == raw.lower():
                return parsed
    if field is not None:
        raise NotFound(f"{field}: {what} not found", field=field)
    raise NotFound(f"{what} not found")


# Query parameters ------------------------------------------------------------------

def parse_whole_number(raw: str, name: str) -> int:
    """A whole-number query parameter, strictly; 400 naming it otherwise."""
    try:
        return _query_int(raw)
    except ValueError as exc:
        raise InvalidParameter(f"{name} {exc}", field=name) from None


def parse_query(params: Mapping[str, str], schema: type, *,
                also_allowed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Typed filter values from the query string; unknown or repeated names are 400, listing
    every problem; an id that is not one of ours is 404."""
    known = fields_of(schema)
    errors: list[dict] = []
    seen: set[str] = set()
    listed: set[str] = set()      # names errors holds already: one problem per name
    given: dict[str, str] = {}
    # items(), not keys(): a MultiDict's keys() view lists a repeated name once.
    for name, value in params.items():
        if name in seen:
            # A set, not a scan of errors: 8 KB of query string holds ~4,000 names, and a
            # scan per repeat held the event loop ~200 ms per request, anonymous ones too.
            if name not in listed:
                listed.add(name)
                errors.append({"field": _shown(name), "message": "is given more than once"})
            continue
        seen.add(name)
        if name in known and _UNDECODED in value and name not in id_fields(schema):
            # yarl decodes a query string's percent-encoded bytes that are not UTF-8 (latin-1's
            # "caf%E9") to U+FFFD: the search ran for "caf\ufffd" and found nothing, silently.
            listed.add(name)
            errors.append({"field": name, "message": "must be UTF-8 text (percent-encoded bytes that "
                                                     "are not UTF-8, or U+FFFD, were sent)"})
        elif name in known:
            given[name] = value
        elif name not in also_allowed:
            listed.add(name)
            errors.append({"field": _shown(name), "message": "unknown query parameter"})
    try:
        values = adapter(schema).validate_python(given)
    except ValidationError as exc:
        errors.extend(problems(exc))
    if errors:
        _raise(errors, InvalidParameter, joiner=" ")
    for name in sorted(id_fields(schema) & values.keys()):
        values[name] = parse_id(values[name], name.removesuffix("_id"), field=name)
    return values
