"""One producer run: the records the settings ask for (simulated or replayed), produced into Kafka."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from services.common.schema import Record
from services.producer.kafka_producer import ProduceSummary, StopRequest, produce, produce_encoded
from services.producer.metrics import ProducerMetrics
from services.producer.settings import DEFAULT_BACKFILL_START, ProducerSettings

MINUTES_PER_DAY = 24 * 60


def _from_minute(records: Iterable[Record], first: dt.datetime) -> Iterator[Record]:
    """The records from the minute `first` on (live mode joins the stream at the current minute)."""
    date, time = first.date().isoformat(), first.strftime("%H:%M:00")
    return itertools.dropwhile(lambda r: (r["date"], r["time"]) < (date, time), records)


def start_date(settings: ProducerSettings, now: dt.datetime) -> dt.date:
    """The first simulated day: as set; else today in live mode, the Fitabase calendar in backfill."""
    if settings.start_date is not None:
        return settings.start_date
    return now.date() if settings.mode == "live" else DEFAULT_BACKFILL_START


def records_for(settings: ProducerSettings, now: dt.datetime | None = None) -> tuple[Iterable[Record], int | None]:
    """The records of the run and how many there will be (None when unknown)."""
    if settings.replay_dir is not None:
        from services.producer.replay import load

        data = load(settings.replay_dir)
        return data.records(), len(data)

    from services.producer.simulator import simulate

    now = now or dt.datetime.now()
    start = start_date(settings, now)
    records: Iterable[Record] = simulate(settings.user_ids or settings.users, start, settings.days, settings.seed)
    total = settings.user_count * settings.days * MINUTES_PER_DAY
    if settings.mode == "live" and settings.start_date is None:
        minute = now.replace(second=0, microsecond=0)
        records = _from_minute(records, minute)
        total -= settings.user_count * ((minute - dt.datetime.combine(start, dt.time())) // dt.timedelta(minutes=1))
    return records, total


def backfill_pairs(settings: ProducerSettings) -> Iterator[tuple[bytes, bytes]]:
    """The simulated backfill as (key, value) pairs, a day at a time: the fast path, with no dict per record."""
    from services.producer.simulator import simulate_encoded

    return simulate_encoded(
        settings.user_ids or settings.users, start_date(settings, dt.datetime.now()), settings.days, settings.seed
    )


def run(settings: ProducerSettings, stop: StopRequest | None = None) -> ProduceSummary:
    """Produce what `settings` describe. Raises DeliveryFailed, KafkaUnavailable, ReplayError or SimulationError."""
    progress = sys.stderr.isatty() if settings.progress is None else settings.progress
    common: dict[str, Any] = {
        "bootstrap": settings.bootstrap_servers,
        "topic": settings.topic,
        "partitions": settings.partitions,
        "progress": progress,
        "compression": settings.compression,
        "stop": stop,
        "security": settings.kafka_security(),
    }
    server = None
    if settings.metrics_port is not None:
        metrics = ProducerMetrics(settings.statistics_interval_ms)
        server = metrics.serve(settings.metrics_port, settings.metrics_address)
        common["metrics"] = metrics
    try:
        if settings.mode == "backfill" and settings.replay_dir is None:
            total = settings.user_count * settings.days * MINUTES_PER_DAY
            return produce_encoded(backfill_pairs(settings), total=total, **common)
        records, total = records_for(settings)
        speed = settings.speed if settings.mode == "live" else None
        return produce(records, total=total, speed=speed, **common)
    finally:
        if server is not None:
            server.close()
