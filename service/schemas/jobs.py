"""Job bodies (exports, reports) and list filters."""
from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from service.schemas.enums import EXPORT_FORMATS, JOB_KINDS, JOB_STATUSES, PLATFORMS, POST_STATUSES
from service.schemas.types import STRICT, Choice


class ExportBody(TypedDict, total=False):
    """What to export: the format (csv by default) and optional post filters."""
    __pydantic_config__ = STRICT
    format: NotRequired[Choice(EXPORT_FORMATS)]
    status: NotRequired[Choice(POST_STATUSES) | None]
    platform: NotRequired[Choice(PLATFORMS) | None]


class ReportBody(TypedDict, total=False):
    """A report takes no options: an empty object or no body."""
    __pydantic_config__ = STRICT


class JobFilters(TypedDict, total=False):
    __pydantic_config__ = STRICT
    status: Choice(JOB_STATUSES)
    kind: Choice(JOB_KINDS)


EXPORT, REPORT, FILTERS = ExportBody, ReportBody, JobFilters
IDEMPOTENCY_KEY_MAX = 128
