"""Advice rules: pool status, overall status, capacity against max_connections, pool recommendations."""
from __future__ import annotations

import pytest

from service.db.pool import PoolEvents
from service.observability.advice import (
    HOLD_P95_WARNING_MS,
    MIN_ACQUIRES_FOR_OVERSIZE,
    MIN_ACQUIRES_FOR_RATIOS,
    WAIT_P95_WARNING_MS,
    WAITED_SHARE_WARNING,
    capacity_advice,
    overall_status,
    pool_recommendations,
    pool_status,
)
from service.settings import Settings


def _settings(**changes) -> Settings:
    # No job worker unless a test says so: its wake-up listener is one more connection per
    # worker (tests/unit/test_probe_topology_units.py counts it).
    return Settings(database_url="postgresql://x/y", **{"jobs_worker": False, **changes})


# pool_status ----------------------------------------------------------------------

def _state(in_use: int, max_: int = 100, waiting: int = 0) -> dict[str, int]:
    return {"in_use": in_use, "max": max_, "waiting": waiting}


@pytest.mark.parametrize("in_use, status", [
    (0, "healthy"), (49, "healthy"), (50, "moderate"), (74, "moderate"), (75, "high"), (89, "high"),
    (90, "critical"), (100, "critical"),
])
def test_pool_status_steps_at_50_75_and_90_percent(in_use, status):
    assert pool_status(_state(in_use)) == (status, float(in_use))


def test_utilization_is_rounded_to_one_decimal_and_rounding_decides_the_step():
    assert pool_status(_state(1, 3)) == ("healthy", 33.3)
    assert pool_status(_state(2, 3)) == ("moderate", 66.7)
    # 449/500 = 89.8 % is high; 8999/10000 = 89.99 % rounds to 90.0 % and is critical.
    assert pool_status(_state(449, 500)) == ("high", 89.8)
    assert pool_status(_state(8999, 10000)) == ("critical", 90.0)


def test_an_empty_pool_definition_is_not_a_division_by_zero():
    assert pool_status(_state(0, 0)) == ("healthy", 0.0)


def test_waiters_on_a_growing_pool_make_healthy_moderate():
    assert pool_status(_state(10, waiting=1)) == ("moderate", 10.0)


def test_waiters_leave_a_status_above_healthy_unchanged_while_the_pool_can_grow():
    assert pool_status(_state(60, waiting=5))[0] == "moderate"
    assert pool_status(_state(80, waiting=5))[0] == "high"


def test_waiters_on_a_full_pool_are_critical():
    assert pool_status(_state(100, waiting=1)) == ("critical", 100.0)
    assert pool_status(_state(10, 10, waiting=3)) == ("critical", 100.0)


# overall_status -------------------------------------------------------------------

@pytest.mark.parametrize("checks, status", [
    ({"database": "ok", "pool": "healthy", "cache": "ok"}, "healthy"),
    ({"database": "ok", "pool": "moderate", "cache": "ok"}, "healthy"),
    ({"database": "ok"}, "healthy"),                                     # no pool or cache check: nothing wrong
    ({"database": "ok", "pool": "high", "cache": "ok"}, "degraded"),
    ({"database": "ok", "pool": "critical", "cache": "ok"}, "degraded"),
    ({"database": "ok", "pool": "healthy", "cache": "incoherent"}, "degraded"),
    ({"database": "ok", "pool": "healthy", "cache": "disconnected"}, "degraded"),
    ({"database": "down", "pool": "healthy", "cache": "ok"}, "unhealthy"),
    ({"database": "down", "pool": "critical", "cache": "incoherent"}, "unhealthy"),   # down outranks degraded
    ({"database": "unknown", "pool": "critical", "cache": "ok"}, "degraded"),  # a saturated pool: not asked
    ({"database": "unknown"}, "degraded"),
    ({"database": "timeout"}, "unhealthy"),
    ({"pool": "healthy", "cache": "ok"}, "unhealthy"),                  # no database answer is not ok
])
def test_overall_status(checks, status):
    assert overall_status(checks) == status


# capacity_advice ------------------------------------------------------------------

def _capacity(max_connections: int, reserved: int = 3) -> dict:
    return {"max_connections": max_connections, "reserved": reserved}


def test_no_capacity_known_gives_no_capacity_advice():
    assert list(capacity_advice(_settings(workers=64), None)) == []


@pytest.mark.parametrize("cache_enabled, auth_cache_enabled, needed", [
    (True, True, 2 * (15 + 1)), (True, False, 2 * (15 + 1)),
    (False, True, 2 * (15 + 1)),       # the token cache alone keeps the listener
    (False, False, 2 * 15)])
def test_capacity_counts_pool_max_times_workers_plus_a_listener_each_when_caching(cache_enabled, auth_cache_enabled,
                                                                                   needed):
    settings = _settings(db_pool_size=10, db_max_overflow=5, workers=2, cache_enabled=cache_enabled,
                         auth_cache_enabled=auth_cache_enabled)
    # Exactly enough usable connections: a warning (nothing left); one fewer: critical.
    fits = list(capacity_advice(settings, _capacity(needed + 3)))
    short = list(capacity_advice(settings, _capacity(needed + 3 - 1)))
    assert [a["severity"] for a in fits] == ["warning"]          # 100 % of usable is above 80 %
    assert [a["severity"] for a in short] == ["critical"]
    assert f"= {needed} at peak" in short[0]["message"] and f"allows {needed - 1}" in short[0]["message"]


def test_critical_capacity_names_the_settings_to_change():
    (critical,) = capacity_advice(_settings(workers=64, db_pool_size=20, db_max_overflow=1000), _capacity(100))
    assert critical["severity"] == "critical"
    for word in ("64 worker", "DB_MAX_OVERFLOW", "DB_POOL_SIZE", "max_connections", "97"):
        assert word in critical["message"]


def test_reserved_connections_are_not_usable():
    settings = _settings(db_pool_size=5, db_max_overflow=0, workers=1, cache_enabled=False,
                         auth_cache_enabled=False)   # needs 5
    assert list(capacity_advice(settings, _capacity(20, reserved=0))) == []
    assert [a["severity"] for a in capacity_advice(settings, _capacity(20, reserved=16))] == ["critical"]


@pytest.mark.parametrize("usable, severities", [
    (100, []),              # 80 of 100 is exactly 80 %: not above it
    (99, ["warning"]),      # 80 > 79.2
    (81, ["warning"]),
    (80, ["warning"]),      # all of it: fits, but nothing is left
    (79, ["critical"]),
])
def test_capacity_warns_above_80_percent_and_is_critical_beyond_usable(usable, severities):
    settings = _settings(db_pool_size=40, db_max_overflow=0, workers=2, cache_enabled=False,
                         auth_cache_enabled=False)     # needs 80
    found = list(capacity_advice(settings, _capacity(usable + 3)))
    assert [a["severity"] for a in found] == severities


def test_the_listener_connection_can_tip_capacity_over():
    cached = _settings(db_pool_size=10, db_max_overflow=0, workers=4, cache_enabled=True)        # 44
    uncached = cached.replace(cache_enabled=False, auth_cache_enabled=False)                      # 40
    assert [a["severity"] for a in capacity_advice(cached, _capacity(43))] == ["critical"]
    assert [a["severity"] for a in capacity_advice(uncached, _capacity(43))] == ["warning"]


# pool_recommendations -------------------------------------------------------------

def _events(**changes) -> dict:
    events = PoolEvents().as_dict()
    for key, value in changes.items():
        if key in ("acquire_wait_ms", "hold_ms"):
            events[key] = {**events[key], **value}
        else:
            events[key] = value
    return events


STATE = {"in_use": 0, "max": 60, "waiting": 0, "size": 2, "idle": 2}
ROOMY = _capacity(1000)


def _severities(found) -> list[str]:
    return [a["severity"] for a in found]


def test_a_quiet_pool_is_reported_healthy_as_the_only_advice():
    assert pool_recommendations(_settings(), _events(), STATE, ROOMY) == [
        {"severity": "info", "message": "The pool is healthy."}]
    assert pool_recommendations(_settings(), _events(), STATE, None) == [
        {"severity": "info", "message": "The pool is healthy."}]


def test_acquire_timeouts_are_critical_and_name_db_pool_timeout():
    found = pool_recommendations(_settings(db_pool_timeout=2.5), _events(acquire_timeouts=3), STATE, ROOMY)
    assert _severities(found) == ["critical"]
    assert "DB_POOL_TIMEOUT=2.5" in found[0]["message"] and "3 request(s)" in found[0]["message"]
    assert "healthy" not in found[0]["message"]


def test_capacity_advice_comes_first_among_recommendations():
    settings = _settings(workers=64, db_max_overflow=1000)
    found = pool_recommendations(settings, _events(acquire_timeouts=1), STATE, _capacity(100))
    assert _severities(found) == ["critical", "critical"]
    assert "max_connections" in found[0]["message"] and "DB_POOL_TIMEOUT" in found[1]["message"]


def test_ratios_need_enough_acquires_as_evidence():
    few = _events(acquires=MIN_ACQUIRES_FOR_RATIOS - 1, acquires_waited_for_full_pool=50,
                  acquire_wait_ms={"p95": 500.0}, hold_ms={"p95": 5000.0})
    assert _severities(pool_recommendations(_settings(), few, STATE, ROOMY)) == ["info"]
    enough = {**few, "acquires": MIN_ACQUIRES_FOR_RATIOS}
    found = pool_recommendations(_settings(), enough, STATE, ROOMY)
    assert _severities(found) == ["warning", "warning", "warning"]
    assert "60 connections busy" in found[0]["message"] and "DB_POOL_SIZE" in found[0]["message"]
    assert "p95 wait" in found[1]["message"] and "p95 hold" in found[2]["message"]


def test_each_ratio_rule_fires_at_its_threshold():
    base = {"acquires": 1000}
    waited = int(1000 * WAITED_SHARE_WARNING)
    cases = [
        (_events(**base, acquires_waited_for_full_pool=waited - 1), 0),
        (_events(**base, acquires_waited_for_full_pool=waited), 1),
        (_events(**base, acquire_wait_ms={"p95": WAIT_P95_WARNING_MS - 0.1}), 0),
        (_events(**base, acquire_wait_ms={"p95": WAIT_P95_WARNING_MS}), 1),
        (_events(**base, hold_ms={"p95": HOLD_P95_WARNING_MS - 0.1}), 0),
        (_events(**base, hold_ms={"p95": HOLD_P95_WARNING_MS}), 1),
    ]
    settings = _settings(db_pool_size=2)     # keeps the oversize rule out of it
    for events, warnings in cases:
        assert _severities(pool_recommendations(settings, {**events, "peak_in_use": 2}, STATE, ROOMY)).count(
            "warning") == warnings, events


def test_an_oversized_pool_is_advised_smaller_only_with_enough_evidence():
    settings = _settings(db_pool_size=20)
    lots = _events(acquires=MIN_ACQUIRES_FOR_OVERSIZE, peak_in_use=4)
    (found,) = pool_recommendations(settings, lots, STATE, ROOMY)
    assert found["severity"] == "info" and "DB_POOL_SIZE=8" in found["message"]
    few = _events(acquires=MIN_ACQUIRES_FOR_OVERSIZE - 1, peak_in_use=4)
    assert pool_recommendations(settings, few, STATE, ROOMY)[0]["message"] == "The pool is healthy."
    busy = _events(acquires=MIN_ACQUIRES_FOR_OVERSIZE, peak_in_use=11)           # 22 > 20: not oversized
    assert pool_recommendations(settings, busy, STATE, ROOMY)[0]["message"] == "The pool is healthy."


def test_peak_beyond_pool_size_suggests_raising_it():
    (found,) = pool_recommendations(_settings(db_pool_size=5), _events(peak_in_use=6), STATE, ROOMY)
    assert found["severity"] == "info" and "exceeded DB_POOL_SIZE=5" in found["message"]


def test_leaks_and_dead_idle_connections_are_reported_with_their_settings():
    found = pool_recommendations(_settings(), _events(leaks_suspected=2, pre_ping_failures=1), STATE, ROOMY)
    assert _severities(found) == ["warning", "info"]
    assert "DB_LEAK_THRESHOLD_S" in found[0]["message"] and "DB_POOL_RECYCLE" in found[1]["message"]


def test_every_recommendation_has_the_same_shape():
    events = _events(acquires=1000, acquire_timeouts=1, acquires_waited_for_full_pool=500, leaks_suspected=1,
                     pre_ping_failures=1, peak_in_use=100, acquire_wait_ms={"p95": 50.0}, hold_ms={"p95": 2000.0})
    found = pool_recommendations(_settings(workers=64), events, STATE, _capacity(100))
    assert len(found) == 8
    for item in found:
        assert set(item) == {"severity", "message"} and item["severity"] in ("info", "warning", "critical")
        assert item["message"] and item["message"] != "The pool is healthy."
