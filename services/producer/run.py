"""One producer run: the records the settings ask for (simulated or replayed), produced into Kafka."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from typing import Final

from core.schema import Record
from services.common.stop import StopRequest
from services.producer.kafka_producer import Chunk, ProduceSummary, produce, produce_chunks
from services.producer.metrics import ProducerMetrics
from services.producer.settings import DEFAULT_BACKFILL_START, ProducerSettings

MINUTES_PER_DAY = 24 * 60
#: The pipe from the simulating process: as large as Linux lets a process make one by default.
_PIPE_BYTES = 1 << 20
#: The simulating process's environment, under what the caller's sets. numpy's BLAS threads would only cost start-up
#: time: the simulation uses none. Every day allocates and frees the same large arrays; glibc would hand them back
#: to the system and fault them in again (some 120,000 page faults and a fifth of the process's CPU time in a
#: 31-day backfill of 33 users), so it keeps up to 256 MiB of freed memory and serves blocks below 32 MiB from it.
_DAY_STREAM_ENV: Final = {
    "OPENBLAS_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
}


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


class BackfillDays:
    """The simulated backfill a day at a time, as its keys and values, in the order of `backfill_pairs`.

    A process of its own (`services.producer.day_stream`) simulates and encodes the days while this one hands the
    day before to Kafka; the pipe between them holds it at most about a day ahead. The process starts at once, so
    that its start-up (the interpreter, numpy, the cohort) overlaps the producer's own (the topic, the client, the
    metadata). Its error is raised where the days are taken; `close` (or the end of the days) ends the process."""

    def __init__(self, settings: ProducerSettings):
        users = "ids:" + ",".join(map(str, settings.user_ids)) if settings.user_ids else str(settings.users)
        start = start_date(settings, dt.datetime.now()).isoformat()
        command = [sys.executable, "-m", "services.producer.day_stream", users, start, str(settings.days)]
        command.append(str(settings.seed))
        env = {**_DAY_STREAM_ENV, **os.environ}
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
        assert self._process.stdout is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):  # a larger pipe: fewer reads (Linux only)
            import fcntl

            fcntl.fcntl(self._process.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._days = self._read()

    def __iter__(self) -> BackfillDays:
        return self

    def __next__(self) -> Chunk:
        return next(self._days)

    def __enter__(self) -> BackfillDays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> Iterator[Chunk]:
        from services.producer.day_stream import read_frames
        from services.producer.encoding import day_keys, split_day
        from services.producer.simulator import SimulationError

        assert self._process.stdout is not None
        keys: list[bytes] = []
        for tag, body in read_frames(self._process.stdout):
            if tag == b"D":
                yield keys, split_day(body)
            elif tag == b"K":
                keys = day_keys([int(uid) for uid in body.split(b",")])
            elif tag == b".":
                return
            else:
                kind, _, text = body.decode().partition(":")
                raise (SimulationError if kind == "SimulationError" else RuntimeError)(text)
        raise RuntimeError(f"the simulating process ended early (exit status {self._process.wait()})")

    def close(self) -> None:
        """No more days are wanted: the process ends (it sees the pipe closed) and is waited for."""
        self._days.close()
        assert self._process.stdout is not None
        self._process.stdout.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def run(settings: ProducerSettings, stop: StopRequest | None = None) -> ProduceSummary:
    """Produce what `settings` describe. Raises DeliveryFailed, KafkaUnavailable, ReplayError or SimulationError."""
    options: dict[str, object] = {"stop": stop}
    server = None
    if settings.metrics_port is not None:
        metrics = ProducerMetrics(settings.statistics_interval_ms)
        server = metrics.serve(settings.metrics_port, settings.metrics_address)
        options["metrics"] = metrics
    try:
        if settings.mode == "backfill" and settings.replay_dir is None:
            total = settings.user_count * settings.days * MINUTES_PER_DAY
            with BackfillDays(settings) as days:
                return produce_chunks(days, settings, total=total, **options)
        records, total = records_for(settings)
        speed = settings.speed if settings.mode == "live" else None
        return produce(records, settings, total=total, speed=speed, **options)
    finally:
        if server is not None:
            server.close()
