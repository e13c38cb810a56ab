"""deploy/ (issue 15 point 6): the two database roles, and no start with the example's
placeholder secrets. The compose file is rendered with deploy/env.example as compose
would, and each service's environment is given to a real `python run.py`."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
_VARIABLE = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")


def example_env() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def compose(values: dict[str, str]) -> dict:
    text = _VARIABLE.sub(lambda m: values[m.group(1)], (DEPLOY / "compose.yaml").read_text())
    return yaml.safe_load(text)


def run(args: list[str], service_env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "DB_", "SECRET_KEY", "METRICS_TOKEN"))}
    env.update(VAR_DIR=str(tmp_path), **service_env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_every_secret_of_the_example_is_a_placeholder_the_service_refuses():
    from service.settings import PLACEHOLDER_PREFIX
    values = example_env()
    assert set(values) == {"POSTGRES_PASSWORD", "JUMPSTART_OWNER_PASSWORD", "JUMPSTART_APP_PASSWORD",
                           "SECRET_KEY", "METRICS_TOKEN"}
    assert all(v.startswith(PLACEHOLDER_PREFIX) for v in values.values())


@pytest.mark.parametrize("service", ["app1", "app2", "migrate"])
def test_compose_with_the_example_env_refuses_to_start(service, tmp_path):
    """Every process compose starts from our image, as configured, with env.example copied
    unchanged: one line naming the variable, exit code 2, before touching any database."""
    spec = compose(example_env())["services"][service]
    command = spec.get("command", ["python", "run.py", "serve"])[1:]
    done = run(command, {k: str(v) for k, v in spec["environment"].items()}, tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: ") and "placeholder" in lines[0], lines
    assert "Traceback" not in done.stderr and not (tmp_path / "pgdata").exists()


@pytest.mark.parametrize("variable", ["SECRET_KEY", "METRICS_TOKEN", "DATABASE_URL", "DATABASE_DIRECT_URL",
                                      "DATABASE_OWNER_URL", "DATABASE_LISTEN_URL"])
def test_each_placeholder_alone_is_refused(variable, tmp_path):
    """Real values everywhere but one (the systemd unit and the Dockerfile start the same
    `run.py serve`): that one still stops start-up, and the line names it."""
    real = {"SECRET_KEY": "k" * 48, "METRICS_TOKEN": "m" * 32,
            "DATABASE_URL": "postgresql://jumpstart_app:real-password@127.0.0.1:1/jumpstart"}
    values = example_env()
    if variable.startswith("DATABASE_"):
        role = "jumpstart_owner" if variable == "DATABASE_OWNER_URL" else "jumpstart_app"
        real[variable] = f"postgresql://{role}:{values['JUMPSTART_APP_PASSWORD']}@127.0.0.1:1/jumpstart"
    else:
        real[variable] = values[variable]
    done = run(["run.py", "serve"], real, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}:"), lines


def test_compose_uses_the_two_roles():
    """The instances connect only as the serving role, with no owner credentials; the
    owner is used by the one-shot migrate step; PgBouncer carries only the serving role."""
    services = compose({name: f"<{name}>" for name in example_env()})["services"]
    for name in ("app1", "app2"):
        env = services[name]["environment"]
        assert "DATABASE_OWNER_URL" not in env and "<JUMPSTART_OWNER_PASSWORD>" not in str(env)
        assert env["DATABASE_URL"].startswith("postgresql://jumpstart_app:<JUMPSTART_APP_PASSWORD>@pgbouncer:")
        assert env["DATABASE_DIRECT_URL"].startswith("postgresql://jumpstart_app:")
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "run.py", "migrate"]
    assert migrate["environment"]["DATABASE_OWNER_URL"].startswith("postgresql://jumpstart_owner:")
    assert services["pgbouncer"]["environment"]["DATABASE_URL"].startswith("postgres://jumpstart_app:")
    init = (DEPLOY / "initdb" / "10-roles.sh").read_text()
    for role in ("jumpstart_owner", "jumpstart_app"):
        assert re.search(rf"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB", init)
    assert "CREATE DATABASE jumpstart OWNER jumpstart_owner" in init
    unit = (DEPLOY / "content-jumpstart.service").read_text()
    assert "run.py migrate" in unit and "RestartPreventExitStatus=2" in unit


def test_the_init_script_then_migrate_then_serve_as_the_app_role(pg_server, tmp_path):
    """deploy/initdb/10-roles.sh as the postgres image runs it (psql as the superuser),
    then compose's `migrate` step, then an instance's start-up check, on the suite's
    embedded server (the roles' passwords are not checked over its trust socket)."""
    import asyncio

    import asyncpg

    from service.db.admin import drop_database
    from service.db.embedded import EmbeddedPostgres
    admin_url, server = pg_server
    if server is None:
        pytest.skip("runs the init script against the embedded server")
    values = {"JUMPSTART_OWNER_PASSWORD": "owner-secret", "JUMPSTART_APP_PASSWORD": "app-secret"}
    env = {**os.environ, **values, "POSTGRES_USER": "postgres", "PGHOST": str(server.socket_dir),
           "PGPORT": str(server.port), "PATH": f"{EmbeddedPostgres.bin_dir()}:{os.environ['PATH']}"}
    init = subprocess.run(["sh", str(DEPLOY / "initdb" / "10-roles.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert init.returncode == 0, init.stderr
    try:
        def url(role: str) -> str:
            return server.uri("jumpstart", role)
        migrate = run(["run.py", "migrate"], {"SECRET_KEY": "k" * 48, "DATABASE_URL": url("jumpstart_app"),
                                              "DATABASE_OWNER_URL": url("jumpstart_owner")}, tmp_path)
        assert migrate.returncode == 0 and "applied: 0001_extensions.sql" in migrate.stdout, migrate.stderr

        async def check():
            conn = await asyncpg.connect(url("jumpstart_app"))
            try:
                assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                assert await conn.fetchval("SELECT count(*) FROM users") == 0
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute("CREATE TABLE intruder (id int)")
            finally:
                await conn.close()
        asyncio.run(check())
        # An instance's own start-up step, with the serving role only: nothing pending, no warning.
        from service.db import roles
        from service.settings import Settings
        prepared = asyncio.run(roles.prepare(Settings(database_url=url("jumpstart_app"), secret_key="k" * 48)))
        assert prepared.applied == [] and prepared.warning() is None
    finally:
        asyncio.run(drop_database(admin_url, "jumpstart"))
