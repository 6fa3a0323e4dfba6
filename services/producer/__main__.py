"""`python -m services.producer`: one run configured by the `PRODUCER_*` environment (the container's entry)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from services.common import logs
from services.common.settings import KafkaCredentialsError
from services.producer.kafka_producer import DeliveryFailed, KafkaUnavailable, format_summary
from services.producer.replay import ReplayError
from services.producer.run import run
from services.producer.settings import ProducerSettings, describe_error

#: Exit codes: 1 when records were not delivered or Kafka did not answer, 2 for a setting to fix.
EXIT_FAILED, EXIT_SETTINGS = 1, 2


def _error(message: str, exit_code: int) -> int:
    print(f"producer: error: {message}", file=sys.stderr)
    return exit_code


def main() -> int:
    logs.configure("services.producer")
    log = logs.EventLog("services.producer")
    try:
        settings = ProducerSettings()
        settings.kafka_security()  # reads the credentials' secret, if one is named, once and now
    except ValidationError as exc:
        return _error(describe_error(exc), EXIT_SETTINGS)
    except KafkaCredentialsError as exc:
        return _error(str(exc), EXIT_SETTINGS)
    try:
        summary = run(settings)
    except ReplayError as exc:
        return _error(str(exc), EXIT_SETTINGS)
    except KafkaUnavailable as exc:
        return _error(f"{exc}; check PRODUCER_BOOTSTRAP_SERVERS", EXIT_FAILED)
    except DeliveryFailed as exc:
        return _error(f"{format_summary(exc.summary)}; first error: {exc.summary.first_error}", EXIT_FAILED)
    log.info("summary", summary=format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
