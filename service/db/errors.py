"""Translate driver failures into API errors: the database being unavailable is 503, and a
value the database refuses (a constraint, a range, a malformed value) is 422 or 409 —
never a 500 for what a request contained. Validation at the edge should refuse such
values first; this is the net under it."""
from __future__ import annotations

import asyncio

import asyncpg

from service.errors import Conflict, DatabaseConnectionLost, ServiceUnavailable, ValidationFailed

_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,          # SQLSTATE class 08
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,                   # "connection is closed", pool closing
    asyncpg.InternalClientError,              # protocol state after the server dropped us
    asyncpg.ObjectNotInPrerequisiteStateError,  # database not accepting connections
    asyncpg.InvalidCatalogNameError,          # database dropped or renamed
    asyncpg.InvalidAuthorizationSpecificationError,  # role gone or refused
    ConnectionError,
    OSError,
)


def translate_db_error(exc: BaseException) -> BaseException:
    """The API error a driver exception means, or the exception itself."""
    if isinstance(exc, asyncpg.QueryCanceledError):
        return ServiceUnavailable(
            "the database did not answer within the statement timeout; try again later",
            code="query_timeout")
    if isinstance(exc, asyncpg.LockNotAvailableError):
        # lock_timeout (a DBA's setting): the statement waited too long for a lock, like a
        # statement timeout. Before the connection errors: asyncpg makes 55P03 a subclass
        # of ObjectNotInPrerequisiteStateError (55000), which is taken for a lost connection.
        return ServiceUnavailable("the data this request needs is locked by other work; try again later",
                                  code="lock_timeout")
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        # The server takes no writes: a failover left us on the demoted primary, a hot
        # standby, or default_transaction_read_only for maintenance. Temporary for the
        # caller, as a restart is; the pool replaces its connections (db/pool.py).
        return ServiceUnavailable("the database takes no writes right now; try again later",
                                  code="database_read_only")
    if isinstance(exc, asyncio.TimeoutError):
        return ServiceUnavailable("the database did not answer in time; try again later")
    if isinstance(exc, _CONNECTION_ERRORS):
        return DatabaseConnectionLost("the database is unavailable; try again later")
    if isinstance(exc, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)):
        # Chosen by the server to let a concurrent transaction through; this one rolled back.
        return ServiceUnavailable("the database cancelled this request to resolve a conflict with "
                                  "another one; try again", code="conflict_retry")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return Conflict("an object this request refers to no longer exists")
    if isinstance(exc, (asyncpg.NotNullViolationError, asyncpg.CheckViolationError, asyncpg.DataError)):
        # Named by column when PostgreSQL says which; the statement and values are not echoed.
        column = getattr(exc, "column_name", None)
        where = f"{column}: " if column else ""
        return ValidationFailed(f"{where}the value is not allowed here (null, out of range or malformed)",
                                field=column, code="invalid_value")
    return exc


def is_connection_fault(exc: BaseException) -> bool:
    """The connection itself failed (lost, or no answer in time), as opposed to a
    statement the server refused or cancelled: the connection must not be reused.
    Looks through the chain of causes (API errors keep the driver's as __cause__)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (asyncpg.QueryCanceledError, asyncpg.LockNotAvailableError)):
            return False
        if isinstance(exc, (asyncio.TimeoutError, *_CONNECTION_ERRORS)):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def must_drop_connection(exc: BaseException) -> bool:
    """A connection fault, or the holder was cancelled (a readiness deadline, shutdown)
    possibly mid-statement: the connection is dropped rather than released, since a
    release would wait for a cancellation or a rollback the server may never answer."""
    return isinstance(exc, asyncio.CancelledError) or is_connection_fault(exc)


def found_read_only(exc: BaseException | None) -> bool:
    """The server refused a write as read-only (25006), directly or as the cause of an API error."""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
            return True
        exc = exc.__cause__
    return False
