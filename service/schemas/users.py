"""Bodies of /api/auth/register and /api/auth/login (and `run.py create-user`)."""
from __future__ import annotations

from typing import Annotated, NotRequired, Required

from pydantic import Field
from typing_extensions import TypedDict

from service.schemas.types import STRICT, Email, Text


class Register(TypedDict, total=False):
    """A new account. The email is normalized (NFKC, trimmed) and unique case-insensitively."""
    __pydantic_config__ = STRICT
    email: Required[Email]
    password: Required[Text(1024, 8, examples=["correct horse battery"])]
    full_name: NotRequired[Text(200) | None]
    # Accepted and ignored: nobody makes themselves an admin by asking.
    is_admin: NotRequired[Annotated[bool | None, Field(description="Accepted and ignored")]]


class Login(TypedDict, total=False):
    """Email and password; repeated failures are throttled (429 with Retry-After)."""
    __pydantic_config__ = STRICT
    email: Required[Text(254, examples=["ada@example.com"])]
    password: Required[Text(1024, examples=["correct horse battery"])]


REGISTER, LOGIN = Register, Login
