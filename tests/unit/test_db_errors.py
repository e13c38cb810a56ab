"""Driver errors become API errors: a refused value is 422/409, a lost server 503, never a 500."""
from __future__ import annotations

import asyncpg
import pytest

from service.db.errors import translate_db_error
from service.errors import Conflict, ServiceUnavailable, ValidationFailed


@pytest.mark.parametrize("error", [asyncpg.NotNullViolationError("SQL-1"), asyncpg.CheckViolationError("SQL-2"),
                                   asyncpg.NumericValueOutOfRangeError("SQL-3"),
                                   asyncpg.InvalidTextRepresentationError("SQL-4"),
                                   asyncpg.StringDataRightTruncationError("SQL-5")])
def test_a_refused_value_is_422_without_the_statement(error):
    translated = translate_db_error(error)
    assert isinstance(translated, ValidationFailed) and translated.status == 422
    assert translated.code == "invalid_value" and str(error) not in translated.message


def test_a_vanished_reference_is_409():
    assert isinstance(translate_db_error(asyncpg.ForeignKeyViolationError("fk")), Conflict)


@pytest.mark.parametrize("error", [asyncpg.AdminShutdownError("bye"), ConnectionResetError(), TimeoutError(),
                                   asyncpg.QueryCanceledError("timeout")])
def test_a_lost_or_slow_server_is_503_with_retry_after(error):
    translated = translate_db_error(error)
    assert isinstance(translated, ServiceUnavailable) and translated.headers["Retry-After"]


def test_a_unique_violation_is_left_to_the_caller_that_expects_it():
    error = asyncpg.UniqueViolationError("dup")
    assert translate_db_error(error) is error          # create_user turns it into 409 with field=email
