"""Run bodies and list filters."""
from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from service.schemas.enums import RUN_STATUSES
from service.schemas.types import STRICT, Choice, Id, JsonList, Text

Logs = JsonList(max_items=1000, max_depth=8, max_bytes=256 * 1024)


class RunCreate(TypedDict, total=False):
    """A generation run; every field is optional (an empty object or no body at all)."""
    __pydantic_config__ = STRICT
    is_batch: NotRequired[bool]
    status: NotRequired[Choice(RUN_STATUSES)]
    logs: NotRequired[Logs | None]
    error_message: NotRequired[Text() | None]


class RunPatch(TypedDict, total=False):
    __pydantic_config__ = STRICT
    status: NotRequired[Choice(RUN_STATUSES)]
    error_message: NotRequired[Text() | None]
    logs: NotRequired[Logs | None]


class RunFilters(TypedDict, total=False):
    __pydantic_config__ = STRICT
    project_id: Id


CREATE, PATCH, FILTERS = RunCreate, RunPatch, RunFilters
