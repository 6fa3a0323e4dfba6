"""`python -m services.consumer`: run the consumer with its settings from `CONSUMER_*` environment variables."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from services.common.settings import KafkaCredentialsError
from services.consumer import logs
from services.consumer.settings import ConsumerSettings, describe_error
from services.consumer.writer import ConsumerError, run


def main() -> int:
    logs.configure()
    try:
        settings = ConsumerSettings()
        settings.kafka_security()  # reads the credentials' secret, if one is named, once and now
    except ValidationError as exc:
        logs.log.error("bad setting", error=describe_error(exc))
        return 2
    except KafkaCredentialsError as exc:
        logs.log.error("no Kafka credentials", error=str(exc))
        return 2
    try:
        run(settings)
    except ConsumerError as exc:
        logs.log.error("consumer failed", error=str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
