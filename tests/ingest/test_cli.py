"""`fitpipe ingest keys|serve` and `python -m services.ingest`: what they print, and one-line errors with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fitpipe.cli import main
from services.ingest import keys
from services.producer.simulator import user_ids
from tests.conftest import REPO_ROOT


def test_keys_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    store = tmp_path / "keys.json"
    assert main(["ingest", "keys", "create", "--client", "watch", "--users", "7,8", "--keys-file", str(store)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("fpk_")
    assert main(["ingest", "keys", "create", "--client", "sim", "--simulated", "3", "--keys-file", str(store)]) == 0
    capsys.readouterr()
    watch, sim = keys.entries(store)
    assert watch.users == [7, 8] and sim.users == user_ids(3, 42)
    assert keys.KeyChecker(store).client(key).users == frozenset({7, 8})
    assert main(["ingest", "keys", "revoke", watch.id, "--keys-file", str(store)]) == 0
    assert main(["ingest", "keys", "list", "--keys-file", str(store)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"{watch.id}\twatch\t7,8") and "revoked" in listed[0]
    assert listed[1].endswith("active")
    assert key not in store.read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ["ingest", "keys", "create", "--client", "x", "--users", "a,b"],
        ["ingest", "keys", "create", "--client", "x"],
        ["ingest", "keys", "revoke", "nothere"],
    ],
)
def test_key_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]):
    assert main([*argv, "--keys-file", str(tmp_path / "k.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fitpipe ingest: error:") and "\n" not in err


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("INGEST_PORT", "0", "INGEST_PORT"),
        ("INGEST_MAX_RECORDS", "lots", "INGEST_MAX_RECORDS"),
        ("INGEST_ACK_TIMEOUT_S", "-1", "INGEST_ACK_TIMEOUT_S"),
        ("INGEST_SECURITY_PROTOCOL", "SASL_SSL", "SASL_USERNAME"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(variable: str, value: str, named: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")} | {variable: value}
    done = subprocess.run(
        [sys.executable, "-m", "services.ingest"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ingest: error:") and named in lines[0]


def test_a_broken_key_store_is_one_line_and_exit_2(tmp_path: Path):
    store = tmp_path / "keys.json"
    store.write_text("[")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")} | {"INGEST_KEYS_FILE": str(store)}
    done = subprocess.run(
        [sys.executable, "-m", "services.ingest"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "not a key store" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_serve_with_a_bad_flag_is_one_line(capsys: pytest.CaptureFixture[str]):
    assert main(["ingest", "serve", "--bootstrap", "127.0.0.1:1", "--max-records", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fitpipe ingest: error: --max-records") and "\n" not in err


def test_simulate_via_needs_a_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("FITPIPE_INGEST_KEY", raising=False)
    assert main(["produce", "simulate", "--via", "http://127.0.0.1:1", "--users", "1", "--days", "1"]) == 2
    assert "FITPIPE_INGEST_KEY" in capsys.readouterr().err


@pytest.mark.integration
def test_serve_and_simulate_via_the_front_end(kafka_bootstrap: str, topic_name: str, tmp_path: Path):
    """The design's path on one machine: the simulator -> `fitpipe ingest serve` over HTTP -> Kafka."""
    import signal

    from fitpipe.kafka.broker import free_port
    from tests.ingest.conftest import Ingest, wait_healthy
    from tests.producer.kafka_helpers import end_offsets_total

    store = tmp_path / "keys.json"
    fitpipe = [sys.executable, "-m", "fitpipe"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "PRODUCER_"))}
    create = [*fitpipe, "ingest", "keys", "create", "--client", "sim", "--simulated", "2", "--keys-file", str(store)]
    key = subprocess.run(create, env=env, capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    serve = [*fitpipe, "ingest", "serve", "--bootstrap", kafka_bootstrap, "--topic", topic_name, "--port", str(port)]
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [*serve, "--keys-file", str(store)], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO_ROOT
    )
    try:
        wait_healthy(Ingest(f"http://127.0.0.1:{port}", key, topic_name, store, server, log))
        send = [*fitpipe, "produce", "simulate", "--users", "2", "--days", "1", "--via", f"http://127.0.0.1:{port}"]
        done = subprocess.run(send, env=env | {"FITPIPE_INGEST_KEY": key}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "2,880 records through" in done.stderr and "2,880 accepted, 0 refused" in done.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert end_offsets_total(kafka_bootstrap, topic_name) == 2880


def test_the_readme_lists_every_setting_with_its_default():
    from services.common.settings import KafkaClientSettings
    from services.ingest.settings import ENV_PREFIX, IngestSettings

    readme = (REPO_ROOT / "README.md").read_text()
    for name, info in IngestSettings.model_fields.items():
        if name in KafkaClientSettings.model_fields:
            continue
        default = "" if info.default is None else str(info.default)
        default = default.lower() if isinstance(info.default, bool) else default
        cell = f"| `{ENV_PREFIX}{name.upper()}` | " + (f"`{default}` |" if default else "|")
        assert cell in readme, cell
