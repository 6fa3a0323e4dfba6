"""`python -m services.compactor`: the compactor with its settings from `COMPACTOR_*` environment variables.

One run, then it exits: 0 after the run, 2 for a setting to fix, 1 on failure. With `COMPACTOR_INTERVAL_S` it keeps
running (as on the host): a run every interval, counted from the end of the previous one, until SIGTERM; a failed
run is counted in its metrics and the next run tries again.
"""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from services.common import logs
from services.common.settings import describe_error
from services.compactor.compactor import log
from services.compactor.service import serve
from services.compactor.settings import ENV_PREFIX, CompactorSettings


def main() -> int:
    logs.configure("services.compactor")
    try:
        settings = CompactorSettings()
    except ValidationError as exc:
        log.error("bad setting", error=describe_error(exc, ENV_PREFIX))
        return 2
    return serve(settings)


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
