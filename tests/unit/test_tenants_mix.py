"""The tenants scenario's calls (service/bench/tenants.py): each tenant makes the same
sequence of calls as the lone tenant does, and the mix stays 90 % reads, 10 % writes."""
from __future__ import annotations

from service.bench.tenants import MIX, Tenant, TenantCalls


def tenants(n: int) -> list[Tenant]:
    return [Tenant({"Authorization": f"Bearer t{i}"}, [f"p{i}"], [f"post{i}-{k}" for k in range(3)])
            for i in range(n)]


def kinds_by_tenant(calls: TenantCalls, group: list[Tenant], n: int) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {t.headers["Authorization"]: [] for t in group}
    for _ in range(n):
        call = calls()
        kind = call.tag if call.tag != "write" else ("create" if call.method == "POST" else "patch")
        seen[call.headers["Authorization"]].append(kind)
    return seen


def test_each_tenant_walks_the_lone_tenants_sequence():
    alone = kinds_by_tenant(TenantCalls(tenants(1)), tenants(1), 300)["Bearer t0"]
    many = kinds_by_tenant(TenantCalls(tenants(50)), tenants(50), 5000)
    assert all(len(seq) > 30 for seq in many.values())
    for seq in many.values():
        assert seq == alone[:len(seq)] if len(seq) <= len(alone) else seq[:len(alone)] == alone


def test_the_mix_is_ninety_percent_reads():
    calls = TenantCalls(tenants(50))
    for _ in range(10_000):
        calls()
    writes = calls.tally.by_kind["create"] + calls.tally.by_kind["patch"]
    assert abs(writes / 10_000 - (MIX["create"] + MIX["patch"]) / 100) < 0.01
