"""Golden tests: each sql/ file, run unmodified on the local lake, equals the same question answered in plain Python."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from core.names import PARTITION_COLUMN
from core.schema import FIELD_NAMES, Record
from fitpipe.catalog import default_catalog
from fitpipe.query import SQL_DIR, QueryResult, connect, named_queries, read_named_query, run
from tests.sql.lake import USERS, crawled_golden_lake
from tests.strategies import sample_record


def _group(records: Iterable[Record], key: Callable[[Record], Any]) -> dict[Any, list[Record]]:
    groups: dict[Any, list[Record]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return dict(sorted(groups.items()))


def _mean_heartrate(rows: list[Record]) -> float | None:
    values = [r["heartrate"] for r in rows if r["heartrate"] is not None]
    return fmean(values) if values else None


def _assert_rows(result: QueryResult, expected: list[dict[str, Any]], decimals: dict[str, int]) -> None:
    """Same rows in the same order; rounded columns within half a unit of their last decimal."""
    assert result.columns == list(expected[0]), result.columns
    got = result.records()
    assert len(got) == len(expected)
    for got_row, want_row in zip(got, expected, strict=True):
        for name, want in want_row.items():
            if name in decimals and want is not None:
                assert got_row[name] == pytest.approx(want, abs=0.5 * 10 ** -decimals[name] + 1e-9), (name, want_row)
            else:
                assert got_row[name] == want, (name, got_row, want_row)


def _night_of(golden: list[Record]) -> dict[tuple[int, int], str]:
    """A sleep log counts toward the date it ends: the last date among its minutes."""
    nights: dict[tuple[int, int], str] = {}
    for r in golden:
        if r["logid"]:
            key = (r["id"], r["logid"])
            nights[key] = max(nights.get(key, ""), r["date"])
    return nights


def test_every_file_has_a_header_naming_it() -> None:
    queries = named_queries()
    assert [q.name for q in queries][:4] == [
        "00_preview",
        "01_sedentary_minutes_per_day",
        "02_intensity_distribution",
        "03_sleep_analysis",
    ]
    for query in queries:
        assert query.sql.startswith(f"-- {query.name}: "), query.path
        assert query.description, query.path


def test_the_golden_lake_is_not_trivial(golden: list[Record]) -> None:
    nights = _night_of(golden)
    assert any(r["heartrate"] is None for r in golden)
    assert {r["intensity"] for r in golden} == {0, 1, 2, 3}
    assert any(r["date"] != nights[(r["id"], r["logid"])] for r in golden if r["logid"]), "no log crosses midnight"


def test_00_preview(results: dict[str, QueryResult], golden: list[Record]) -> None:
    result = results["00_preview"]
    assert result.columns == [*FIELD_NAMES, PARTITION_COLUMN]
    assert len(result.rows) == 10
    source = {tuple(r[n] for n in FIELD_NAMES) for r in golden}
    for row in result.records():
        assert tuple(row[n] for n in FIELD_NAMES) in source
        assert row[PARTITION_COLUMN] == row["date"]


def test_01_sedentary_minutes_per_day(results: dict[str, QueryResult], golden: list[Record]) -> None:
    user = 1503960366
    sedentary = [r for r in golden if r["id"] == user and r["intensity"] == 0 and r["sleep_value"] == 0.0]
    days = _group(sedentary, lambda r: r["date"])
    per_day_heartrate = [round(hr, 2) for rows in days.values() if (hr := _mean_heartrate(rows)) is not None]
    expected = {
        "id": user,
        "number_days": len(days),
        "avg_sedentary_minutes_day": fmean(len(rows) for rows in days.values()),
        "avg_heartrate_minute_day": fmean(per_day_heartrate),
    }
    _assert_rows(results["01_sedentary_minutes_per_day"], [expected], {k: 2 for k in list(expected)[2:]})


def test_02_intensity_distribution(results: dict[str, QueryResult], golden: list[Record]) -> None:
    active = [r for r in golden if r["intensity"] in (1, 2, 3)]
    expected = [
        {
            "id": key[0],
            "date": key[1],
            "intensity": key[2],
            "total_minutes": len(rows),
            "total_steps": sum(r["steps"] for r in rows),
            "total_calories": sum(r["calories"] for r in rows),
            "avg_heartrate": _mean_heartrate(rows),
        }
        for key, rows in _group(active, lambda r: (r["id"], r["date"], r["intensity"])).items()
    ]
    _assert_rows(results["02_intensity_distribution"], expected, {"total_calories": 2, "avg_heartrate": 2})


def test_03_sleep_analysis_counts_each_minute_on_its_own_date(
    results: dict[str, QueryResult], golden: list[Record]
) -> None:
    """The original design's query: sleep minutes grouped by id, the minute's own date and the stage."""
    in_bed = [r for r in golden if r["sleep_value"] != 0.0]
    expected = [
        {
            "id": key[0],
            "date": key[1],
            "sleep_value": key[2],
            "avg_minutes": len(rows),
            "avg_heartrate": _mean_heartrate(rows),
        }
        for key, rows in _group(in_bed, lambda r: (r["id"], r["date"], r["sleep_value"])).items()
    ]
    _assert_rows(results["03_sleep_analysis"], expected, {"avg_heartrate": 2})


def test_08_sleep_stages_per_night_counts_a_log_toward_the_night_it_ends(
    results: dict[str, QueryResult], golden: list[Record]
) -> None:
    nights = _night_of(golden)
    in_bed = [r for r in golden if r["sleep_value"] != 0.0]
    expected = [
        {
            "id": key[0],
            "date": key[1],
            "sleep_value": key[2],
            "minutes": len(rows),
            "avg_heartrate": _mean_heartrate(rows),
        }
        for key, rows in _group(in_bed, lambda r: (r["id"], nights[(r["id"], r["logid"])], r["sleep_value"])).items()
    ]
    _assert_rows(results["08_sleep_stages_per_night"], expected, {"avg_heartrate": 2})


def test_a_log_across_midnight_counts_on_both_dates_in_03_and_on_its_last_night_in_08(tmp_path: Path) -> None:
    """One user, one sleep log from 23:50 to 00:19: 10 minutes on the first date, 20 on the next."""
    start = dt.datetime(2016, 4, 12, 23, 50)
    night = [
        sample_record(
            id=USERS[0],
            date=m.date().isoformat(),
            time=m.time().isoformat(),
            intensity=0,
            steps=0,
            mets=10,
            sleep_value=1.0,
            logid=11_000_000_777,
            heartrate=55,
        )
        for m in (start + dt.timedelta(minutes=i) for i in range(30))
    ]
    with connect(default_catalog(crawled_golden_lake(tmp_path, night))) as con:
        by_date = run(con, read_named_query(SQL_DIR / "03_sleep_analysis.sql").sql).records()
        by_night = run(con, read_named_query(SQL_DIR / "08_sleep_stages_per_night.sql").sql).records()
    assert [(r["date"], r["avg_minutes"]) for r in by_date] == [("2016-04-12", 10), ("2016-04-13", 20)]
    assert [(r["date"], r["minutes"]) for r in by_night] == [("2016-04-13", 30)]


def test_04_daily_activity_follows_fitbit(results: dict[str, QueryResult], golden: list[Record]) -> None:
    expected = []
    for (user, day), rows in _group(golden, lambda r: (r["id"], r["date"])).items():
        count = {i: sum(1 for r in rows if r["intensity"] == i) for i in range(4)}
        expected.append(
            {
                "id": user,
                "date": day,
                "total_steps": sum(r["steps"] for r in rows),
                "very_active_minutes": count[3],
                "fairly_active_minutes": count[2],
                "lightly_active_minutes": count[1],
                "sedentary_minutes": sum(1 for r in rows if r["intensity"] == 0 and r["logid"] == 0),
                "minutes_in_bed": sum(1 for r in rows if r["logid"] != 0),
                "calories": sum(r["calories"] for r in rows),
                "avg_heartrate": _mean_heartrate(rows),
                "minutes_recorded": len(rows),
            }
        )
    _assert_rows(results["04_daily_activity"], expected, {"calories": 2, "avg_heartrate": 2})
    # Fitbit's identity: the four activity counts and the minutes in bed cover every recorded minute, once.
    for row in results["04_daily_activity"].records():
        in_bed_active = sum(
            1 for r in golden if (r["id"], r["date"]) == (row["id"], row["date"]) and r["logid"] and r["intensity"]
        )
        covered = sum(row[f"{k}_minutes"] for k in ("very_active", "fairly_active", "lightly_active", "sedentary"))
        assert covered + row["minutes_in_bed"] - in_bed_active == row["minutes_recorded"]


def test_05_heart_rate_by_intensity_uses_integer_division(
    results: dict[str, QueryResult], golden: list[Record]
) -> None:
    with_heartrate = [r for r in golden if r["heartrate"] is not None]
    expected = [
        {
            "id": key[0],
            "intensity": key[1],
            "minutes_with_heartrate": len(rows),
            "avg_heartrate": _mean_heartrate(rows),
            "min_heartrate": min(r["heartrate"] for r in rows),
            "max_heartrate": max(r["heartrate"] for r in rows),
            "steps_per_minute": sum(r["steps"] for r in rows) // len(rows),  # Trino: integer / integer truncates
        }
        for key, rows in _group(with_heartrate, lambda r: (r["id"], r["intensity"])).items()
    ]
    assert {row["id"] for row in expected} == set(USERS[:2]), "the third user has no heart-rate sensor"
    _assert_rows(results["05_heart_rate_by_intensity"], expected, {"avg_heartrate": 2})


def test_06_sleep_efficiency_per_night(results: dict[str, QueryResult], golden: list[Record]) -> None:
    nights = _night_of(golden)
    expected = []
    in_bed = [r for r in golden if r["logid"]]
    for (user, night), rows in _group(in_bed, lambda r: (r["id"], nights[(r["id"], r["logid"])])).items():
        asleep, in_bed = sum(1 for r in rows if r["sleep_value"] == 1.0), len(rows)
        expected.append(
            {
                "id": user,
                "date": night,
                "total_sleep_records": len({r["logid"] for r in rows}),
                "total_minutes_asleep": asleep,
                "total_time_in_bed": in_bed,
                "efficiency_percent": 100 * asleep // in_bed,
                "efficiency": asleep / in_bed,
            }
        )
    assert any(row["total_sleep_records"] == 2 for row in expected), "a night with a nap ending the same day"
    _assert_rows(results["06_sleep_efficiency"], expected, {"efficiency": 3})


def test_07_partition_freshness(results: dict[str, QueryResult], golden: list[Record]) -> None:
    expected = [
        {
            "dt": day,
            "records": len(rows),
            "users": len({r["id"] for r in rows}),
            "oldest_event": min(f"{r['date']} {r['time']}" for r in rows),
            "newest_event": max(f"{r['date']} {r['time']}" for r in rows),
            "raw_records": len(rows),
            "raw_newest_event": max(f"{r['date']} {r['time']}" for r in rows),
        }
        for day, rows in _group(golden, lambda r: r["date"]).items()
    ]
    _assert_rows(results["07_partition_freshness"], expected, {})


def test_every_named_query_is_checked_here(results: dict[str, QueryResult]) -> None:
    checked = {name.removeprefix("test_")[:2] for name in globals() if name.startswith("test_0")}
    assert {name[:2] for name in results} == checked


def test_result_types_are_trinos(results: dict[str, QueryResult]) -> None:
    """Counts and integer sums are BIGINT (never DuckDB's HUGEINT); averages are DOUBLE."""
    types = {(name, col): t for name, r in results.items() for col, t in zip(r.columns, r.types, strict=True)}
    assert "HUGEINT" not in types.values()
    assert types[("02_intensity_distribution", "total_steps")] == "BIGINT"
    assert types[("04_daily_activity", "sedentary_minutes")] == "BIGINT"
    assert types[("06_sleep_efficiency", "efficiency_percent")] == "BIGINT"
    assert types[("02_intensity_distribution", "avg_heartrate")] == "DOUBLE"
