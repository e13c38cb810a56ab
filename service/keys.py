"""Typed application keys: everything a handler reaches through the app, in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .auth import User
    from .context import RequestContext
    from .cursors import CursorCodec
    from .db.database import Database
    from .pagination import Paginator
    from .settings import Settings

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
DB: web.AppKey["Database"] = web.AppKey("db")
CODEC: web.AppKey["CursorCodec"] = web.AppKey("codec")
PAGINATOR: web.AppKey["Paginator"] = web.AppKey("paginator")

# Per-request storage
REQUEST_CTX: web.RequestKey["RequestContext"] = web.RequestKey("ctx")
USER: web.RequestKey["User"] = web.RequestKey("user")
