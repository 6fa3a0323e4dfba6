"""`python -m services.compactor`: one compaction run with its settings from `COMPACTOR_*` environment variables.

It exits when the run is done (a timer starts the next one): 0 after a run, 2 for a setting to fix, 1 on failure.
"""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from services.common import logs
from services.common.settings import describe_error
from services.compactor.compactor import log, run
from services.compactor.settings import ENV_PREFIX, CompactorSettings


def main() -> int:
    logs.configure("services.compactor")
    try:
        settings = CompactorSettings()
    except ValidationError as exc:
        log.error(f"bad setting: {describe_error(exc, ENV_PREFIX)}")
        return 2
    try:
        run(settings)
    except Exception:
        log.error("compaction failed; the table is as the last commit left it", exc_info=True)
        return 1
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
