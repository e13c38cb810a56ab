"""The SQL registry: a file's `$n name type` header is the one place parameter order lives."""
from __future__ import annotations

import re

import pytest

from service.db.registry import SQL_DIR, Query, RegistryError, load_registry, parse, query

HEADER = """-- A query for the tests.
-- Parameters:
--   $1 owner_id uuid: the caller, or NULL for an admin
--   $2 status   text: or NULL
--   $3 limit    integer: rows to return
"""
BODY = "SELECT * FROM t WHERE ($1::uuid IS NULL OR owner_id = $1) AND ($2 IS NULL OR status = $2) LIMIT $3;\n"


def test_header_names_become_params_in_dollar_order():
    q = parse("t/list", HEADER + BODY)
    assert q.params == ("owner_id", "status", "limit")
    assert q.name == "t/list"
    assert "$1 owner_id uuid" in q.header and "--" not in q.header
    assert not q.text.endswith(";"), "the trailing semicolon is dropped"


def test_a_query_without_parameters_has_none():
    q = parse("t/ping", "-- Is the server there?\nSELECT 1;\n")
    assert q.params == () and q.bind({}) == ()


def test_double_digit_placeholders_are_not_read_as_single_digits():
    header = "".join(f"--   ${n} p{n} integer\n" for n in range(1, 12))
    q = parse("t/wide", header + "SELECT $11 + $10 + $1;")
    assert q.params == tuple(f"p{n}" for n in range(1, 12))


@pytest.mark.parametrize("header, body, why", [
    ("--   $1 a int\n--   $3 c int\n", "SELECT $1, $3", "skips $2"),
    ("--   $2 b int\n--   $1 a int\n", "SELECT $1, $2", "out of order"),
    ("--   $1 a int\n--   $1 b int\n", "SELECT $1", "names $1 twice"),
    ("--   $1 a int\n", "SELECT $1, $2", "body uses $2 the header does not name"),
    ("-- no parameters here\n", "SELECT $1", "body uses $1 with no header parameter at all"),
    ("", "SELECT $1", "no header at all"),
    ("--   $2 b int\n", "SELECT $2", "starts at $2"),
])
def test_a_header_that_does_not_name_every_placeholder_in_order_is_refused(header, body, why):
    with pytest.raises(RegistryError) as caught:
        parse("t/bad", header + body)
    assert "t/bad.sql" in str(caught.value), why


def test_bind_lays_keyword_values_out_in_dollar_order():
    q = parse("t/list", HEADER + BODY)
    assert q.bind({"limit": 10, "owner_id": "u", "status": None}) == ("u", None, 10)


@pytest.mark.parametrize("values, missing, unknown", [
    ({"owner_id": 1, "status": 2}, ["limit"], []),
    ({"owner_id": 1, "status": 2, "limit": 3, "offset": 4}, [], ["offset"]),
    ({"owner_id": 1, "status": 2, "lmit": 3}, ["limit"], ["lmit"]),      # same count, one misspelt
    ({}, ["owner_id", "status", "limit"], []),
])
def test_bind_names_missing_and_unknown_parameters(values, missing, unknown):
    q = parse("t/list", HEADER + BODY)
    with pytest.raises(TypeError) as caught:
        q.bind(values)
    message = str(caught.value)
    assert "t/list.sql" in message
    assert f"missing {missing}" in message and f"unknown {unknown}" in message


def test_load_registry_reads_a_directory_and_skips_migrations(tmp_path):
    (tmp_path / "things").mkdir()
    (tmp_path / "migrations").mkdir()
    (tmp_path / "things" / "get.sql").write_text("--   $1 id uuid\nSELECT $1;")
    (tmp_path / "migrations" / "0001_x.sql").write_text("SELECT $1;")   # would not parse as a query
    loaded = load_registry(tmp_path)
    assert list(loaded) == ["things/get"] and loaded["things/get"].params == ("id",)


def test_load_registry_refuses_a_bad_file_by_name(tmp_path):
    (tmp_path / "things").mkdir()
    (tmp_path / "things" / "bad.sql").write_text("--   $1 id uuid\nSELECT $1, $2;")
    with pytest.raises(RegistryError, match="things/bad.sql"):
        load_registry(tmp_path)


SHIPPED = load_registry()


def test_the_shipped_registry_is_every_non_migration_sql_file():
    files = {p.relative_to(SQL_DIR).with_suffix("").as_posix() for p in SQL_DIR.rglob("*.sql")
             if p.relative_to(SQL_DIR).parts[0] != "migrations"}
    assert set(SHIPPED) == files and len(files) > 40


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_query_names_exactly_as_many_params_as_its_highest_placeholder(name):
    q = SHIPPED[name]
    used = {int(n) for n in re.findall(r"\$(\d+)", _body(q))}
    assert len(q.params) == max(used, default=0), f"{name}: params {q.params}, placeholders {sorted(used)}"
    assert used == set(range(1, len(q.params) + 1)), f"{name}: a named parameter is never used"
    assert len(set(q.params)) == len(q.params), f"{name}: a parameter name repeats"


def _body(q: Query) -> str:
    """The text below the header comment."""
    lines = q.text.splitlines()
    while lines and lines[0].lstrip().startswith("--"):
        lines.pop(0)
    return "\n".join(lines)


def test_query_returns_the_registry_entry():
    assert query("posts/get") == SHIPPED["posts/get"]
    assert query("posts/get").params == ("id", "owner_id")


@pytest.mark.parametrize("name", ["no/such", "posts/get.sql", "migrations/0001_extensions", ""])
def test_query_of_an_unknown_name_is_a_registry_error(name):
    with pytest.raises(RegistryError, match="missing"):
        query(name)
