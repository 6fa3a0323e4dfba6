"""Real data end to end: the Fitabase export through producer, Kafka, consumer, lake, crawl, compaction and the
named queries.

The per-user-day totals of steps and of minutes at each intensity that the queries return equal those computed
here straight from the source CSV files; so do every night's sleep, every hour's calories and every minute's heart
rate.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from fitpipe.catalog import crawl
from fitpipe.compact import compact_lake
from fitpipe.query import QueryResult, connect, run, run_named_queries
from services.consumer import ConsumerSettings
from services.consumer import run as consume
from services.producer.kafka_producer import produce
from services.producer.replay import load
from tests.producer.kafka_helpers import producer_settings

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
    summary = produce(
        export.records(), producer_settings(kafka_bootstrap, topic, partitions=3, progress=False), total=len(export)
    )
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
    """The raw table crawled, and the curated table (which the named queries read) compacted from it."""
    result = crawl(replayed_lake)
    compact_lake(replayed_lake)
    return result


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

    for table in ("fitness_data_kafka_storage", "fitness_data_curated"):
        with connect(crawled.catalog) as con:  # every intensity, sedentary included, in Athena SQL
            counted = run(
                con,
                'SELECT id, "date", intensity, count(*) AS minutes '
                f'FROM "fitness-data-kafka-database"."{table}" GROUP BY id, "date", intensity',
            )
        assert Counter({(r["id"], r["date"], r["intensity"]): r["minutes"] for r in counted.records()}) == minutes
    assert sum(minutes.values()) == 1_298_700  # the wide files' 21,645 user-hours


def _stamp(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%m/%d/%Y %I:%M:%S %p")


def _minute_file_hours(folder: Path) -> pd.DataFrame:
    """The user-hours the wide minute files hold: the replay's minutes are exactly those hours' minutes."""
    wide = pd.read_csv(folder / "minuteStepsWide_merged.csv", usecols=["Id", "ActivityHour"])
    return pd.DataFrame({"Id": wide["Id"], "hour": _stamp(wide["ActivityHour"])}).drop_duplicates()


def _source_nights(folder: Path, hours: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From minuteSleep (timestamps floored to the minute, duplicates dropped): per user-night (a log counts toward
    the date it ends), the sleep records, minutes asleep and minutes in bed, once over all its minutes and once over
    the minutes inside the minute files' hours."""
    sleep = pd.read_csv(folder / "minuteSleep_merged.csv")
    sleep["minute"] = _stamp(sleep["date"]).dt.floor("min")
    sleep = sleep.drop_duplicates(["Id", "minute"])
    sleep["hour"] = sleep["minute"].dt.floor("h")
    sleep["night"] = sleep.groupby(["Id", "logId"])["minute"].transform("max").dt.strftime("%Y-%m-%d")
    covered = sleep.merge(hours, on=["Id", "hour"])

    def per_night(frame: pd.DataFrame) -> pd.DataFrame:
        grouped = frame.assign(asleep=frame["value"] == 1).groupby(["Id", "night"])
        return pd.DataFrame(
            {"records": grouped["logId"].nunique(), "asleep": grouped["asleep"].sum(), "in_bed": grouped.size()}
        )

    return per_night(sleep), per_night(covered)


def test_fitabase_sleep_nights_match_the_source_on_every_night(
    results: dict[str, QueryResult], fitabase_dir: Path
) -> None:
    """Query 06 against minuteSleep on every night, and against Fitbit's own sleepDay on every night, each
    difference explained: minuteSleep adds up to sleepDay's time in bed on all 410 nights, and the lake holds only
    the minutes of the hours the minute files have (a night that starts before 4/12's first hour, or spans a gap)."""
    nights = {(r["id"], r["date"]): r for r in results["06_sleep_efficiency"].records()}
    full, covered = _source_nights(fitabase_dir, _minute_file_hours(fitabase_dir))
    expected = {(int(i), n): (int(row.records), int(row.asleep), int(row.in_bed)) for (i, n), row in covered.iterrows()}
    landed = {
        key: (r["total_sleep_records"], r["total_minutes_asleep"], r["total_time_in_bed"]) for key, r in nights.items()
    }
    assert landed == expected

    sleep_day = pd.read_csv(fitabase_dir / "sleepDay_merged.csv").drop_duplicates()
    day = _stamp(sleep_day["SleepDay"]).dt.strftime("%Y-%m-%d")
    official = {(int(i), d): int(t) for i, d, t in zip(sleep_day["Id"], day, sleep_day["TotalTimeInBed"], strict=True)}
    assert len(official) == 410
    in_bed_all = {(int(i), n): int(v) for (i, n), v in full["in_bed"].items()}
    assert {key: in_bed_all.get(key) for key in official} == official, "minuteSleep adds up to sleepDay's time in bed"
    unexplained = {}
    outside = 0
    for key, in_bed in official.items():
        lake = nights[key]["total_time_in_bed"] if key in nights else 0
        missing = in_bed_all[key] - expected.get(key, (0, 0, 0))[2]  # the night's minutes outside the minute files
        outside += missing > 0
        if lake != in_bed - missing:
            unexplained[key] = (lake, in_bed, missing)
    assert unexplained == {}
    assert 0 < outside < 30, f"{outside} nights reach outside the minute files' hours"


def test_fitabase_calories_and_heart_rate_land_end_to_end(crawled, fitabase_dir: Path) -> None:
    """Every hour's calories in the lake add up to hourlyCalories, and every minute's heart rate is the per-minute
    file's, over the hours the minute files hold."""
    hours = _minute_file_hours(fitabase_dir)
    table = '"fitness-data-kafka-database"."fitness_data_kafka_storage"'
    with connect(crawled.catalog) as con:
        calories = run(
            con,
            f'SELECT id, "date", substr("time", 1, 2) AS hour, sum(calories) AS kcal FROM {table} '
            'GROUP BY id, "date", substr("time", 1, 2)',
        ).records()
        heart = run(con, f'SELECT id, "date", "time", heartrate FROM {table} WHERE heartrate IS NOT NULL').records()

    hourly = pd.read_csv(fitabase_dir / "hourlyCalories_merged.csv")
    hourly["hour"] = _stamp(hourly["ActivityHour"])
    hourly = hourly.drop_duplicates(["Id", "hour"]).merge(hours, on=["Id", "hour"])
    expected_kcal = {
        (int(i), h.strftime("%Y-%m-%d"), h.strftime("%H")): float(c)
        for i, h, c in zip(hourly["Id"], hourly["hour"], hourly["Calories"], strict=True)
    }
    landed_kcal = {(r["id"], r["date"], r["hour"]): r["kcal"] for r in calories}
    assert len(expected_kcal) > 20_000
    assert expected_kcal.keys() <= landed_kcal.keys()
    off = {k: (landed_kcal[k], v) for k, v in expected_kcal.items() if abs(landed_kcal[k] - v) > 1e-6 * max(1, v)}
    assert off == {}

    minute_hr = pd.read_csv(fitabase_dir / "heartrate_minute_4users.csv")
    minute_hr["minute"] = pd.to_datetime(minute_hr["t"], format="%Y-%m-%d %H:%M:%S")
    minute_hr["hour"] = minute_hr["minute"].dt.floor("h")
    minute_hr = minute_hr.merge(hours, on=["Id", "hour"])
    expected_hr = {
        (int(i), m.strftime("%Y-%m-%d"), m.strftime("%H:%M:%S")): round(float(v))
        for i, m, v in zip(minute_hr["Id"], minute_hr["minute"], minute_hr["hr"], strict=True)
    }
    landed_hr = {(r["id"], r["date"], r["time"]): r["heartrate"] for r in heart}
    assert len(expected_hr) > 10_000
    assert landed_hr == expected_hr
