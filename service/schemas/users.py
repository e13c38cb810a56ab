"""Bodies of /api/auth/register and /api/auth/login (and `run.py create-user`)."""
from __future__ import annotations

from service.schemas.fields import Field

REGISTER = {
    "email": Field("email", required=True, max_length=254),
    "password": Field("text", required=True, min_length=8, max_length=1024),
    "full_name": Field("text", max_length=200),
    # Accepted and ignored: nobody makes themselves an admin by asking.
    "is_admin": Field("bool"),
}
LOGIN = {
    "email": Field("text", required=True, max_length=254),
    "password": Field("text", required=True, max_length=1024),
}
