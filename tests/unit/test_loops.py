"""EVENT_LOOP: the loop `run.py serve`, `run.py worker` and the bench's ceilings run on."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from service.http import loops
from service.settings import SettingsError, load_settings


async def _running_loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_the_default_loop_is_uvloop(tmp_path: Path):
    assert load_settings({"VAR_DIR": str(tmp_path)}).event_loop == "uvloop"


@pytest.mark.parametrize("raw, name", [("asyncio", "asyncio"), (" UVLOOP ", "uvloop")])
def test_event_loop_accepts_both_names(tmp_path: Path, raw, name):
    assert load_settings({"VAR_DIR": str(tmp_path), "EVENT_LOOP": raw}).event_loop == name


def test_an_unknown_event_loop_is_one_error_naming_the_variable(tmp_path: Path):
    with pytest.raises(SettingsError) as caught:
        load_settings({"VAR_DIR": str(tmp_path), "EVENT_LOOP": "trio"})
    assert str(caught.value).startswith("EVENT_LOOP: must be uvloop or asyncio")


def test_run_runs_on_the_named_loop():
    assert issubclass(loops.run(_running_loop_type(), "uvloop"), uvloop.Loop)
    on_asyncio = loops.run(_running_loop_type(), "asyncio")
    assert issubclass(on_asyncio, asyncio.AbstractEventLoop) and not issubclass(on_asyncio, uvloop.Loop)
