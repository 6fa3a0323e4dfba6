"""The one stop-signal helper of the services: SIGTERM (a container stop) and SIGINT (Ctrl-C) ask a run to stop
cleanly; a second Ctrl-C interrupts at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class StopRequest:
    """Set by SIGTERM or SIGINT while `installed`; a run checks `requested` and ends, keeping what it did."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Install the handlers for the duration (only the main thread can; elsewhere, do nothing)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


__all__ = ["StopRequest"]
