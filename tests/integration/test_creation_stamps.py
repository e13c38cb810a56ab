"""A new row's created_at and updated_at are one clock reading (docs/API.md section 4).

Two column defaults would read the clock twice and, now and then, differ by a microsecond;
the insert statements read it once. Many rows per kind make a second reading likely to show.
"""
from __future__ import annotations

from checks import aware_datetime


def _same_stamp(row: dict) -> bool:
    return aware_datetime(row["created_at"]) == aware_datetime(row["updated_at"])


async def test_clients_projects_and_runs_start_with_updated_at_equal_to_created_at(api):
    user = await api.user()
    clients = [await api.client_of(user) for _ in range(20)]
    projects = [await api.project_of(user, clients[0]["id"]) for _ in range(20)]
    runs = [
        await api.post(f"/api/projects/{projects[0]['id']}/runs", user, json={"status": status})
        for status in ["pending", "running"] * 10
    ]
    assert all(map(_same_stamp, clients + projects + runs))
    started = [r for r in runs if r["status"] == "running"]
    assert all(aware_datetime(r["started_at"]) == aware_datetime(r["created_at"]) for r in started)


async def test_bulk_posts_each_start_with_updated_at_equal_to_created_at_in_the_order_given(api):
    user = await api.user()
    project = await api.project_of(user)
    posts = await api.posts_of(user, project["id"], 200)
    assert [p["content"] for p in posts] == [f"post number {i}" for i in range(200)]
    assert all(map(_same_stamp, posts))
    stamps = [aware_datetime(p["created_at"]) for p in posts]
    assert stamps == sorted(stamps)
