"""The one stop-signal helper, with real signals sent to this process (pytest runs tests in the main thread)."""

from __future__ import annotations

import os
import signal

import pytest

from services.common.stop import StopRequest


def test_a_second_ctrl_c_interrupts_at_once() -> None:
    stop = StopRequest()
    with stop.installed():
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_a_run_with_its_own_hook_hears_each_signal_and_whether_it_repeats() -> None:
    heard: list[tuple[str, bool]] = []
    stop = StopRequest(on_signal=lambda name, repeated: heard.append((name, repeated)))
    with stop.installed():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: the hook decides
    assert heard == [("SIGTERM", False), ("SIGINT", True)]
    assert stop.requested and stop.signal_name == "SIGINT"


def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest().installed():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
