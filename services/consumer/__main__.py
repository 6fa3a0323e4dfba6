"""`python -m services.consumer`: run the consumer with its settings from `CONSUMER_*` environment variables."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from services.consumer import logs
from services.consumer.settings import ConsumerSettings
from services.consumer.writer import ConsumerError, run


def main() -> int:
    logs.configure()
    try:
        settings = ConsumerSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        logs.event(logging.ERROR, f"bad setting: {('CONSUMER_' + where.upper() + ': ') if where else ''}{first['msg']}")
        return 2
    try:
        run(settings)
    except ConsumerError as exc:
        logs.event(logging.ERROR, str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
