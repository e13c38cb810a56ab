"""The documented limits of each body or filter field, read from the pydantic schemas'
JSON Schema (the same one the OpenAPI document shows), for tests that walk every field."""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter


@dataclass(frozen=True)
class FieldLimits:
    kind: str                      # int | number | text | text_list | other
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None  # of the text, or of each item of a text list
    max_items: int | None = None
    choices: tuple | None = None


def _limits(schema: dict) -> FieldLimits:
    variants = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    if len(variants) != 1:
        return FieldLimits("other")
    s = variants[0]
    kind = s.get("type")
    if kind in ("integer", "number"):
        return FieldLimits("int" if kind == "integer" else "number", s.get("minimum"), s.get("maximum"))
    if kind == "string" and "format" not in s:
        return FieldLimits("text", max_length=s.get("maxLength"), choices=tuple(s["enum"]) if "enum" in s else None)
    items = s.get("items", {})
    if kind == "array" and items.get("type") == "string" and "enum" not in items:
        return FieldLimits("text_list", max_length=items.get("maxLength"), max_items=s.get("maxItems"))
    return FieldLimits("other")


def fields(schema_type) -> dict[str, FieldLimits]:
    properties = TypeAdapter(schema_type).json_schema()["properties"]
    return {name: _limits(spec) for name, spec in properties.items()}
