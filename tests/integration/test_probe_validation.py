"""Request validation probed as a hostile client (docs/API.md section 3; README "API
description, validation and fuzzing"): every refusal is a 4xx in the envelope naming what
is wrong, and nothing is stored other than what was sent."""
from __future__ import annotations

import pytest

# -- a declared charset other than UTF-8 was ignored: the bytes were read as UTF-8 -------

@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "windows-1252"])
async def test_a_body_declared_in_a_charset_other_than_utf8_is_415_and_stores_nothing(api, db_conn, charset):
    user = await api.user()
    # "Ã©" in latin-1 is the bytes C3 A9: read as UTF-8 they are "é", a different name.
    body = '{"name": "probe-charset-Ã©"}'.encode("latin-1")
    resp, data = await api.call("POST", "/api/clients", user, data=body,
                                headers={"Content-Type": f"application/json; charset={charset}"})
    assert resp.status == 415, data
    assert data["error"]["code"] == "unsupported_media_type"
    assert data["error"]["field"] == "Content-Type"
    assert await db_conn.fetchval("SELECT count(*) FROM clients WHERE name LIKE 'probe-charset-%'") == 0


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"'])
async def test_a_body_declared_utf8_is_read(api, charset):
    user = await api.user()
    resp, data = await api.call("POST", "/api/clients", user, data='{"name": "café"}'.encode(),
                                headers={"Content-Type": f"application/json; charset={charset}"})
    assert resp.status == 201, data
    assert data["name"] == "café"
