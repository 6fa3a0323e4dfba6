"""The producer's own logic without a broker: settings, pacing, the delivery latch, user mistakes."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.names import TOPIC
from fitpipe.kafka.broker import free_port
from services.producer.day_stream import read_frames, write_frame
from services.producer.kafka_producer import (
    KafkaUnavailable,
    ProduceSummary,
    StopRequest,
    _chunks,
    _Deliveries,
    _hand_over,
    _paced,
    ensure_topic,
    format_summary,
    producer_config,
)
from services.producer.run import BackfillDays, _from_minute, start_date
from services.producer.settings import DEFAULT_BACKFILL_START, ProducerSettings, describe_error, settings_table
from services.producer.simulator import SimulationError
from tests.conftest import REPO_ROOT
from tests.producer.conftest import producer_env, run_service
from tests.strategies import sample_record

# -- settings ------------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [n for n in __import__("os").environ if n.startswith("PRODUCER_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_settings_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PRODUCER_BOOTSTRAP_SERVERS", "kafka:9092")
    clean_env.setenv("PRODUCER_USER_IDS", "1503960366, 2022484408,8877689391")
    clean_env.setenv("PRODUCER_START_DATE", "2016-05-01")
    clean_env.setenv("PRODUCER_MODE", "live")
    clean_env.setenv("PRODUCER_SPEED", "60")
    clean_env.setenv("PRODUCER_REPLAY_DIR", "/data/fitabase")
    settings = ProducerSettings()
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.user_ids == [1503960366, 2022484408, 8877689391]
    assert settings.user_count == 3
    assert settings.start_date == dt.date(2016, 5, 1)
    assert (settings.mode, settings.speed) == ("live", 60.0)
    assert settings.replay_dir == Path("/data/fitabase")
    assert settings.topic == TOPIC


def test_flags_override_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PRODUCER_DAYS", "3")
    clean_env.setenv("PRODUCER_USERS", "10")
    assert ProducerSettings(days=5).days == 5
    assert ProducerSettings(days=5).users == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PRODUCER_DAYS", "0", "PRODUCER_DAYS: Input should be greater than or equal to 1"),
        ("PRODUCER_MODE", "fast", "PRODUCER_MODE: Input should be 'backfill' or 'live'"),
        ("PRODUCER_USER_IDS", "1,x", "PRODUCER_USER_IDS"),
        ("PRODUCER_USER_IDS", "5,5", "PRODUCER_USER_IDS: Value error, user ids must be distinct"),
        ("PRODUCER_SPEED", "-1", "PRODUCER_SPEED: Input should be greater than 0"),
        ("PRODUCER_START_DATE", "12/4/2016", "PRODUCER_START_DATE"),
    ],
)
def test_a_bad_setting_names_its_variable(clean_env: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        ProducerSettings()
    text = describe_error(error.value)
    assert message in text
    assert "\n" not in text


#: The README's table of the producer's settings, written from it: variable and default.
README_SETTINGS = {
    "PRODUCER_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "PRODUCER_SECURITY_PROTOCOL": "PLAINTEXT",
    "PRODUCER_SSL_CA_LOCATION": "",
    "PRODUCER_SASL_MECHANISM": "SCRAM-SHA-512",
    "PRODUCER_AWS_REGION": "",
    "PRODUCER_SASL_USERNAME": "",
    "PRODUCER_SASL_PASSWORD": "",
    "PRODUCER_SASL_SECRET_ARN": "",
    "PRODUCER_TOPIC": "fitness-data",
    "PRODUCER_PARTITIONS": "3",
    "PRODUCER_USERS": "33",
    "PRODUCER_USER_IDS": "",
    "PRODUCER_SEED": "42",
    "PRODUCER_START_DATE": "",
    "PRODUCER_DAYS": "7",
    "PRODUCER_MODE": "backfill",
    "PRODUCER_SPEED": "1.0",
    "PRODUCER_REPLAY_DIR": "",
    "PRODUCER_COMPRESSION": "lz4",
    "PRODUCER_PROGRESS": "",
    "PRODUCER_METRICS_PORT": "",
    "PRODUCER_METRICS_ADDRESS": "127.0.0.1",
    "PRODUCER_STATISTICS_INTERVAL_MS": "10000",
}


def test_settings_table_lists_every_variable() -> None:
    assert {name: default for name, default, _ in settings_table()} == README_SETTINGS
    assert all(description for _, _, description in settings_table())


def test_backfill_starts_on_the_fitabase_calendar_and_live_today(clean_env: pytest.MonkeyPatch) -> None:
    now = dt.datetime(2026, 11, 28, 14, 30, 12)
    assert start_date(ProducerSettings(), now) == DEFAULT_BACKFILL_START
    assert start_date(ProducerSettings(mode="live"), now) == dt.date(2026, 11, 28)
    assert start_date(ProducerSettings(mode="live", start_date="2020-01-01"), now) == dt.date(2020, 1, 1)


def test_live_mode_joins_the_stream_at_the_current_minute() -> None:
    records = [sample_record(time=t) for t in ("14:28:00", "14:29:00", "14:30:00", "14:30:00", "14:31:00")]
    kept = list(_from_minute(records, dt.datetime(2016, 4, 12, 14, 30)))
    assert [r["time"] for r in kept] == ["14:30:00", "14:30:00", "14:31:00"]


# -- the producer's logic ------------------------------------------------------------------------------------------


def test_client_settings_are_safe() -> None:
    config = producer_config("k:9092", "zstd")
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["compression.type"] == "zstd"
    with pytest.raises(ValueError, match="compression"):
        producer_config("k:9092", "brotli")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_live_pacing_releases_each_minute_at_its_time() -> None:
    clock = _Clock()
    records = [
        sample_record(id=i, time=t) for i, t in ((1, "10:00:00"), (2, "10:00:00"), (1, "10:01:00"), (1, "10:04:00"))
    ]
    released = []
    for record in _paced(records, speed=60.0, wait=clock.wait, stop=StopRequest(), clock=clock):
        released.append((record["time"], clock.now - 100.0))
    # 60 event seconds per second: one event minute per second.
    assert released == [
        ("10:00:00", 0.0),
        ("10:00:00", 0.0),
        ("10:01:00", pytest.approx(1.0)),
        ("10:04:00", pytest.approx(4.0)),
    ]
    assert max(clock.waits) <= 0.25  # waits in short steps, so a stop request is seen quickly


def test_live_pacing_stops_when_asked() -> None:
    clock = _Clock()
    stop = StopRequest()
    records = [sample_record(time=f"10:{m:02d}:00") for m in range(10)]

    def wait(seconds: float) -> None:
        clock.wait(seconds)
        if clock.now - 100.0 > 2.5:
            stop.requested = True

    released = list(_paced(records, speed=60.0, wait=wait, stop=stop, clock=clock))
    assert [r["time"] for r in released] == ["10:00:00", "10:01:00", "10:02:00"]


class _Error:
    def __init__(self, text: str, fatal: bool = False, name: str = "MSG_SIZE_TOO_LARGE") -> None:
        self.text, self._fatal, self._name = text, fatal, name

    def str(self) -> str:
        return self.text

    def name(self) -> str:
        return self._name

    def fatal(self) -> bool:
        return self._fatal


class _Message:
    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def key(self) -> bytes:
        return b"1"


def test_the_delivery_callback_counts_failures_and_keeps_the_first() -> None:
    deliveries = _Deliveries()
    deliveries(None, _Message())
    assert (deliveries.errors, deliveries.first) == (0, None)
    first = _Error("Broker: Message size too large")
    deliveries(first, _Message())
    deliveries(_Error("Local: Message timed out", name="_MSG_TIMED_OUT"), _Message())
    assert deliveries.errors == 2
    assert deliveries.by_reason == {"MSG_SIZE_TOO_LARGE": 1, "_MSG_TIMED_OUT": 1}
    assert deliveries.first is first
    deliveries.fatal(_Error("transient", fatal=False))
    assert deliveries.first is first
    fatal = _Deliveries()
    fatal.fatal(_Error("idempotence broken", fatal=True))
    assert fatal.first is not None and fatal.first.str() == "idempotence broken"


class _QueueingProducer:
    """A stand-in for librdkafka's queue: refuses the third record once for a full queue and the fifth for good."""

    def __init__(self, refusal: Exception) -> None:
        self.queued: list[tuple[bytes, ...]] = []
        self.refusal = refusal
        self.full_once = True
        self.polls = 0

    def __len__(self) -> int:
        return 0

    def poll(self, timeout: float) -> int:
        self.polls += 1
        return 0

    def produce(self, topic: str, value: bytes, key: bytes, *partition: int) -> None:
        if key == b"3" and self.full_once:
            self.full_once = False
            raise BufferError("Local: Queue full")
        if key == b"5":
            raise self.refusal
        self.queued.append((key, value, *partition))


@pytest.mark.parametrize("placed", [False, True], ids=["client-partitioned", "placed"])
def test_records_refused_for_a_full_queue_are_queued_again_in_order_and_others_are_delivery_errors(
    placed: bool,
) -> None:
    from confluent_kafka import KafkaError, KafkaException

    refusal = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    producer = _QueueingProducer(refusal)
    deliveries = _Deliveries()
    keys = [str(n).encode() for n in range(1, 8)]
    values = [b"v" + k for k in keys]
    partitions = [n % 3 for n in range(1, 8)] if placed else None
    size = _hand_over(producer, TOPIC, (keys, values, partitions), 100, deliveries)  # type: ignore[arg-type]
    assert size == sum(map(len, values))
    expected = zip(keys, values, *([partitions] if partitions else []), strict=True)
    assert producer.queued == [record for record in expected if record[0] != b"5"]
    assert producer.polls == 1
    assert deliveries.errors == 1
    assert deliveries.by_reason == {"MSG_SIZE_TOO_LARGE": 1}
    assert deliveries.first is refusal.args[0]


def test_pairs_are_chunked_in_order_into_keys_and_values() -> None:
    pairs = [(str(n).encode(), b"v%d" % n) for n in range(10)]
    chunks = list(_chunks(iter(pairs), size=4))
    assert [len(keys) for keys, _ in chunks] == [4, 4, 2]
    assert [pair for keys, values in chunks for pair in zip(keys, values, strict=True)] == pairs
    assert list(_chunks(iter([]))) == []


def test_frames_of_the_day_stream_read_back_as_written() -> None:
    out = io.BytesIO()
    frames = [(b"K", b"1,2"), (b"D", b'{"id":1}\n' * 3), (b".", b"")]
    for tag, body in frames:
        write_frame(out, tag, body)
    assert list(read_frames(io.BytesIO(out.getvalue()))) == frames
    with pytest.raises(EOFError):
        list(read_frames(io.BytesIO(out.getvalue()[:-1])))


def test_an_error_in_the_simulating_process_is_raised_where_the_days_are_taken() -> None:
    with pytest.raises(SimulationError, match="seed"):
        list(BackfillDays(ProducerSettings(users=2, days=1, seed=-1)))


def test_days_taken_in_part_end_the_simulating_process() -> None:
    days = BackfillDays(ProducerSettings(users=2, days=50, seed=1, user_ids="1503960366,2022484408"))
    keys, values = next(days)
    assert set(keys) == {b"1503960366", b"2022484408"} and len(values) == 2 * 1440
    days.close()  # waits for the process, which sees the pipe closed
    assert days._process.returncode is not None


def test_days_never_taken_end_the_simulating_process_too() -> None:
    # The process starts with the stream, before the producer sets up; a setup that fails must not leave it behind.
    with BackfillDays(ProducerSettings(users=3, days=50, seed=1)) as days:
        assert days._process.returncode is None
    assert days._process.returncode is not None


def test_summary_line() -> None:
    summary = ProduceSummary(topic="fitness-data", records=2000, delivered=1990, errors=10, bytes=300_000, seconds=0.5)
    assert summary.rate == 4000
    assert format_summary(summary) == (
        "2,000 records to 'fitness-data' in 0.5 s (4,000 records/s, 150 B each), 1,990 delivered, 10 errors"
    )


def test_an_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(KafkaUnavailable, match=r"no Kafka broker answered at 127\.0\.0\.1:\d+ within 2 s"):
        ensure_topic(f"127.0.0.1:{free_port()}", "t", 3, timeout=2)


# -- user mistakes at the command line -------------------------------------------------------------------------------


def _fitpipe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fitpipe", *args],
        cwd=REPO_ROOT,
        env=producer_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["produce", "replay", "no-such-folder"], {}, "no-such-folder is not a folder"),
        (["produce", "simulate"], {}, "no Kafka broker given: start one with `fitpipe kafka start`"),
        (["produce", "simulate", "--bootstrap", "k:1"], {"PRODUCER_USERS": "many"}, "PRODUCER_USERS"),
    ],
)
def test_cli_mistakes_are_one_line(tmp_path: Path, args: list[str], env: dict[str, str], message: str) -> None:
    result = _fitpipe(*args, env={"FITPIPE_KAFKA_HOME": str(tmp_path / "no-broker"), **env})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_container_entry_setting_mistake_is_one_line() -> None:
    result = run_service(PRODUCER_MODE="sometimes")
    assert result.returncode == 2
    assert result.stderr.strip() == "producer: error: PRODUCER_MODE: Input should be 'backfill' or 'live'"


def test_readme_documents_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [name for name, _, _ in settings_table() if f"`{name}`" not in readme]
    assert not missing, f"README's producer settings table lacks {missing}"
