"""Whose bytes a request spends, for the per-caller budgets of request bodies
(body_budget.py) and of answers not yet read (unsent_answers.py)."""
from __future__ import annotations

from aiohttp import web

from service import keys


def caller_key(request: web.Request) -> str:
    """The user once the token is checked, else the client address."""
    user = request.get(keys.USER)
    return f"user:{user.id}" if user is not None else f"address:{request.remote}"
