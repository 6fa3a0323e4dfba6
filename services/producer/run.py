"""One producer run: the records the settings ask for (simulated or replayed), produced into Kafka."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Iterable, Iterator

from services.common.schema import Record
from services.producer.kafka_producer import ProduceSummary, StopRequest, produce
from services.producer.settings import DEFAULT_BACKFILL_START, ProducerSettings

MINUTES_PER_DAY = 24 * 60


def _from_minute(records: Iterable[Record], first: dt.datetime) -> Iterator[Record]:
    """The records from the minute `first` on (live mode joins the stream at the current minute)."""
    date, time = first.date().isoformat(), first.strftime("%H:%M:00")
    return itertools.dropwhile(lambda r: (r["date"], r["time"]) < (date, time), records)


def records_for(settings: ProducerSettings, now: dt.datetime | None = None) -> tuple[Iterable[Record], int | None]:
    """The records of the run and how many there will be (None when unknown)."""
    if settings.replay_dir is not None:
        from services.producer.replay import load

        data = load(settings.replay_dir)
        return data.records(), len(data)

    from services.producer.simulator import simulate

    live_now = settings.mode == "live" and settings.start_date is None
    now = now or dt.datetime.now()
    start = settings.start_date or (now.date() if live_now else DEFAULT_BACKFILL_START)
    users: int | list[int] = settings.user_ids or settings.users
    records: Iterable[Record] = simulate(users, start, settings.days, settings.seed)
    total = settings.user_count * settings.days * MINUTES_PER_DAY
    if live_now:
        minute = now.replace(second=0, microsecond=0)
        records = _from_minute(records, minute)
        elapsed = (minute - dt.datetime.combine(start, dt.time())) // dt.timedelta(minutes=1)
        total -= settings.user_count * elapsed
    return records, total


def run(settings: ProducerSettings, stop: StopRequest | None = None) -> ProduceSummary:
    """Produce what `settings` describe. Raises DeliveryFailed, KafkaUnavailable or ReplayError."""
    records, total = records_for(settings)
    progress = sys.stderr.isatty() if settings.progress is None else settings.progress
    return produce(
        records,
        settings.bootstrap_servers,
        settings.topic,
        settings.partitions,
        progress,
        total=total,
        speed=settings.speed if settings.mode == "live" else None,
        compression=settings.compression,
        stop=stop,
    )
