"""A first mistake: `fitpipe consume` and `fitpipe produce` pointed at a port where no broker listens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.common.test_kafka_logs import closed_port

WHAT_TO_DO = "start one with `fitpipe kafka start`, or pass --bootstrap HOST:PORT"


def test_consume_and_produce_at_a_closed_port_say_what_to_do_in_a_few_lines(tmp_path: Path) -> None:
    address = closed_port()
    commands = {
        "consume": ["consume", "--bootstrap", address, "--until-caught-up", "--lake", str(tmp_path / "lake")],
        "produce": ["produce", "simulate", "--bootstrap", address, "--users", "1", "--days", "1"],
        "consume -v": ["consume", "-v", "--bootstrap", address, "--until-caught-up", "--lake", str(tmp_path / "v")],
    }
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_LOG_LEVEL"}
    outputs = {name: (tmp_path / f"{index}.out", tmp_path / f"{index}.err") for index, name in enumerate(commands)}
    running = {}
    for name, args in commands.items():  # side by side: each waits for its client's timeout
        out, err = outputs[name]
        with out.open("w") as stdout, err.open("w") as stderr:
            command = [sys.executable, "-m", "fitpipe", *args]
            running[name] = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
    done = {
        name: (process.wait(timeout=120), outputs[name][0].read_text(), outputs[name][1].read_text())
        for name, process in running.items()
    }

    for name in ("consume", "produce"):
        code, out, err = done[name]
        lines = err.strip().splitlines()
        assert code != 0 and out == "", (name, code, out)
        assert 1 <= len(lines) <= 3, (name, err)
        assert any(WHAT_TO_DO in line for line in lines), (name, err)
        assert "Connection refused" in lines[-1], "the one line gives librdkafka's reason"
        assert "rdkafka#" not in err, err

    code, _, err = done["consume -v"]
    assert code != 0
    assert err.count("Connection refused") > 3 and "rdkafka#consumer" in err, "-v shows librdkafka's detail"
