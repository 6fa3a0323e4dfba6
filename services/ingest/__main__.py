"""`python -m services.ingest`: the HTTP server (Granian) configured by the `INGEST_*` environment (the container's
entry, and `fitpipe ingest serve`'s)."""

from __future__ import annotations

import sys
from typing import Final

from pydantic import ValidationError

from services.common.settings import KafkaCredentialsError
from services.ingest.keys import KeyChecker, KeyStoreError
from services.ingest.settings import IngestSettings, describe_error

EXIT_SETTINGS: Final = 2


def _error(message: str) -> int:
    print(f"ingest: error: {message}", file=sys.stderr)
    return EXIT_SETTINGS


def check_settings() -> IngestSettings:
    """The settings from the environment, each a one-line error when bad (raises SystemExit(2))."""
    try:
        settings = IngestSettings()
        settings.kafka_security()
        KeyChecker(settings.keys_file)
    except ValidationError as exc:
        raise SystemExit(_error(describe_error(exc))) from None
    except (KafkaCredentialsError, KeyStoreError) as exc:
        raise SystemExit(_error(str(exc))) from None
    return settings


def serve(settings: IngestSettings) -> None:
    """Run the server until SIGTERM or SIGINT: it stops taking connections, lets the requests in flight finish (the
    producer flushes on the way out), then exits."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    Granian(
        "services.ingest.app:from_environment",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=1,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_read_timeout_s * 1000)),
        log_access=False,
        backlog=1024,
    ).serve()


def main() -> int:
    serve(check_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
