"""Each enumeration is declared once (service/schemas/enums.py) and the schema's CHECK
constraints allow exactly the same values."""
from __future__ import annotations

import re

import pytest

from service.schemas.enums import CHECKED_COLUMNS

CHECK_OF_COLUMN = """
    SELECT pg_get_constraintdef(c.oid) AS definition
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
    WHERE c.contype = 'c' AND c.conrelid = $1::regclass AND a.attname = $2"""


@pytest.mark.parametrize(("table", "column"), sorted(CHECKED_COLUMNS))
async def test_check_constraint_allows_exactly_the_declared_values(db_conn, table, column):
    definitions = [r["definition"] for r in await db_conn.fetch(CHECK_OF_COLUMN, table, column)]
    assert len(definitions) == 1, definitions
    allowed = tuple(re.findall(r"'([^']*)'::text", definitions[0]))
    assert sorted(allowed) == sorted(CHECKED_COLUMNS[(table, column)]), definitions[0]


async def test_every_enumerated_check_constraint_is_declared(db_conn):
    """A CHECK (col IN (...)) added to the schema without a declaration fails here."""
    rows = await db_conn.fetch("""
        SELECT c.conrelid::regclass::text AS table_name, a.attname AS column_name
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%ANY (ARRAY[%'""")
    assert {(r["table_name"], r["column_name"]) for r in rows} == set(CHECKED_COLUMNS)
