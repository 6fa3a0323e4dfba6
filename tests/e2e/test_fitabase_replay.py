"""Real data end to end: the Fitabase export through producer, Kafka, consumer, lake, crawl and the named queries.

The per-user-day totals of steps and of minutes at each intensity that the queries return equal those computed
here straight from the source CSV files.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from fitpipe.catalog import crawl
from fitpipe.query import QueryResult, connect, run, run_named_queries
from services.consumer import ConsumerSettings
from services.consumer import run as consume
from services.producer.kafka_producer import produce
from services.producer.replay import load

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wide_minutes(path: Path, prefix: str) -> pd.DataFrame:
    """A Fitabase wide minute file as one row per user and minute: id, date, value."""
    wide = pd.read_csv(path)
    long = wide.melt(id_vars=["Id", "ActivityHour"], value_vars=[f"{prefix}{m:02d}" for m in range(60)])
    hour = pd.to_datetime(long["ActivityHour"], format="%m/%d/%Y %I:%M:%S %p")
    return pd.DataFrame({"id": long["Id"], "date": hour.dt.strftime("%Y-%m-%d"), "value": long["value"]})


def _source_totals(folder: Path) -> tuple[dict[tuple[int, str], int], Counter]:
    """From the CSV files: steps per user-day, and minutes per user, day and intensity."""
    steps = _wide_minutes(folder / "minuteStepsWide_merged.csv", "Steps")
    intensity = _wide_minutes(folder / "minuteIntensitiesWide_merged.csv", "Intensity")
    steps_per_day = {(int(k[0]), k[1]): int(v) for k, v in steps.groupby(["id", "date"])["value"].sum().items()}
    minutes = Counter(
        {(int(k[0]), k[1], int(k[2])): int(v) for k, v in intensity.groupby(["id", "date", "value"]).size().items()}
    )
    return steps_per_day, minutes


@pytest.fixture(scope="module")
def replayed_lake(fitabase_dir: Path, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    topic = f"test-e2e-fitabase-{uuid.uuid4().hex[:8]}"
    export = load(fitabase_dir)
    summary = produce(export.records(), kafka_bootstrap, topic, partitions=3, progress=False, total=len(export))
    assert summary.delivered == len(export) and summary.errors == 0
    lake = tmp_path_factory.mktemp("e2e") / "lake"
    settings = ConsumerSettings(
        bootstrap_servers=kafka_bootstrap,
        topic=topic,
        group_id=f"{topic}-lake",
        dlq_topic=f"{topic}.dlq",
        sink="local",
        lake_dir=lake,
    )
    landed = consume(settings, until_caught_up=True)
    assert landed.records_out == len(export) and landed.dead_letters == 0
    return lake


@pytest.fixture(scope="module")
def crawled(replayed_lake: Path):
    return crawl(replayed_lake)


@pytest.fixture(scope="module")
def results(crawled) -> dict[str, QueryResult]:
    return run_named_queries(crawled.catalog)


def test_fitabase_replay_lands_the_source_totals(crawled, results: dict[str, QueryResult], fitabase_dir: Path) -> None:
    assert not crawled.drift, crawled.drift.lines()
    steps_per_day, minutes = _source_totals(fitabase_dir)

    daily = {(r["id"], r["date"]): r for r in results["04_daily_activity"].records()}
    assert set(daily) == set(steps_per_day)
    assert {key: row["total_steps"] for key, row in daily.items()} == steps_per_day
    for (user, day), row in daily.items():
        for intensity, column in (
            (3, "very_active_minutes"),
            (2, "fairly_active_minutes"),
            (1, "lightly_active_minutes"),
        ):
            assert row[column] == minutes[(user, day, intensity)], (user, day, column)

    by_intensity = {
        (r["id"], r["date"], r["intensity"]): r["total_minutes"] for r in results["02_intensity_distribution"].records()
    }
    assert by_intensity == {key: n for key, n in minutes.items() if key[2] in (1, 2, 3)}

    with connect(crawled.catalog) as con:  # every intensity, sedentary included, in Athena SQL
        counted = run(
            con,
            'SELECT id, "date", intensity, count(*) AS minutes '
            'FROM "fitness-data-kafka-database"."fitness_data_kafka_storage" GROUP BY id, "date", intensity',
        )
    assert Counter({(r["id"], r["date"], r["intensity"]): r["minutes"] for r in counted.records()}) == minutes
    assert sum(minutes.values()) == 1_298_700  # the wide files' 21,645 user-hours


def test_fitabase_sleep_nights_are_counted_toward_the_day_they_end(
    results: dict[str, QueryResult], fitabase_dir: Path
) -> None:
    """Query 06 against Fitbit's own sleepDay: time in bed per user-night matches on nearly every night."""
    nights = {(r["id"], r["date"]): r for r in results["06_sleep_efficiency"].records()}
    sleep_day = pd.read_csv(fitabase_dir / "sleepDay_merged.csv").drop_duplicates()
    day = pd.to_datetime(sleep_day["SleepDay"], format="%m/%d/%Y %I:%M:%S %p").dt.strftime("%Y-%m-%d")
    official = {(int(i), d): int(t) for i, d, t in zip(sleep_day["Id"], day, sleep_day["TotalTimeInBed"], strict=True)}
    matched = sum(1 for key, in_bed in official.items() if key in nights and nights[key]["total_time_in_bed"] == in_bed)
    assert matched >= 0.9 * len(official), f"{matched} of {len(official)} nights match Fitbit's sleepDay"
