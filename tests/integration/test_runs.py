"""Runs (docs/API.md section 4): create under a project, get, list by project, PATCH status transitions."""
from __future__ import annotations

import uuid

from checks import aware_datetime

FIELDS = {"id", "project_id", "is_batch", "status", "started_at", "completed_at", "logs", "error_message"}


async def _ids(api, user, **params) -> set[str]:
    body = await api.get("/api/runs", user, params={"page_size": "100", **params})
    return {r["id"] for r in body["items"]}


async def test_create_without_a_body_is_a_pending_run(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    assert FIELDS <= set(run)
    uuid.UUID(run["id"])
    assert run["project_id"] == project["id"] and run["is_batch"] is False and run["status"] == "pending"
    assert run["started_at"] is None and run["completed_at"] is None
    assert run["logs"] == [] and run["error_message"] is None
    assert await db_conn.fetchval("SELECT owner_id::text FROM runs WHERE id = $1::uuid", run["id"]) == user.id
    assert await api.get(f"/api/runs/{run['id']}", user) == run


async def test_create_with_fields(api):
    user = await api.user()
    project = await api.project_of(user)
    logs = ["queued", {"step": "generate", "ok": True}]
    run = await api.post(f"/api/projects/{project['id']}/runs", user,
                         json={"is_batch": True, "status": "running", "logs": logs})
    assert run["is_batch"] is True and run["status"] == "running" and run["logs"] == logs
    aware_datetime(run["started_at"])
    assert run["completed_at"] is None


async def test_create_validates_the_body(api):
    user = await api.user()
    project = await api.project_of(user)
    path = f"/api/projects/{project['id']}/runs"
    for body, field in (({"status": "done"}, "status"), ({"is_batch": "yes"}, "is_batch"),
                        ({"logs": "x"}, "logs"), ({"project_id": project["id"]}, "project_id")):
        assert (await api.post(path, user, json=body, expect=422))["error"]["field"] == field


async def test_a_run_under_another_users_project_is_404(api, db_conn):
    alice, bob = await api.user(), await api.user()
    project = await api.project_of(alice)
    for project_id in (project["id"], str(uuid.uuid4()), "nope"):
        await api.post(f"/api/projects/{project_id}/runs", bob, expect=404)
    assert await db_conn.fetchval("SELECT count(*) FROM runs WHERE project_id = $1::uuid", project["id"]) == 0


async def test_patch_status_sets_started_and_completed(api):
    user = await api.user()
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    path = f"/api/runs/{run['id']}"
    running = await api.patch(path, user, json={"status": "running", "logs": ["started"]})
    assert running["status"] == "running" and running["logs"] == ["started"]
    started = aware_datetime(running["started_at"])
    assert running["completed_at"] is None
    failed = await api.patch(path, user, json={"status": "failed", "error_message": "model timed out"})
    assert failed["status"] == "failed" and failed["error_message"] == "model timed out"
    assert aware_datetime(failed["started_at"]) == started and aware_datetime(failed["completed_at"]) >= started
    assert failed["logs"] == ["started"]
    cleared = await api.patch(path, user, json={"error_message": None})
    assert cleared["error_message"] is None and cleared["status"] == "failed"
    assert cleared["completed_at"] == failed["completed_at"]


async def test_patch_validation(api):
    user = await api.user()
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    path = f"/api/runs/{run['id']}"
    assert (await api.patch(path, user, json={}, expect=422))["error"]["code"] == "validation_error"
    for body, field in (({"status": "done"}, "status"), ({"status": None}, "status"), ({"logs": {}}, "logs"),
                        ({"is_batch": True}, "is_batch"), ({"logs": ["a\u0000b"]}, "logs")):
        assert (await api.patch(path, user, json=body, expect=422))["error"]["field"] == field
    assert await api.get(path, user) == run


async def test_list_by_project_and_ownership(api):
    alice, bob, admin = await api.user(), await api.user(), await api.user(admin=True)
    first, second = await api.project_of(alice), await api.project_of(alice)
    a1 = await api.post(f"/api/projects/{first['id']}/runs", alice)
    a2 = await api.post(f"/api/projects/{first['id']}/runs", alice)
    a3 = await api.post(f"/api/projects/{second['id']}/runs", alice)
    b1 = await api.post(f"/api/projects/{(await api.project_of(bob))['id']}/runs", bob)
    assert await _ids(api, alice) == {a1["id"], a2["id"], a3["id"]}
    assert await _ids(api, alice, project_id=first["id"]) == {a1["id"], a2["id"]}
    assert await _ids(api, bob) == {b1["id"]}
    await api.get("/api/runs", bob, params={"project_id": first["id"]}, expect=404)
    await api.get(f"/api/runs/{a1['id']}", bob, expect=404)
    await api.patch(f"/api/runs/{a1['id']}", bob, json={"status": "running"}, expect=404)
    assert await _ids(api, admin, project_id=first["id"]) == {a1["id"], a2["id"]}
    assert (await api.patch(f"/api/runs/{a1['id']}", admin, json={"status": "succeeded"}))["status"] == "succeeded"
    error = (await api.get("/api/runs", alice, params={"projectid": first["id"]}, expect=400))["error"]
    assert error["field"] == "projectid"


async def test_malformed_run_ids_are_404(api):
    user = await api.user()
    for raw in ("run-1", "0", str(uuid.uuid4())):
        await api.get(f"/api/runs/{raw}", user, expect=404)
        await api.patch(f"/api/runs/{raw}", user, json={"status": "running"}, expect=404)


async def test_lists_carry_a_log_count_and_the_detail_the_logs(api):
    """Logs can be large: a list answer carries only their count, the detail the logs."""
    user = await api.user()
    project = await api.project_of(user)
    logs = ["queued", {"step": "generate", "ok": True}, "done"]
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={"logs": logs})
    [listed] = (await api.get("/api/runs", user, params={"project_id": project["id"]}))["items"]
    assert listed["log_count"] == 3 and "logs" not in listed
    assert (await api.get(f"/api/runs/{run['id']}", user))["logs"] == logs


async def test_logs_are_bounded_in_items_depth_and_bytes(api):
    user = await api.user()
    project = await api.project_of(user)
    path = f"/api/projects/{project['id']}/runs"
    deep: list = ["leaf"]
    for _ in range(300):                                  # deeper than any JSON encoder can take back
        deep = [deep]
    for logs, words in ((["x"] * 1001, "at most 1000 items"), ([deep], "deeper than 8"),
                        (["y" * 300_000], "at most 262144 bytes")):
        error = (await api.post(path, user, json={"logs": logs}, expect=422))["error"]
        assert error["field"] == "logs" and words in error["message"], error
    nested = [[[[[[["seven levels"]]]]]]]
    assert (await api.post(path, user, json={"logs": nested}))["logs"] == nested
    await api.get("/api/runs", user)                      # the list still answers
