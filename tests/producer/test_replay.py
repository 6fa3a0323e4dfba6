"""Replay: the real Fitabase export, and tiny exports written here in every file form the replay accepts."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from core.schema import FIELD_NAMES, validate
from services.producer.replay import FILL_METS, ReplayError, load, replay

FITABASE_FORMAT = "%m/%d/%Y %I:%M:%S %p"


@functools.cache
def _parse(text: str) -> dt.datetime:
    """Fitabase timestamp, parsed without the code under test."""
    for fmt in (FITABASE_FORMAT, "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(text)


def _fitabase(moment: dt.datetime) -> str:
    """A timestamp in the Fitabase form, without zero padding (4/12/2016 2:47:30 AM)."""
    hour = moment.hour % 12 or 12
    return (
        f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} "
        f"{'AM' if moment.hour < 12 else 'PM'}"
    )


@functools.cache
def _stamp(date: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{date}T{time}")


def _key(record: dict) -> tuple[int, dt.datetime]:
    return record["id"], _stamp(record["date"], record["time"])


# -- the real export --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(fitabase_dir: Path) -> list[dict]:
    return list(replay(fitabase_dir))


@pytest.fixture(scope="module")
def replayed_keys(replayed) -> list[tuple[int, dt.datetime]]:
    return [_key(r) for r in replayed]


@pytest.fixture(scope="module")
def wide_steps(fitabase_dir: Path) -> dict[tuple[int, dt.datetime], int]:
    """(user, minute) -> steps, read straight from minuteStepsWide with the csv module."""
    steps: dict[tuple[int, dt.datetime], int] = {}
    with open(fitabase_dir / "minuteStepsWide_merged.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header[:3] == ["Id", "ActivityHour", "Steps00"]
        for row in reader:
            hour = _parse(row[1])
            for minute, value in enumerate(row[2:62]):
                steps[(int(row[0]), hour + dt.timedelta(minutes=minute))] = int(value)
    return steps


def test_one_record_per_user_minute_of_the_minute_files(replayed, replayed_keys, wide_steps) -> None:
    keys = replayed_keys
    assert len(keys) == len(set(keys)), "a user-minute was emitted twice"
    assert set(keys) == set(wide_steps)
    assert len(replayed) == len(wide_steps)


def test_steps_counts_and_per_user_day_sums_match_the_source(replayed, wide_steps) -> None:
    expected_sums: dict[tuple[int, dt.date], int] = defaultdict(int)
    expected_counts: Counter[tuple[int, dt.date]] = Counter()
    for (uid, minute), steps in wide_steps.items():
        expected_sums[(uid, minute.date())] += steps
        expected_counts[(uid, minute.date())] += 1
    sums: dict[tuple[int, dt.date], int] = defaultdict(int)
    counts: Counter[tuple[int, dt.date]] = Counter()
    for r in replayed:
        day = (r["id"], dt.date.fromisoformat(r["date"]))
        sums[day] += r["steps"]
        counts[day] += 1
    assert counts == expected_counts
    assert sums == expected_sums
    assert sum(sums.values()) > 1_000_000  # the real export has millions of steps: not a vacuous comparison


def test_intensity_comes_from_the_intensity_file(replayed, replayed_keys, fitabase_dir: Path) -> None:
    by_key = dict(zip(replayed_keys, replayed, strict=True))
    checked = 0
    with open(fitabase_dir / "minuteIntensitiesWide_merged.csv", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for n, row in enumerate(reader):
            if n % 7:  # every 7th user-hour is plenty
                continue
            hour = _parse(row[1])
            for minute, value in enumerate(row[2:62]):
                record = by_key[(int(row[0]), hour + dt.timedelta(minutes=minute))]
                assert record["intensity"] == int(value)
                assert record["mets"] == FILL_METS[int(value)]
                checked += 1
    assert checked > 100_000


def test_sleep_value_and_logid_come_from_minute_sleep(replayed, replayed_keys, fitabase_dir: Path) -> None:
    sleep: dict[tuple[int, dt.datetime], tuple[float, int]] = {}
    with open(fitabase_dir / "minuteSleep_merged.csv", newline="") as f:
        for row in csv.DictReader(f):
            minute = _parse(row["date"]).replace(second=0)  # floor the :30 timestamps
            sleep.setdefault((int(row["Id"]), minute), (float(row["value"]), int(row["logId"])))
    in_bed = 0
    for key, r in zip(replayed_keys, replayed, strict=True):
        expected = sleep.get(key, (0.0, 0))
        assert (r["sleep_value"], r["logid"]) == expected, r
        in_bed += expected[1] != 0
    assert in_bed == len(set(sleep) & set(replayed_keys))
    assert in_bed > 100_000


def test_heart_rate_comes_from_the_four_user_file(replayed, replayed_keys, fitabase_dir: Path) -> None:
    heartrate: dict[tuple[int, dt.datetime], int] = {}
    with open(fitabase_dir / "heartrate_minute_4users.csv", newline="") as f:
        for row in csv.DictReader(f):
            heartrate[(int(row["Id"]), _parse(row["t"]))] = round(float(row["hr"]))
    with_hr = 0
    for key, r in zip(replayed_keys, replayed, strict=True):
        assert r["heartrate"] == heartrate.get(key), r
        with_hr += r["heartrate"] is not None
    assert with_hr > 10_000
    assert {r["id"] for r in replayed if r["heartrate"] is not None} <= {uid for uid, _ in heartrate}


def test_hourly_calories_are_shared_exactly_over_the_hour(replayed, replayed_keys, fitabase_dir: Path) -> None:
    hourly: dict[tuple[int, dt.datetime], float] = {}
    with open(fitabase_dir / "hourlyCalories_merged.csv", newline="") as f:
        for row in csv.DictReader(f):
            hourly[(int(row["Id"]), _parse(row["ActivityHour"]))] = float(row["Calories"])
    sums: dict[tuple[int, dt.datetime], float] = defaultdict(float)
    for (uid, minute), r in zip(replayed_keys, replayed, strict=True):
        sums[(uid, minute.replace(minute=0))] += r["calories"]
    covered = [k for k in sums if k in hourly]
    assert len(covered) > 20_000
    for k in covered:
        assert sums[k] == pytest.approx(hourly[k], abs=1e-3), k


def test_records_are_valid_and_in_time_order(replayed) -> None:
    stamps = [(r["date"], r["time"]) for r in replayed]
    assert stamps == sorted(stamps)
    assert all(list(r) == list(FIELD_NAMES) for r in replayed[:1000])
    invalid = [(r, reasons) for r in replayed[::11] if (reasons := validate(r))]
    assert not invalid, invalid[:3]


# -- tiny exports in every accepted form ---------------------------------------------------------------------------

U1, U2 = 1503960366, 2022484408
T0 = dt.datetime(2016, 4, 12, 23, 58)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _minutes(n: int) -> list[dt.datetime]:
    return [T0 + dt.timedelta(minutes=i) for i in range(n)]


@pytest.fixture
def narrow_export(tmp_path: Path) -> Path:
    """Two users, four minutes across midnight, narrow files, heartrate_seconds, sleep with :30 and duplicates."""
    minutes = _minutes(4)
    steps = {U1: [0, 12, 40, 0], U2: [5, 0, 0, 90]}
    intensity = {U1: [0, 1, 2, 0], U2: [1, 0, 0, 3]}
    mets = {U1: [10, 25, 50, 12], U2: [20, 10, 10, 95]}
    step_rows = [[u, _fitabase(m), steps[u][i]] for i, m in enumerate(minutes) for u in (U2, U1)]
    step_rows.append(step_rows[0])  # an exact duplicate row
    _write(tmp_path / "minuteStepsNarrow_merged.csv", ["Id", "ActivityMinute", "Steps"], step_rows)
    _write(
        tmp_path / "minuteIntensitiesNarrow_merged.csv",
        ["Id", "ActivityMinute", "Intensity"],
        [[u, _fitabase(m), intensity[u][i]] for u in (U1, U2) for i, m in enumerate(minutes)],
    )
    _write(
        tmp_path / "minuteMETsNarrow_merged.csv",
        ["Id", "ActivityMinute", "METs"],
        [[u, _fitabase(m), mets[u][i]] for u in (U1, U2) for i, m in enumerate(minutes)],
    )
    # U1 sleeps the first two minutes (timestamps at :30, one row duplicated); the log continues past the data.
    sleep_rows = [
        [U1, _fitabase(minutes[0] + dt.timedelta(seconds=30)), 1, 111],
        [U1, _fitabase(minutes[0] + dt.timedelta(seconds=30)), 1, 111],
        [U1, _fitabase(minutes[1] + dt.timedelta(seconds=30)), 2, 111],
        [U1, _fitabase(minutes[3] + dt.timedelta(minutes=5)), 1, 111],
    ]
    _write(tmp_path / "minuteSleep_merged.csv", ["Id", "date", "value", "logId"], sleep_rows)
    # U2's heart rate: readings every 20 s in minute 0 (mean 70.5 -> 71 rounded half up) and in minute 3.
    hr_rows = [
        [U2, _fitabase(minutes[0] + dt.timedelta(seconds=s)), v] for s, v in ((0, 70), (20, 71), (40, 70), (50, 71))
    ] + [[U2, _fitabase(minutes[3] + dt.timedelta(seconds=5)), 130]]
    _write(tmp_path / "heartrate_seconds_merged.csv", ["Id", "Time", "Value"], hr_rows)
    # Hourly calories: the 23:00 hour and the 00:00 hour of each user.
    _write(
        tmp_path / "hourlyCalories_merged.csv",
        ["Id", "ActivityHour", "Calories"],
        [
            [U1, _fitabase(dt.datetime(2016, 4, 12, 23)), 70],
            [U1, _fitabase(dt.datetime(2016, 4, 13, 0)), 60],
            [U2, _fitabase(dt.datetime(2016, 4, 12, 23)), 90],
            [U2, _fitabase(dt.datetime(2016, 4, 13, 0)), 100],
        ],
    )
    return tmp_path


def test_narrow_files_join_into_records_in_time_order(narrow_export: Path) -> None:
    records = list(replay(narrow_export))
    assert [(r["time"], r["id"]) for r in records] == [
        ("23:58:00", U1),
        ("23:58:00", U2),
        ("23:59:00", U1),
        ("23:59:00", U2),
        ("00:00:00", U1),
        ("00:00:00", U2),
        ("00:01:00", U1),
        ("00:01:00", U2),
    ]
    assert [r["date"] for r in records] == ["2016-04-12"] * 4 + ["2016-04-13"] * 4
    u1 = [r for r in records if r["id"] == U1]
    u2 = [r for r in records if r["id"] == U2]
    assert [r["steps"] for r in u1] == [0, 12, 40, 0]
    assert [r["intensity"] for r in u2] == [1, 0, 0, 3]
    assert [r["mets"] for r in u1] == [10, 25, 50, 12]
    assert [(r["sleep_value"], r["logid"]) for r in u1] == [(1.0, 111), (2.0, 111), (0.0, 0), (0.0, 0)]
    assert all(r["logid"] == 0 for r in u2)
    assert [r["heartrate"] for r in u2] == [71, None, None, 130]
    assert all(r["heartrate"] is None for r in u1)
    assert all(not validate(r) for r in records)


def test_hourly_calories_are_shared_in_proportion_to_mets(narrow_export: Path) -> None:
    records = list(replay(narrow_export))
    u1 = [r for r in records if r["id"] == U1]
    # 23:00 hour: minutes 23:58 and 23:59 with METs 10 and 25 share 70 kcal.
    assert u1[0]["calories"] == pytest.approx(70 * 10 / 35, abs=1e-6)
    assert u1[1]["calories"] == pytest.approx(70 * 25 / 35, abs=1e-6)
    assert u1[2]["calories"] + u1[3]["calories"] == pytest.approx(60, abs=1e-5)
    assert u1[2]["calories"] / u1[3]["calories"] == pytest.approx(50 / 12, rel=1e-5)


def test_minute_calories_file_wins_over_hourly(narrow_export: Path) -> None:
    _write(
        narrow_export / "minuteCaloriesNarrow_merged.csv",
        ["Id", "ActivityMinute", "Calories"],
        [[u, _fitabase(m), 1.25 + i] for u in (U1, U2) for i, m in enumerate(_minutes(4))],
    )
    data = load(narrow_export)
    assert data.sources["calories"] == "minuteCaloriesNarrow_merged.csv"
    assert [r["calories"] for r in data.records() if r["id"] == U2] == [1.25, 2.25, 3.25, 4.25]


def test_hour_missing_from_hourly_file_uses_the_users_resting_rate(narrow_export: Path) -> None:
    (narrow_export / "hourlyCalories_merged.csv").write_text(
        f"Id,ActivityHour,Calories\n{U1},{_fitabase(dt.datetime(2016, 4, 10, 3))},72\n"
    )
    u1 = [r for r in replay(narrow_export) if r["id"] == U1]
    # No 23:00 or 00:00 hour: resting rate 72/60 kcal/min (its 03:00 hour) x METs/10.
    assert [r["calories"] for r in u1] == pytest.approx([1.2 * m / 10 for m in (10, 25, 50, 12)])
    u2 = [r for r in replay(narrow_export) if r["id"] == U2]
    assert u2[0]["calories"] == pytest.approx(1.11 * 20 / 10)  # no hourly row at all: the population rate


def test_wide_and_narrow_files_give_the_same_records(narrow_export: Path, tmp_path_factory) -> None:
    narrow = list(replay(narrow_export))
    wide_dir = tmp_path_factory.mktemp("wide")
    for name in (
        "minuteSleep_merged.csv",
        "heartrate_seconds_merged.csv",
        "hourlyCalories_merged.csv",
        "minuteMETsNarrow_merged.csv",
    ):
        (wide_dir / name).write_bytes((narrow_export / name).read_bytes())
    by_key = {_key(r): r for r in narrow}
    hours = [dt.datetime(2016, 4, 12, 23), dt.datetime(2016, 4, 13, 0)]
    for prefix, field, file in (
        ("Steps", "steps", "minuteStepsWide_merged.csv"),
        ("Intensity", "intensity", "minuteIntensitiesWide_merged.csv"),
    ):
        rows = []
        for uid in (U1, U2):
            for hour in hours:
                values = [
                    by_key[(uid, hour + dt.timedelta(minutes=m))][field]
                    if (uid, hour + dt.timedelta(minutes=m)) in by_key
                    else 0
                    for m in range(60)
                ]
                rows.append([uid, _fitabase(hour), *values])
        _write(wide_dir / file, ["Id", "ActivityHour", *[f"{prefix}{m:02d}" for m in range(60)]], rows)
    wide = {_key(r): r for r in replay(wide_dir)}
    assert len(wide) == 4 * 60  # every minute of the four user-hours
    for key, record in by_key.items():
        same = {k: v for k, v in wide[key].items() if k != "calories"}
        assert same == {k: v for k, v in record.items() if k != "calories"}
    # Calories differ (the hour has 60 minutes now), but each hour still adds up to its hourly calories.
    u1_23 = sum(r["calories"] for (uid, m), r in wide.items() if uid == U1 and m.hour == 23)
    assert u1_23 == pytest.approx(70, abs=1e-4)


def test_per_minute_heart_rate_file(narrow_export: Path) -> None:
    (narrow_export / "heartrate_seconds_merged.csv").unlink()
    minutes = _minutes(4)
    _write(
        narrow_export / "heartrate_minute_4users.csv",
        ["Id", "t", "hr", "intensity", "steps"],
        [[U1, minutes[1].strftime("%Y-%m-%d %H:%M:%S"), 58, 0, 0], [U1, "2016-04-13 00:01:00", 300, 0, 0]],
    )
    data = load(narrow_export)
    assert data.sources["heartrate"] == "heartrate_minute_4users.csv"
    # 300 bpm is no heart's rate: that minute gets none.
    assert [r["heartrate"] for r in data.records() if r["id"] == U1] == [None, 58, None, None]


def test_without_sleep_or_heart_rate_files_those_fields_are_empty(narrow_export: Path) -> None:
    (narrow_export / "minuteSleep_merged.csv").unlink()
    (narrow_export / "heartrate_seconds_merged.csv").unlink()
    records = list(replay(narrow_export))
    assert len(records) == 8
    assert all(r["sleep_value"] == 0 and r["logid"] == 0 and r["heartrate"] is None for r in records)


def test_only_minutes_with_both_steps_and_intensity_are_records(narrow_export: Path) -> None:
    path = narrow_export / "minuteIntensitiesNarrow_merged.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # drop U2's last minute
    records = list(replay(narrow_export))
    assert len(records) == 7
    assert (U2, "00:01:00") not in {(r["id"], r["time"]) for r in records}


def test_a_folder_without_minute_files_is_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path / "minuteStepsNarrow_merged.csv", ["Id", "ActivityMinute", "Steps"], [[U1, _fitabase(T0), 3]])
    with pytest.raises(ReplayError, match=r"minuteIntensitiesNarrow_merged\.csv or minuteIntensitiesWide_merged\.csv"):
        load(tmp_path)
    with pytest.raises(ReplayError, match="not a folder"):
        load(tmp_path / "missing")


def test_a_malformed_file_is_a_clear_error(narrow_export: Path) -> None:
    (narrow_export / "minuteIntensitiesNarrow_merged.csv").write_text("Id,Minute,Intensity\n1,x,0\n")
    with pytest.raises(ReplayError, match=r"minuteIntensitiesNarrow_merged\.csv is not in the export format"):
        load(narrow_export)


def test_mean_heart_rate_rounds_half_up(narrow_export: Path) -> None:
    # 70, 71, 70, 71 -> 70.5 -> 71 (not banker's 70)
    u2 = next(r for r in replay(narrow_export) if r["id"] == U2)
    assert u2["heartrate"] == math.floor(70.5 + 0.5)
