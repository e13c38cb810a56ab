"""Every row of the route table answers as its `auth` column says: public routes
never ask for a token, user routes answer 401 without one, admin routes 401
without one and 403 to a user who is not an admin (admin_or_metrics too, while
METRICS_TOKEN is unset: tests/integration/test_security_headers.py proves the token)."""
from __future__ import annotations

import uuid

from service.api.routes import ROUTES


def _path(template: str) -> str:
    return template.replace("{id}", str(uuid.uuid4()))


async def test_every_route_enforces_its_auth_column(api):
    user = await api.user()
    wrong = []
    # Logout last: it revokes the token the other calls use.
    for route in sorted(ROUTES, key=lambda r: r.path == "/api/auth/logout"):
        path = _path(route.path)
        anonymous, _ = await api.call(route.method, path)
        as_user, _ = await api.call(route.method, path, user)
        if route.auth == "public" or route.auth == "metrics":     # /metrics: open while METRICS_TOKEN is unset
            ok = anonymous.status != 401 and as_user.status != 401
        elif route.auth == "user":
            ok = anonymous.status == 401 and as_user.status not in (401, 403)
        else:
            ok = anonymous.status == 401 and as_user.status == 403
        if not ok:
            wrong.append(f"{route.method} {route.path} ({route.auth}): anonymous {anonymous.status}, "
                         f"user {as_user.status}")
    assert not wrong, "\n".join(wrong)
