"""The one stop-signal helper of the services: SIGTERM (a container stop) and SIGINT (Ctrl-C) ask a run to stop
cleanly; a second Ctrl-C interrupts at once, unless the run handles signals itself (`on_signal`)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


class StopRequest:
    """Set by SIGTERM or SIGINT while `installed`; a run checks `requested` and ends, keeping what it did."""

    def __init__(self, on_signal: Callable[[str, bool], None] | None = None) -> None:
        self.requested = False
        self.signal_name: str | None = None
        #: Called with the signal's name and whether a stop was already requested, in place of the KeyboardInterrupt
        #: of a second Ctrl-C: for a run that stops in its own way (the consumer abandons its open batches).
        self.on_signal = on_signal

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        repeated = self.requested
        if repeated and signum == signal.SIGINT and self.on_signal is None:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        if self.on_signal is not None:
            self.on_signal(self.signal_name, repeated)

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
