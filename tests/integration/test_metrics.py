"""The services' metrics, scraped over HTTP from a producer and a consumer running against the real broker."""

from __future__ import annotations

import datetime as dt
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import metric_names as m
from services.consumer.writer import LakeWriter
from services.producer.kafka_producer import StopRequest, produce
from services.producer.metrics import ProducerMetrics
from services.producer.run import run as run_producer
from services.producer.settings import ProducerSettings
from tests.consumer.conftest import (
    Background,
    aws_env,  # noqa: F401  (boto3's credentials for the moto server)
    create_topic,
    free_port,
    make_records,
    settings_for,
    start_moto,
    wait_until,
)
from tests.consumer.conftest import produce as produce_raw
from tests.producer.kafka_helpers import producer_settings

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def names_in(samples: dict) -> set[str]:
    return {n for n, _ in samples}


def test_producer_and_consumer_metrics_account_for_every_record(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    n = 3000
    records = make_records(n, seed=5)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)

    # librdkafka's statistics come every interval while the client lives: one short enough that even a fast run
    # of N records (topic metadata, produce, acknowledgements) outlives it, so the queue figures exist.
    producer_metrics = ProducerMetrics(statistics_interval_ms=10)
    producer_server = producer_metrics.serve(free_port())
    try:
        produce(
            records,
            producer_settings(kafka_bootstrap, topic_name, partitions=3, progress=False),
            metrics=producer_metrics,
        )
        produced = scrape(producer_server.url)
    finally:
        producer_server.close()
    assert value(produced, m.PRODUCER_RECORDS.name) == n
    assert value(produced, m.PRODUCER_BYTES.name) == sum(len(v) for v in _encoded(records))
    assert total(produced, m.PRODUCER_DELIVERY_ERRORS.name) == 0
    # librdkafka's statistics arrive while the producer polls: the last ones of the run, at most everything.
    assert 0 <= value(produced, m.PRODUCER_QUEUE_MESSAGES.name) <= n
    assert names_in(produced) >= {m.PRODUCER_RECORDS.name, m.PRODUCER_QUEUE_BYTES.name}

    settings = settings_for(
        kafka_bootstrap,
        topic_name,
        lake_dir=tmp_path,
        flush_interval_s=1.0,
        metrics_port=free_port(),
        statistics_interval_ms=200,
    )
    writer = LakeWriter(settings)
    started = time.time()
    with Background(writer):
        assert writer.metrics_server is not None
        url = writer.metrics_server.url
        assert url.startswith("http://127.0.0.1:")
        assert wait_until(lambda: value(scrape(url), m.CONSUMER_RECORDS_LANDED.name) == n, 60)
        assert wait_until(lambda: _lag(scrape(url)) == {"0": 0.0, "1": 0.0, "2": 0.0}, 30), _lag(scrape(url))
        landed = scrape(url)
        newest = max((r["date"], r["time"]) for r in records)
        expected = dt.datetime.fromisoformat(f"{newest[0]}T{newest[1]}").replace(tzinfo=dt.UTC).timestamp()
        assert value(landed, m.CONSUMER_NEWEST_EVENT.name) == expected
        assert value(landed, m.CONSUMER_RECORDS_READ.name) == n
        assert total(landed, m.CONSUMER_DEAD_LETTERS.name) == 0
        assert value(landed, m.CONSUMER_FILES.name) == len(list(tmp_path.rglob("*.json.gz")))
        assert value(landed, m.CONSUMER_BYTES.name) == sum(p.stat().st_size for p in tmp_path.rglob("*.json.gz"))
        assert started <= value(landed, m.CONSUMER_LAST_COMMIT.name) <= time.time()
        assert all(v == 0 for (n_, _), v in landed.items() if n_ == m.CONSUMER_LAG_SECONDS.name)

        produce_raw(kafka_bootstrap, topic_name, [b"steps=12"], [b"1503960366"])
        assert wait_until(lambda: total(scrape(url), m.CONSUMER_DEAD_LETTERS.name) == 1, 30)
        after = scrape(url)
        assert value(after, m.CONSUMER_DEAD_LETTERS.name, reason="not_json") == 1
        assert value(after, m.CONSUMER_RECORDS_READ.name) == n + 1
        assert value(after, m.CONSUMER_RECORDS_LANDED.name) == n
    emitted = names_in(landed) | names_in(after)
    expected_names = {x.name for x in m.of_service(m.CONSUMER)}
    assert {_family(s) for s in emitted} >= expected_names


def test_the_producer_service_serves_its_metrics_while_it_runs(kafka_bootstrap: str, topic_name: str) -> None:
    port = free_port()
    settings = ProducerSettings(
        bootstrap_servers=kafka_bootstrap,
        topic=topic_name,
        mode="live",
        speed=600.0,
        users=2,
        days=1,
        start_date=dt.date(2016, 4, 12),
        progress=False,
        metrics_port=port,
        statistics_interval_ms=200,
    )
    stop = StopRequest()
    thread = threading.Thread(target=run_producer, args=(settings, stop), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert wait_until(lambda: _scrape_or_empty(url).get((m.PRODUCER_RECORDS.name, ()), 0) > 0, 60)
        first = scrape(url)[(m.PRODUCER_RECORDS.name, ())]
        assert wait_until(lambda: scrape(url)[(m.PRODUCER_RECORDS.name, ())] > first, 30)
        assert value(scrape(url), m.PRODUCER_QUEUE_MESSAGES.name) is not None
    finally:
        stop.requested = True
        thread.join(60)
    assert not thread.is_alive()


@pytest.mark.usefixtures("aws_env")
def test_the_lag_metrics_grow_while_the_consumer_lands_nothing_and_the_producer_runs(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """The consumer stops landing (its S3 endpoint goes away) while the producer keeps producing: its endpoint still
    answers, and the lag in seconds grows, as the lag alarm needs; once S3 is back the lag in records returns to 0.
    (A consumer process that is gone serves nothing; `fitpipe status` then reads the lag from the broker,
    tests/fitpipe/test_status.py.)"""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    recording = {"MOTO_ENABLE_RECORDING": "true", "MOTO_RECORDER_FILEPATH": str(tmp_path / "moto-recording")}
    server = start_moto(port, recording)
    stop = StopRequest()
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="lake-lag")
        create_topic(kafka_bootstrap, topic_name, partitions=2)
        create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
        settings = settings_for(
            kafka_bootstrap,
            topic_name,
            sink="s3",
            s3_bucket="lake-lag",
            s3_endpoint_url=endpoint,
            flush_interval_s=1.0,
            metrics_port=free_port(),
            statistics_interval_ms=200,
        )
        records = make_records(20_000, seed=4, days=1)  # one day, so the pacing runs a minute a second
        producer = threading.Thread(
            target=produce,
            args=(records, producer_settings(kafka_bootstrap, topic_name, progress=False)),
            kwargs={"create_topic": False, "speed": 60.0, "stop": stop},
            daemon=True,
        )
        writer = LakeWriter(settings)
        with Background(writer):
            assert writer.metrics_server is not None
            url = writer.metrics_server.url
            producer.start()
            assert wait_until(lambda: (value(_scrape_or_empty(url), m.CONSUMER_RECORDS_LANDED.name) or 0) > 0, 60)

            server.terminate()
            server.wait(10)
            assert wait_until(lambda: (value(scrape(url), m.CONSUMER_STORAGE_RETRIES.name) or 0) > 0, 60)
            landed = value(scrape(url), m.CONSUMER_RECORDS_LANDED.name)
            # The lag in records is librdkafka's, as of the last statistics it reported before the write stalled;
            # the lag in seconds, which the lag alarm watches, is the age of the oldest record not landed, now.
            first_records, first_seconds = _lag_totals(scrape(url))
            assert first_records > 0
            assert wait_until(lambda: _lag_totals(scrape(url))[1] > first_seconds + 2, 60), "the lag in seconds"
            assert value(scrape(url), m.CONSUMER_RECORDS_LANDED.name) == landed, "nothing landed during the outage"
            assert producer.is_alive()

            stop.requested = True
            producer.join(60)
            server = start_moto(port, recording)  # back, with what it stored, so the consumer can stop cleanly
            urllib.request.urlopen(
                urllib.request.Request(f"{endpoint}/moto-api/recorder/replay-recording", method="POST"), timeout=120
            ).read()
            assert wait_until(lambda: _lag_totals(scrape(url))[0] == 0, 90), "caught up once S3 is back"
    finally:
        stop.requested = True
        server.terminate()
        server.wait(10)


def _lag_totals(samples: dict) -> tuple[float, float]:
    """The lag summed over partitions in records, and its largest age in seconds."""
    records = sum(v for (n, _), v in samples.items() if n == m.CONSUMER_LAG_RECORDS.name)
    seconds = max((v for (n, _), v in samples.items() if n == m.CONSUMER_LAG_SECONDS.name), default=0.0)
    return records, seconds


def _scrape_or_empty(url: str) -> dict:
    try:
        return scrape(url)
    except OSError:
        return {}


def _lag(samples: dict) -> dict[str, float]:
    return {dict(labels)["partition"]: v for (n, labels), v in samples.items() if n == m.CONSUMER_LAG_RECORDS.name}


def _family(sample_name: str) -> str:
    """A sample's metric name as declared (a counter's samples end in _total; a summary's in _count and _sum)."""
    for suffix in ("_count", "_sum"):
        if sample_name.endswith(suffix) and sample_name.removesuffix(suffix) in m.by_name():
            return sample_name.removesuffix(suffix)
    return sample_name


def _encoded(records: list) -> list[bytes]:
    from core.schema import encode

    return [encode(r) for r in records]
