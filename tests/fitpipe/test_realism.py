"""The realism checks: the simulator against the Fitabase statistics, and the checks' own arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

from fitpipe.cli import main
from fitpipe.realism_checks import Check, evaluate
from services.producer.simulator import simulate
from tests.strategies import sample_record

START = dt.date(2016, 4, 12)

#: Statistics that a dozen users over ten days already reproduce (the others need the real cohort's size to
#: average out: the mean of 12 users' steps, correlations, the share of nights with one log).
CORE = {
    "daily steps: sd",
    "share of user-days with 0 steps",
    "between-user sd of users' mean steps",
    "VeryActiveMinutes: mean",
    "LightlyActiveMinutes: mean",
    "SedentaryMinutes (outside sleep logs): mean",
    "daily Calories: mean",
    "share of minutes at intensity 0",
    "share of minutes at intensity 1",
    "share of minutes at intensity 2",
    "share of minutes at intensity 3",
    "steps/min at intensity 1: mean",
    "steps/min at intensity 2: mean",
    "steps/min at intensity 3: mean",
    "share of intensity-0 minutes with steps > 0",
    "r(steps by hour, real profile)",
    "share of daily steps in hours 0-4",
    "peak hour of steps",
    "TotalMinutesAsleep per night: mean",
    "TotalTimeInBed per night: mean",
    "sleep efficiency (asleep / in bed): mean",
    "share of log minutes asleep",
    "share of log minutes restless",
    "run length asleep: mean (min)",
    "share of main logs starting 20:00-03:00",
    "share of main logs ending 04:00-10:00",
    "METs at intensity 1: mean",
    "METs at intensity 2: mean",
    "METs at intensity 3: mean",
    "calories / (METs/10): largest deviation from the user's rate",
    "calories per minute: mean",
    "heart rate at intensity 0: mean",
    "heart rate at intensity 1: mean",
    "heart rate at intensity 2: mean",
    "heart rate rises with intensity (1 = yes)",
    "heart rate lag-1 autocorrelation",
    "heart rate: mean",
}


INF = float("inf")


def _pct(real: float, fraction: float) -> tuple[float, float]:
    return real * (1 - fraction), real * (1 + fraction)


def _plus_minus(real: float, tolerance: float) -> tuple[float, float]:
    return real - tolerance, real + tolerance


#: The bands of the Fitabase statistics' "Proposed acceptance criteria" (STATS.md beside the data), written from that
#: file: the real figure from its tables, the tolerance from its criteria. The checks in realism.py must use exactly
#: these, so that a band widened in the code to let the simulator pass fails here.
STATS_BANDS: dict[str, tuple[float, float]] = {
    # 1. daily steps (dailyActivity: mean 7638, 8319 on days with steps, sd 5087, between-user sd 3576)
    "daily steps: mean": _pct(7638, 0.10),
    "daily steps: mean of days with steps": _pct(8319, 0.10),
    "daily steps: sd": _pct(5087, 0.20),
    "share of user-days with 0 steps": (0.05, 0.12),
    "between-user sd of users' mean steps": _pct(3576, 0.30),
    # 2. daily minutes and calories
    "VeryActiveMinutes: mean": _pct(21.2, 0.25),
    "FairlyActiveMinutes: mean": _pct(13.6, 0.25),
    "LightlyActiveMinutes: mean": _pct(192.8, 0.15),
    "SedentaryMinutes (outside sleep logs): mean": _pct(991.2, 0.10),
    "daily Calories: mean": _pct(2303.6, 0.10),
    "daily Calories: sd": _pct(718.2, 0.25),
    "correlation steps-VeryActiveMinutes": _plus_minus(0.67, 0.15),
    "correlation steps-Calories": _plus_minus(0.59, 0.15),
    # 3. minute intensity and steps
    "share of minutes at intensity 0": _plus_minus(0.839, 0.03),
    "share of minutes at intensity 1": _plus_minus(0.136, 0.03),
    "share of minutes at intensity 2": (0.006, 0.015),
    "share of minutes at intensity 3": (0.010, 0.022),
    "steps/min at intensity 1: mean": _pct(24.8, 0.20),
    "steps/min at intensity 2: mean": _pct(59.4, 0.20),
    "steps/min at intensity 3: mean": _pct(92.4, 0.20),
    "share of intensity-0 minutes with steps > 0": (0, 0.001),
    "largest steps in one minute": (0, 220),
    # 4. circadian profile
    "r(steps by hour, real profile)": (0.95, 1),
    "share of daily steps in hours 0-4": (0, 0.02),
    "peak hour of steps": (12, 19),
    # 5. sleep (sleepDay: asleep 419.2, in bed 458.5, efficiency 0.916; minuteSleep shares)
    "TotalMinutesAsleep per night: mean": _plus_minus(419.2, 30),
    "TotalTimeInBed per night: mean": _plus_minus(458.5, 30),
    "sleep efficiency (asleep / in bed): mean": _plus_minus(0.916, 0.03),
    "share of nights with 1 sleep record": (0.85, 0.93),
    "share of log minutes asleep": _plus_minus(0.915, 0.03),
    "share of log minutes restless": _plus_minus(0.075, 0.025),
    "share of log minutes awake": (0.005, 0.02),
    "share of main logs starting 20:00-03:00": (0.75, 1),
    "share of main logs ending 04:00-10:00": (0.70, 1),
    # 6. METs (x10) and calories
    "METs at intensity 0: lowest": (10, 15),
    "METs at intensity 0: highest": (10, 15),
    "METs at intensity 1: lowest": (15, INF),
    "METs at intensity 2: lowest": (30, 59),
    "METs at intensity 2: highest": (30, 59),
    "METs at intensity 3: lowest": (60, INF),
    "METs at intensity 0: mean": (10, 11),
    "METs at intensity 1: mean": (25, 35),
    "METs at intensity 2: mean": _pct(43, 0.20),
    "METs at intensity 3: mean": _pct(80, 0.20),
    "users' resting kcal/min: lowest": (0.7, 1.55),
    "users' resting kcal/min: highest": (0.7, 1.55),
    "calories per minute: mean": _plus_minus(1.60, 0.15),
    # 7. heart rate (the per-intensity table's means; the published summary's mean 77.3 and sd 19.4)
    "heart rate at intensity 0: mean": _plus_minus(66.8, 8),
    "heart rate at intensity 1: mean": _plus_minus(81.4, 8),
    "heart rate at intensity 2: mean": _plus_minus(99.5, 8),
    "heart rate at intensity 3: mean": _plus_minus(127.5, 8),
    "awake sedentary minus asleep heart rate": (5, 12),
    "heart rate lag-1 autocorrelation": (0.9, 1),
    "heart rate: lowest": (36, 203),
    "heart rate: highest": (36, 203),
    "heart rate: mean": _plus_minus(77.3, 5),
    "heart rate: sd": _plus_minus(19.4, 5),
}


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.fixture(scope="module")
def small_cohort() -> dict[str, Check]:
    return _by_name(evaluate(simulate(12, START, 10, seed=0)))


def test_the_bands_are_those_of_the_fitabase_statistics(small_cohort):
    missing = STATS_BANDS.keys() - small_cohort.keys()
    assert not missing, f"checks not computed: {missing}"
    bands = {name: (small_cohort[name].low, small_cohort[name].high) for name in STATS_BANDS}
    assert bands == {name: pytest.approx(band, rel=1e-9) for name, band in STATS_BANDS.items()}


def test_a_small_cohort_passes_the_core_statistics(small_cohort):
    missing = CORE - small_cohort.keys()
    assert not missing, f"checks not computed: {missing}"
    failing = {name: (c.value, c.band) for name, c in small_cohort.items() if name in CORE and not c.passed}
    assert failing == {}


def test_a_small_cohort_is_exactly_consistent_criteria_8_and_9(small_cohort):
    consistency = [c for c in small_cohort.values() if c.criterion in (8, 9)]
    assert len(consistency) >= 6
    assert [c.name for c in consistency if not c.passed] == []


@pytest.mark.slow
def test_the_full_report_passes_every_band_on_33_users_for_31_days():
    checks = evaluate(simulate(33, START, 31, seed=0))
    assert {c.criterion for c in checks} == set(range(1, 10))
    assert [(c.name, c.value, c.band) for c in checks if not c.passed] == []


def test_checks_fail_on_unrealistic_records():
    records = list(simulate(4, START, 2, seed=3))
    doubled = [{**r, "steps": min(r["steps"] * 3, 300)} for r in records]
    checks = _by_name(evaluate(doubled))
    assert not checks["steps/min at intensity 1: mean"].passed
    assert not checks["largest steps in one minute"].passed

    in_log = next(i for i, r in enumerate(records) if r["logid"])
    broken = [*records[:in_log], {**records[in_log], "logid": 0}, *records[in_log + 1 :]]
    checks = _by_name(evaluate(broken))
    assert not checks["share of minutes with (sleep_value != 0) = (logid != 0)"].passed

    missing_minute = records[:100] + records[101:]
    assert not _by_name(evaluate(missing_minute))["share of user-days with 1440 distinct minutes"].passed


def _day(date: str, **by_minute) -> list[dict]:
    """One user's day of sedentary minutes, with some minutes overridden: {minute: fields}."""
    rows = []
    for minute in range(1440):
        record = sample_record(date=date, time=f"{minute // 60:02d}:{minute % 60:02d}:00", heartrate=None)
        record.update(by_minute.get(f"m{minute}", {}))
        rows.append(record)
    return rows


def test_sleep_counts_towards_the_day_it_ends_and_sedentary_minutes_leave_it_out():
    # One log from 23:00 on the first day to 00:59 on the second: one night of 120 minutes, on the second day.
    first = _day("2016-04-12", **{f"m{m}": {"sleep_value": 1.0, "logid": 77} for m in range(1380, 1440)})
    second = _day("2016-04-13", **{f"m{m}": {"sleep_value": 1.0, "logid": 77} for m in range(60)})
    checks = _by_name(evaluate(first + second))
    assert checks["TotalTimeInBed per night: mean"].value == 120
    assert checks["TotalMinutesAsleep per night: mean"].value == 120
    assert checks["share of nights with 1 sleep record"].value == 1
    assert checks["SedentaryMinutes (outside sleep logs): mean"].value == 1440 - 60
    assert checks["share of user-days with V+F+L+S = 1440 - sedentary minutes in bed"].value == 1


def test_realism_command_prints_the_table_and_exits_non_zero_when_a_band_fails(capsys):
    code = main(["realism", "--users", "2", "--days", "1", "--seed", "1"])
    out = capsys.readouterr().out
    assert "daily steps: mean" in out
    assert "PASS" in out
    # Two users for one day cannot have the real cohort's spread between users.
    assert "FAIL" in out
    assert code == 1


def test_realism_command_refuses_a_bad_cohort_in_one_line(capsys):
    assert main(["realism", "--users", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fitpipe realism: error: --users must be at least 1")
    assert "\n" not in err


@pytest.mark.slow
def test_the_checks_land_on_the_real_figures_when_run_on_the_real_export(fitabase_dir):
    from services.producer.replay import replay

    checks = _by_name(evaluate(replay(fitabase_dir)))
    # The aggregates follow Fitbit's own definitions: on the real minutes they give the real daily figures.
    assert checks["SedentaryMinutes (outside sleep logs): mean"].value == pytest.approx(991.2, abs=1)
    assert checks["LightlyActiveMinutes: mean"].value == pytest.approx(192.8, abs=1)
    assert checks["share of log minutes asleep"].value == pytest.approx(0.915, abs=0.002)
    assert checks["share of nights with 1 sleep record"].value == pytest.approx(0.888, abs=0.005)
    assert checks["TotalTimeInBed per night: mean"].value == pytest.approx(458.5, abs=5)
    # Everything of criteria 1-5 and 9 that the export itself holds passes on it.
    real_ones = [c for c in checks.values() if c.criterion in (1, 2, 3, 4, 5, 9)]
    assert [(c.name, c.value) for c in real_ones if not c.passed] == []
