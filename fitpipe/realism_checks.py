"""How real do records look? Each statistic of the Fitabase acceptance criteria, computed from records.

`evaluate(records)` turns any iterable of records (simulated or replayed) into Fitbit-style aggregates the way the
Fitbit export computes them: daily Very/Fairly/Lightly minutes count minute intensities 3/2/1, daily
SedentaryMinutes counts intensity-0 minutes *outside* sleep logs, a sleep log counts towards the sleepDay of the
date it ends on, hourly totals are sums of minutes. It returns one `Check` per statistic of criteria 1-9 with the
real figure and the band a realistic data set falls in.

The real figures and bands are those of the Fitabase statistics (33 users, 4/12-5/12/2016; "Proposed acceptance
criteria" 1-9): they are constants here, so no data is needed to run the checks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

import numpy as np

from core.schema import FIELD_NAMES, Record

MINUTES_PER_DAY: Final = 1440
INF: Final = math.inf

# --- Real figures (Fitabase statistics) ------------------------------------------------------------------------------
#: Mean steps per hour of day 0-23 over all user-days.
REAL_STEPS_BY_HOUR: Final = (
    42, 23, 17, 6, 13, 44, 179, 306, 428, 433, 482, 457, 549, 538, 541, 406, 497, 550, 599, 583, 354, 308, 238, 122,
)  # fmt: skip
#: Share of minutes at intensity 0/1/2/3, by hour of day 0-23.
REAL_INTENSITY_BY_HOUR: Final = (
    (0.966, 0.033, 0.001, 0.001),
    (0.978, 0.021, 0.000, 0.001),
    (0.984, 0.015, 0.000, 0.001),
    (0.993, 0.007, 0.000, 0.000),
    (0.989, 0.011, 0.000, 0.000),
    (0.955, 0.026, 0.001, 0.018),
    (0.903, 0.079, 0.007, 0.012),
    (0.851, 0.132, 0.007, 0.010),
    (0.818, 0.146, 0.010, 0.026),
    (0.793, 0.178, 0.010, 0.019),
    (0.762, 0.205, 0.013, 0.021),
    (0.765, 0.205, 0.014, 0.017),
    (0.737, 0.220, 0.017, 0.026),
    (0.750, 0.208, 0.019, 0.023),
    (0.757, 0.199, 0.016, 0.027),
    (0.776, 0.201, 0.010, 0.013),
    (0.750, 0.221, 0.012, 0.018),
    (0.716, 0.235, 0.019, 0.029),
    (0.715, 0.235, 0.018, 0.032),
    (0.729, 0.216, 0.022, 0.033),
    (0.794, 0.181, 0.014, 0.011),
    (0.830, 0.147, 0.014, 0.010),
    (0.874, 0.105, 0.009, 0.011),
    (0.930, 0.059, 0.007, 0.004),
)


@dataclass(frozen=True)
class Check:
    """One statistic: its value on the records, the real figure, and the band it must fall in."""

    criterion: int
    name: str
    value: float
    real: str
    low: float
    high: float
    digits: int = 1

    @property
    def passed(self) -> bool:
        return not math.isnan(self.value) and self.low <= self.value <= self.high

    def shown(self, x: float) -> str:
        if math.isnan(x):
            return "n/a"
        if math.isinf(x):
            return "∞" if x > 0 else "-∞"
        return f"{x:,.{self.digits}f}"

    @property
    def band(self) -> str:
        if math.isinf(self.high):
            return f"≥ {self.shown(self.low)}"
        if math.isinf(self.low):
            return f"≤ {self.shown(self.high)}"
        if self.low == self.high:
            return f"= {self.shown(self.low)}"
        return f"{self.shown(self.low)} to {self.shown(self.high)}"


def _around(criterion: int, name: str, value: float, real: float, tolerance: float, relative: bool, digits: int = 1):
    """A band of ±tolerance around `real` (a fraction of it when `relative`)."""
    half = abs(real) * tolerance if relative else tolerance
    return Check(criterion, name, float(value), f"{real:,.{digits}f}", real - half, real + half, digits)


# --- From records to columns -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Minutes:
    """The records as columns sorted by (user, time); `day` indexes `dates`, `minute` is the minute of the day."""

    user: np.ndarray  # index into `ids`
    ids: np.ndarray
    day: np.ndarray
    dates: tuple[dt.date, ...]
    minute: np.ndarray
    calories: np.ndarray
    intensity: np.ndarray
    mets: np.ndarray
    steps: np.ndarray
    sleep_value: np.ndarray
    logid: np.ndarray
    heartrate: np.ndarray  # NaN where null

    @property
    def hour(self) -> np.ndarray:
        return self.minute // 60

    @property
    def absolute(self) -> np.ndarray:
        """Minutes from the first date's midnight."""
        return self.day.astype(np.int64) * MINUTES_PER_DAY + self.minute


def to_minutes(records: Iterable[Record]) -> Minutes:
    """Collect records into sorted columns (times are floored to the minute)."""
    rows = list(map(itemgetter(*FIELD_NAMES), records))
    if not rows:
        raise ValueError("no records to evaluate")
    columns = dict(zip(FIELD_NAMES, zip(*rows, strict=True), strict=True))
    del rows
    date_index: dict[str, int] = {}
    day_raw = np.fromiter((date_index.setdefault(d, len(date_index)) for d in columns["date"]), dtype=np.int64)
    parsed = {text: dt.date.fromisoformat(text) for text in date_index}
    first = min(parsed.values())
    offset = np.array([(parsed[text] - first).days for text in date_index], dtype=np.int64)
    day = offset[day_raw]
    minute_of: dict[str, int] = {}
    minute = np.fromiter(
        (
            minute_of.get(t) if t in minute_of else minute_of.setdefault(t, int(t[:2]) * 60 + int(t[3:5]))
            for t in columns["time"]
        ),
        dtype=np.int64,
    )
    ids, user = np.unique(np.array(columns["id"], dtype=np.int64), return_inverse=True)
    order = np.lexsort((minute, day, user))
    n_days = int(day.max()) + 1
    return Minutes(
        user=user[order],
        ids=ids,
        day=day[order],
        dates=tuple(first + dt.timedelta(days=i) for i in range(n_days)),
        minute=minute[order],
        calories=np.array(columns["calories"], dtype=np.float64)[order],
        intensity=np.array(columns["intensity"], dtype=np.int64)[order],
        mets=np.array(columns["mets"], dtype=np.int64)[order],
        steps=np.array(columns["steps"], dtype=np.int64)[order],
        sleep_value=np.array(columns["sleep_value"], dtype=np.float64).astype(np.int64)[order],
        logid=np.array(columns["logid"], dtype=np.int64)[order],
        heartrate=np.array(columns["heartrate"], dtype=np.float64)[order],
    )


# --- Aggregates as the Fitbit export computes them ----------------------------------------------------------------


@dataclass(frozen=True)
class Daily:
    """dailyActivity: one entry per user-day present in the records."""

    user: np.ndarray
    day: np.ndarray
    minutes: np.ndarray  # distinct minutes recorded
    steps: np.ndarray
    very: np.ndarray
    fairly: np.ndarray
    lightly: np.ndarray
    sedentary: np.ndarray  # intensity 0 outside sleep logs
    in_bed: np.ndarray
    in_bed_sedentary: np.ndarray
    calories: np.ndarray


def daily(m: Minutes) -> Daily:
    n_days = len(m.dates)
    key = m.user * n_days + m.day
    keys, index = np.unique(key, return_inverse=True)
    size = len(keys)
    in_log = m.logid != 0

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=mask.astype(np.float64), minlength=size)

    distinct = np.ones(len(key), dtype=bool)
    distinct[1:] = (key[1:] != key[:-1]) | (m.minute[1:] != m.minute[:-1])
    return Daily(
        user=keys // n_days,
        day=keys % n_days,
        minutes=count(distinct),
        steps=np.bincount(index, weights=m.steps, minlength=size),
        very=count(m.intensity == 3),
        fairly=count(m.intensity == 2),
        lightly=count(m.intensity == 1),
        sedentary=count((m.intensity == 0) & ~in_log),
        in_bed=count(in_log),
        in_bed_sedentary=count((m.intensity == 0) & in_log),
        calories=np.bincount(index, weights=m.calories, minlength=size),
    )


@dataclass(frozen=True)
class SleepLogs:
    """One entry per sleep log (minutes with the same logid), in the order of their first minute."""

    logid: np.ndarray
    user: np.ndarray
    users_per_log: np.ndarray  # distinct users seen with the logid (1 when consistent)
    start: np.ndarray  # absolute minute of the first minute
    end: np.ndarray  # absolute minute after the last minute
    minutes: np.ndarray
    asleep: np.ndarray
    restless: np.ndarray
    awake: np.ndarray


def sleep_logs(m: Minutes) -> SleepLogs:
    inside = np.flatnonzero(m.logid != 0)
    if len(inside) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SleepLogs(empty, empty, empty, empty, empty, empty, empty, empty, empty)
    logid, absolute, user, value = m.logid[inside], m.absolute[inside], m.user[inside], m.sleep_value[inside]
    ids, index = np.unique(logid, return_inverse=True)
    size = len(ids)
    start = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(start, index, absolute)
    end = np.zeros(size, dtype=np.int64)
    np.maximum.at(end, index, absolute + 1)
    first_user = np.zeros(size, dtype=np.int64)
    first_user[index[::-1]] = user[::-1]
    pairs = np.unique(np.stack([index, user]), axis=1)
    order = np.argsort(start, kind="stable")

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=mask.astype(np.float64), minlength=size)[order]

    return SleepLogs(
        logid=ids[order],
        user=first_user[order],
        users_per_log=np.bincount(pairs[0], minlength=size)[order],
        start=start[order],
        end=end[order],
        minutes=np.bincount(index, minlength=size)[order],
        asleep=count(value == 1),
        restless=count(value == 2),
        awake=count(value == 3),
    )


# --- The checks ------------------------------------------------------------------------------------------------------


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else math.nan


def _activity_checks(m: Minutes, d: Daily) -> list[Check]:
    checks: list[Check] = []
    steps = d.steps
    user_means = np.bincount(d.user, weights=steps) / np.maximum(np.bincount(d.user), 1)
    user_means = user_means[np.bincount(d.user) > 0]
    checks += [
        _around(1, "daily steps: mean", _mean(steps), 7638, 0.10, True, 0),
        _around(1, "daily steps: mean of days with steps", _mean(steps[steps > 0]), 8319, 0.10, True, 0),
        _around(1, "daily steps: sd", _sd(steps), 5087, 0.20, True, 0),
        Check(1, "share of user-days with 0 steps", _mean(steps == 0), "0.082", 0.05, 0.12, 3),
        _around(1, "between-user sd of users' mean steps", _sd(user_means), 3576, 0.30, True, 0),
    ]
    checks += [
        _around(2, "VeryActiveMinutes: mean", _mean(d.very), 21.2, 0.25, True),
        _around(2, "FairlyActiveMinutes: mean", _mean(d.fairly), 13.6, 0.25, True),
        _around(2, "LightlyActiveMinutes: mean", _mean(d.lightly), 192.8, 0.15, True),
        _around(2, "SedentaryMinutes (outside sleep logs): mean", _mean(d.sedentary), 991.2, 0.10, True),
        _around(2, "daily Calories: mean", _mean(d.calories), 2303.6, 0.10, True, 0),
        _around(2, "daily Calories: sd", _sd(d.calories), 718.2, 0.25, True, 0),
        _around(2, "correlation steps-VeryActiveMinutes", _corr(steps, d.very), 0.67, 0.15, False, 2),
        _around(2, "correlation steps-Calories", _corr(steps, d.calories), 0.59, 0.15, False, 2),
    ]
    intensity_counts = np.bincount(m.intensity, minlength=4)[:4]
    shares = intensity_counts / max(len(m.intensity), 1)
    steps_mean = np.bincount(m.intensity, weights=m.steps, minlength=4)[:4] / np.maximum(intensity_counts, 1)
    sedentary = m.intensity == 0
    checks += [
        _around(3, "share of minutes at intensity 0", shares[0], 0.839, 0.03, False, 3),
        _around(3, "share of minutes at intensity 1", shares[1], 0.136, 0.03, False, 3),
        Check(3, "share of minutes at intensity 2", shares[2], "0.010", 0.006, 0.015, 3),
        Check(3, "share of minutes at intensity 3", shares[3], "0.015", 0.010, 0.022, 3),
        Check(3, "steps/min at intensity 0: mean", steps_mean[0], "0.00", 0.0, 0.05, 2),
        _around(3, "steps/min at intensity 1: mean", steps_mean[1], 24.8, 0.20, True),
        _around(3, "steps/min at intensity 2: mean", steps_mean[2], 59.4, 0.20, True),
        _around(3, "steps/min at intensity 3: mean", steps_mean[3], 92.4, 0.20, True),
        Check(3, "share of intensity-0 minutes with steps > 0", _mean(m.steps[sedentary] > 0), "0.0003", 0, 0.001, 4),
        Check(3, "largest steps in one minute", float(m.steps.max()), "220", 0, 220, 0),
    ]
    hours = m.hour
    n_user_days = len(d.steps)
    by_hour = np.bincount(hours, weights=m.steps, minlength=24) / max(n_user_days, 1)
    per_hour = np.bincount(hours * 4 + m.intensity, minlength=96).reshape(24, 4)
    hour_shares = per_hour / np.maximum(per_hour.sum(axis=1, keepdims=True), 1)
    checks += [
        Check(4, "r(steps by hour, real profile)", _corr(by_hour, np.array(REAL_STEPS_BY_HOUR)), "1", 0.95, 1, 3),
        Check(4, "share of daily steps in hours 0-4", by_hour[:5].sum() / max(by_hour.sum(), 1), "0.013", 0, 0.02, 3),
        Check(4, "peak hour of steps", float(np.argmax(by_hour)), "18", 12, 19, 0),
        Check(
            4,
            "largest gap to real intensity shares by hour",
            float(np.abs(hour_shares - np.array(REAL_INTENSITY_BY_HOUR)).max()),
            "0",
            0,
            0.04,
            3,
        ),
    ]
    return checks


def _sleep_checks(m: Minutes, logs: SleepLogs) -> list[Check]:
    n_users = len(m.ids)
    sleep_users = np.unique(logs.user)
    checks = [Check(5, "share of users with sleep logs", len(sleep_users) / n_users, "0.727", 0.6, 0.85, 3)]
    if len(logs.logid) == 0:
        return [*checks, Check(5, "sleep logs", 0.0, "459", 1, INF, 0)]
    end_day = (logs.end - 1) // MINUTES_PER_DAY
    n_days = len(m.dates)
    night = logs.user * (n_days + 1) + end_day
    _, index = np.unique(night, return_inverse=True)
    records = np.bincount(index)
    asleep = np.bincount(index, weights=logs.asleep)
    in_bed = np.bincount(index, weights=logs.minutes)
    # The main log of a night is its longest.
    longest = np.lexsort((-logs.minutes, index))
    first_of_night = np.ones(len(longest), dtype=bool)
    first_of_night[1:] = index[longest][1:] != index[longest][:-1]
    main = longest[first_of_night]
    start_hour = (logs.start[main] % MINUTES_PER_DAY) // 60
    end_hour = ((logs.end[main] - 1) % MINUTES_PER_DAY) // 60
    inside = m.logid != 0
    values = m.sleep_value[inside]
    value_shares = np.bincount(values, minlength=4)[1:4] / max(len(values), 1)
    runs = _run_lengths(m.logid[inside], values)
    checks += [
        _around(5, "TotalMinutesAsleep per night: mean", _mean(asleep), 419.2, 30, False),
        _around(5, "TotalTimeInBed per night: mean", _mean(in_bed), 458.5, 30, False),
        _around(5, "sleep efficiency (asleep / in bed): mean", _mean(asleep / in_bed), 0.916, 0.03, False, 3),
        Check(5, "share of nights with 1 sleep record", _mean(records == 1), "0.888", 0.85, 0.93, 3),
        _around(5, "share of log minutes asleep", value_shares[0], 0.915, 0.03, False, 3),
        _around(5, "share of log minutes restless", value_shares[1], 0.075, 0.025, False, 3),
        Check(5, "share of log minutes awake", value_shares[2], "0.011", 0.005, 0.02, 3),
        _around(5, "run length asleep: mean (min)", runs[1], 33.5, 0.3, True),
        _around(5, "run length restless: mean (min)", runs[2], 2.6, 0.3, True, 2),
        _around(5, "run length awake: mean (min)", runs[3], 2.5, 0.3, True, 2),
        Check(
            5,
            "share of main logs starting 20:00-03:00",
            _mean((start_hour >= 20) | (start_hour < 3)),
            "0.84",
            0.75,
            1,
            3,
        ),
        Check(5, "share of main logs ending 04:00-10:00", _mean((end_hour >= 4) & (end_hour < 10)), "0.78", 0.70, 1, 3),
    ]
    return checks


def _run_lengths(logid: np.ndarray, values: np.ndarray) -> dict[int, float]:
    """Mean length of runs of one sleep value inside logs, by value 1/2/3 (a log boundary ends a run)."""
    if len(values) == 0:
        return {1: math.nan, 2: math.nan, 3: math.nan}
    order = np.lexsort((np.arange(len(values)), logid))
    logid, values = logid[order], values[order]
    starts = np.ones(len(values), dtype=bool)
    starts[1:] = (values[1:] != values[:-1]) | (logid[1:] != logid[:-1])
    run_id = np.cumsum(starts) - 1
    lengths = np.bincount(run_id)
    run_values = values[starts]
    return {v: _mean(lengths[run_values == v]) for v in (1, 2, 3)}


def _energy_checks(m: Minutes) -> list[Check]:
    by = {level: m.mets[m.intensity == level] for level in range(4)}
    asleep_sedentary = m.mets[(m.logid != 0) & (m.intensity == 0)]
    rate = m.calories * 10 / np.maximum(m.mets, 1)
    user_rate = np.bincount(m.user, weights=rate) / np.maximum(np.bincount(m.user), 1)
    deviation = np.abs(rate - user_rate[m.user]) / np.maximum(user_rate[m.user], 1e-9)

    def lowest(x: np.ndarray) -> float:
        return float(x.min()) if len(x) else math.nan

    def highest(x: np.ndarray) -> float:
        return float(x.max()) if len(x) else math.nan

    return [
        Check(6, "METs at intensity 0: lowest", lowest(by[0]), "10", 10, 15, 0),
        Check(6, "METs at intensity 0: highest", highest(by[0]), "15", 10, 15, 0),
        Check(6, "share of METs = 10 in bed at intensity 0", _mean(asleep_sedentary == 10), "1", 1, 1, 3),
        Check(6, "METs at intensity 1: lowest", lowest(by[1]), "16", 15, INF, 0),
        Check(6, "METs at intensity 2: lowest", lowest(by[2]), "37", 30, 59, 0),
        Check(6, "METs at intensity 2: highest", highest(by[2]), "59", 30, 59, 0),
        Check(6, "METs at intensity 3: lowest", lowest(by[3]), "60", 60, INF, 0),
        Check(6, "METs at intensity 0: mean", _mean(by[0]), "10-11", 10, 11, 2),
        Check(6, "METs at intensity 1: mean", _mean(by[1]), "25-35", 25, 35),
        _around(6, "METs at intensity 2: mean", _mean(by[2]), 43, 0.2, True),
        _around(6, "METs at intensity 3: mean", _mean(by[3]), 80, 0.2, True),
        Check(
            6, "calories / (METs/10): largest deviation from the user's rate", float(deviation.max()), "0", 0, 0.01, 4
        ),
        Check(6, "users' resting kcal/min: lowest", float(user_rate.min()), "0.70", 0.7, 1.55, 2),
        Check(6, "users' resting kcal/min: highest", float(user_rate.max()), "1.53", 0.7, 1.55, 2),
        _around(6, "users' resting kcal/min: mean", float(user_rate.mean()), 1.11, 0.15, False, 2),
        _around(6, "calories per minute: mean", _mean(m.calories), 1.60, 0.15, False, 2),
    ]


def _heart_rate_checks(m: Minutes) -> list[Check]:
    has = ~np.isnan(m.heartrate)
    users_with = np.unique(m.user[has])
    checks = [Check(7, "share of users with heart rate", len(users_with) / len(m.ids), "0.424", 0.30, 0.55, 3)]
    if not has.any():
        return checks
    hr, intensity = m.heartrate[has], m.intensity[has]
    means = [_mean(hr[intensity == level]) for level in range(4)]
    in_log = m.logid[has] != 0
    asleep = hr[m.sleep_value[has] == 1]
    awake_sedentary = hr[(intensity == 0) & ~in_log]
    consecutive = has[1:] & has[:-1] & (m.user[1:] == m.user[:-1]) & (np.diff(m.absolute) == 1)
    lag = _corr(m.heartrate[:-1][consecutive], m.heartrate[1:][consecutive])
    for level, real in enumerate((66.8, 81.4, 99.5, 127.5)):
        checks.append(_around(7, f"heart rate at intensity {level}: mean", means[level], real, 8, False))
    increasing = float(all(np.diff(means) > 0))
    checks += [
        Check(7, "heart rate rises with intensity (1 = yes)", increasing, "1", 1, 1, 0),
        Check(7, "awake sedentary minus asleep heart rate", _mean(awake_sedentary) - _mean(asleep), "5-12", 5, 12),
        Check(7, "heart rate lag-1 autocorrelation", lag, "0.96", 0.9, 1, 3),
        Check(7, "heart rate: lowest", float(hr.min()), "36", 36, 203, 0),
        Check(7, "heart rate: highest", float(hr.max()), "203", 36, 203, 0),
        _around(7, "heart rate: mean", _mean(hr), 77.3, 5, False),
        _around(7, "heart rate: sd", _sd(hr), 19.4, 5, False),
    ]
    without = np.setdiff1d(np.arange(len(m.ids)), users_with)
    mixed = np.isin(m.user, without) & has
    checks.append(Check(7, "heart rate of users without a sensor (not null)", float(mixed.sum()), "0", 0, 0, 0))
    return checks


def _consistency_checks(m: Minutes, d: Daily, logs: SleepLogs) -> list[Check]:
    balance = d.very + d.fairly + d.lightly + d.sedentary + d.in_bed_sedentary == MINUTES_PER_DAY
    in_bed = m.sleep_value != 0
    in_log = m.logid != 0
    contiguous = logs.end - logs.start == logs.minutes
    same_user = logs.users_per_log == 1
    overlaps = np.zeros(len(logs.start), dtype=bool)
    if len(logs.start) > 1:
        by_user = np.lexsort((logs.start, logs.user))
        user, start, end = logs.user[by_user], logs.start[by_user], logs.end[by_user]
        overlaps[by_user[1:]] = (user[1:] == user[:-1]) & (start[1:] < end[:-1])
    asleep = m.sleep_value == 1
    hourly = np.bincount((m.user * len(m.dates) + m.day) * 24 + m.hour, weights=m.steps)
    return [
        Check(8, "share of user-days with 1440 distinct minutes", _mean(d.minutes == MINUTES_PER_DAY), "1", 1, 1, 3),
        Check(8, "share of user-days with V+F+L+S = 1440 - sedentary minutes in bed", _mean(balance), "1", 1, 1, 3),
        Check(8, "Σ hourly steps - Σ daily TotalSteps", float(hourly.sum() - d.steps.sum()), "0", 0, 0, 0),
        Check(9, "share of minutes with (sleep_value != 0) = (logid != 0)", _mean(in_bed == in_log), "1", 1, 1, 3),
        Check(
            9,
            "share of logs of one user, without gaps or overlaps",
            _mean(contiguous & same_user & ~overlaps) if len(logs.start) else 1.0,
            "1",
            1,
            1,
            3,
        ),
        Check(9, "share of asleep minutes at intensity 0", _mean(m.intensity[asleep] == 0), "0.998", 0.99, 1, 3),
    ]


def evaluate(records: Iterable[Record]) -> list[Check]:
    """Every check of criteria 1-9 on `records` (at least one full user-day)."""
    m = to_minutes(records)
    d = daily(m)
    logs = sleep_logs(m)
    return [
        *_activity_checks(m, d),
        *_sleep_checks(m, logs),
        *_energy_checks(m),
        *_heart_rate_checks(m),
        *_consistency_checks(m, d, logs),
    ]
