"""librdkafka's log through the project's logging, for every Kafka client (producer, consumer, admin).

Each client gets `client_logging(service)` in its configuration: confluent-kafka's `logger` setting, a logger named
`<service>.librdkafka`, under the service's own logger. librdkafka retries a broker it cannot reach every second
and logs each try; a user needs one line that says what to do, not a page of retries. So, by default:

- a fresh broker's "coordinator load in progress" answers, which librdkafka asks again about, are held back;
- connection failures (refused, brokers down, timed out) are held back too, and the latest reason is kept
  (`last_failure`), for the one-line error that says what to do when the client gives up;
- at most one line a minute says that the connection is being retried, at INFO (a service's log and
  `fitpipe produce` show it; `fitpipe consume` and `fitpipe demo`, at WARNING unless `-v`, do not);
- everything else from librdkafka passes at its own level.

`show_detail` (the command line's `-v`) or `KAFKA_LOG_LEVEL=debug|info|warning|error` in the environment passes
every librdkafka line from that level up, retries included, for debugging.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Final

#: The environment variable that asks for librdkafka's detail, from a level up (e.g. `KAFKA_LOG_LEVEL=debug`).
LOG_LEVEL_ENV: Final = "KAFKA_LOG_LEVEL"
#: librdkafka's own threshold (syslog levels) when every line is asked for: 7 is debug.
_SYSLOG_DEBUG: Final = 7
#: How often a client that keeps failing to connect says so, at INFO (seconds).
RETRY_NOTICE_EVERY_S: Final = 60.0

# "FAIL [rdkafka#consumer-1] [thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ... failed: ..."
_LINE = re.compile(r"^(?P<facility>\S+) \[(?P<client>[^\]]+)\] (?:\[thrd:[^\]]*\]: )?(?:\S+/\S+: )?(?P<text>.*)$")
_AFTER = re.compile(r"\s*\(after \d+ms in state \w+\)\s*$")
_RETRY_FACILITIES: Final = frozenset({"FAIL", "BROKERFAIL", "REQTMOUT", "CONNECT"})
_RETRY_WORDS: Final = (
    "Connection refused",
    "brokers are down",
    "Disconnected",
    "Connect to",
    "Failed to resolve",
    "timed out",
)
#: A broker that answers but is still setting up (a fresh broker loads its coordinators): the client waits.
_WAIT_WORDS: Final = ("Coordinator load in progress", "Coordinator not available", "Leader not available")


class _Retries(logging.Filter):
    """Holds back librdkafka's connection retries unless detail was asked for; keeps the latest reason."""

    def __init__(self, logger: logging.Logger):
        super().__init__()
        self.logger = logger
        self.detail = False
        self.last_failure: str | None = None
        self._next_notice = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.detail:
            return True
        match = _LINE.match(record.getMessage())
        if match is None:
            return True
        text = match["text"]
        if any(word in text for word in _WAIT_WORDS):
            return False  # not a failure: the broker answered, and librdkafka asks again shortly
        if match["facility"] not in _RETRY_FACILITIES and not any(word in text for word in _RETRY_WORDS):
            return True
        reason = _AFTER.sub("", text)
        if "failed: " in reason:
            reason = reason.split("failed: ", 1)[1]
        self.last_failure = reason
        now = time.monotonic()
        if now < self._next_notice or not self.logger.isEnabledFor(logging.INFO):
            return False
        self._next_notice = now + RETRY_NOTICE_EVERY_S
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.msg, record.args = f"retrying the Kafka connection: {reason}", ()
        return True


def _retries(service: str) -> _Retries:
    logger = logging.getLogger(f"{service}.librdkafka")
    for existing in logger.filters:
        if isinstance(existing, _Retries):
            return existing
    retries = _Retries(logger)
    logger.addFilter(retries)
    level = os.environ.get(LOG_LEVEL_ENV, "").strip().upper()
    if isinstance(logging.getLevelName(level), int):
        show_detail(service, logging.getLevelName(level))
    return retries


def client_logging(service: str) -> dict[str, Any]:
    """The settings to merge into a Kafka client's configuration so that librdkafka logs through `service`'s
    logger (`services.producer`, `services.consumer`, ...), quietly unless detail was asked for."""
    retries = _retries(service)
    config: dict[str, Any] = {"logger": retries.logger}
    if retries.detail:
        config["log_level"] = _SYSLOG_DEBUG
    return config


def show_detail(service: str, level: int = logging.DEBUG) -> None:
    """Pass every librdkafka line of `service`'s clients from `level` up, connection retries included."""
    retries = _retries(service)
    retries.detail = True
    retries.logger.setLevel(level)


def last_failure(service: str, client: Any = None) -> str | None:
    """The latest reason a client of `service` could not reach a broker (e.g. `Connection refused`), if any.

    librdkafka queues its log lines until the client is polled: with `client`, its queued lines are served first
    (`poll(0)`; for a consumer, only before it subscribes, when there is no message to take)."""
    if client is not None:
        client.poll(0)
    return _retries(service).last_failure
