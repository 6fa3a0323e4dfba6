"""Logs of the services: one line per event with its bound fields; JSON when not on a terminal, readable when on one."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import orjson

_FIELDS = "fields"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **getattr(record, _FIELDS, {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # Fields may be keyed by number (offsets per partition): orjson writes those keys as strings.
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, _FIELDS, {}).items())
        text = f"{stamp} {record.levelname:<7} {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(name: str, level: int | str = logging.INFO, json: bool | None = None, stream: Any = None) -> None:
    """Send the logs under `name` (a service's, with librdkafka's) to `stream` (stderr), as JSON unless a terminal."""
    stream = stream or sys.stderr
    as_json = not stream.isatty() if json is None else json
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JsonFormatter() if as_json else _ConsoleFormatter())
    root = logging.getLogger(name)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class EventLog:
    """A logger with bound fields: `log.bind(topic=t).info("topic created", partitions=3)`."""

    def __init__(self, name: str, **fields: Any):
        self._logger = logging.getLogger(name)
        self._fields = fields

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def bind(self, **fields: Any) -> EventLog:
        return EventLog(self._logger.name, **{**self._fields, **fields})

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={_FIELDS: {**self._fields, **fields}}, exc_info=exc_info)

    def log(self, level: int, event: str, **fields: Any) -> None:
        self._log(level, event, fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, exc_info: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields, exc_info=exc_info)
