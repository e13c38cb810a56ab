"""Generated secrets on disk (issue 15 point 6): var/demo_admin.json is 0600 from its first
byte, even over an older file that was readable by others, and even with umask 0."""
from __future__ import annotations

import json
import os
import stat

from service.cli.serve import _write_private


def test_demo_credentials_are_never_readable_by_others(tmp_path, monkeypatch):
    target = tmp_path / "var" / "demo_admin.json"
    target.parent.mkdir()
    target.write_text("{}")
    target.chmod(0o644)                 # an older file, as the old code left it for a moment
    modes_when_written = []
    real_fdopen = os.fdopen

    def watching_fdopen(fd, *args, **kwargs):
        modes_when_written.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *args, **kwargs)
    monkeypatch.setattr(os, "fdopen", watching_fdopen)
    old = os.umask(0)
    try:
        _write_private(target, json.dumps({"email": "a@example.com", "password": "secret"}))
    finally:
        os.umask(old)
    assert modes_when_written == [0o600]            # before the first byte went in
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["password"] == "secret"
    assert [p.name for p in target.parent.iterdir()] == ["demo_admin.json"]     # no partial file left
