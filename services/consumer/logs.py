"""One log line per event, with bound fields: JSON when not on a terminal, readable when on one."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

LOGGER_NAME = "services.consumer"


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        if self.as_json:
            entry = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                "level": record.levelname.lower(),
                "event": record.getMessage(),
                **fields,
            }
            if record.exc_info:
                entry["error"] = self.formatException(record.exc_info)
            return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        bound = " ".join(f"{k}={v}" for k, v in fields.items())
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"{clock} {record.levelname:<7} {record.getMessage()}" + (f"  {bound}" if bound else "")


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(as_json=not stream.isatty()))
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def event(level: int, message: str, **fields: Any) -> None:
    logging.getLogger(LOGGER_NAME).log(level, message, extra={"fields": fields})
