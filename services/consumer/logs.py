"""The consumer's logs: the services' one-line event logs (`services.common.logs`) under `services.consumer`."""

from __future__ import annotations

import logging
from typing import Any

from services.common import logs

LOGGER_NAME = "services.consumer"

#: `log.info("batch landed", partition=0, ...)`: one line with its fields, as every service logs.
log = logs.EventLog(LOGGER_NAME)


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    logs.configure(LOGGER_NAME, level, stream=stream)
