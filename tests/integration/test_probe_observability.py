"""Probe of the observability surfaces: profiling, metrics, the scraper token."""
from __future__ import annotations

import pytest

from service.settings import SettingsError, load_settings


@pytest.mark.parametrize("token", ["two words", "pässwort-" + "x" * 24, "t" * 513, "tab\tinside"])
def test_a_metrics_token_no_request_can_carry_stops_start_up(token, tmp_path):
    """Before: METRICS_TOKEN was any non-empty text, but a bearer token is checked against
    1-512 printable ASCII characters without spaces (auth/tokens.py). A token with a space,
    a non-ASCII letter or over 512 characters was accepted at start-up and then matched no
    request: /metrics and the scraper routes answered 401 for ever, silently."""
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings({"METRICS_TOKEN": token, "SECRET_KEY": "k" * 40, "VAR_DIR": str(tmp_path)})


async def test_a_metrics_token_of_every_allowed_shape_opens_metrics(make_api, settings, tmp_path):
    token = "".join(chr(c) for c in range(0x21, 0x7f))            # every printable ASCII character
    parsed = load_settings({"METRICS_TOKEN": token, "SECRET_KEY": "k" * 40, "VAR_DIR": str(tmp_path)})
    assert parsed.metrics_token == token
    api = await make_api(settings.replace(metrics_token=token))
    await api.call("GET", "/metrics", headers={"Authorization": f"Bearer {token}"}, expect=200)
    await api.call("GET", "/metrics", headers={"Authorization": f"Bearer {token}x"}, expect=401)
