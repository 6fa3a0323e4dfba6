"""A realistic fitness-tracker simulator: one record per user per minute, calibrated on the Fitabase Fitbit export.

The model (parameters and their sources in `sim_params`):

- **Users** differ by random effects: activity level, taste for vigorous exercise, how often they leave the tracker
  off, resting calorie rate, bedtime, time in bed, restlessness, resting heart rate. The effects are stratified
  over the cohort, so that even a small cohort spreads like the real users. 24/33 of users (rounded) log sleep
  and 14/33 wear a heart-rate tracker (the rest have `heartrate` null).
- **Days** have their own activity and exercise levels; about 8% are non-wear days (no steps, all sedentary).
- **Intensity** follows a minute-to-minute Markov chain (the real transition matrix) whose rate of leaving
  "sedentary" follows the real hour-of-day profile, with the weekend's later morning.
- **Steps** depend on intensity (real per-intensity distributions); **METs** depend on intensity and steps;
  **calories** are the user's resting kcal/min x METs / 10.
- **Sleep** logs are planned per night (bedtime, time in bed, split nights, afternoon naps); inside a log the value
  follows the real asleep/restless/awake chain and intensity is that of sleep. Each log has its own `logid`.
- **Heart rate** moves towards a target (user baseline, hour, intensity, steps, sleep) closing a share of the gap
  each minute, so it is autocorrelated as a real one.

Everything is vectorised with numpy a day at a time for all users; only building the records is per minute.
The same arguments (and seed) always give the same data.

Entry points, fastest last:

- `simulate(users, start, days, seed)`: records (dicts of the schema's fields), in event-time order: minute by
  minute, every user for that minute, users sorted by id.
- `simulate_days(...)`: one `SimulatedDay` per day, with the day's columns as `(1440, users)` numpy arrays.
- `simulate_encoded(...)`: `(key, value)` byte pairs ready for Kafka: key = the user id as ASCII digits, value =
  exactly `core.schema.encode(record)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Final

import numpy as np

from core.schema import Record
from services.producer import sim_params as p
from services.producer.encoding import CALORIES_DECIMALS, encode_day

MINUTES_PER_DAY: Final = 1440
_TIMES: Final = tuple(f"{m // 60:02d}:{m % 60:02d}:00" for m in range(MINUTES_PER_DAY))
_HOUR_OF_MINUTE: Final = np.arange(MINUTES_PER_DAY) // 60
_LOGID_EPOCH: Final = dt.datetime(2000, 1, 1)
_LOGID_BASE: Final = 10_000_000_000


class SimulationError(ValueError):
    """Arguments the simulator cannot work with; the message says what to pass instead."""


# --- Users -----------------------------------------------------------------------------------------------------------


def user_ids(count: int, seed: int = 0) -> list[int]:
    """`count` distinct 10-digit Fitbit-like user ids, sorted, the same for the same seed."""
    if count < 1:
        raise SimulationError(f"the number of users must be at least 1, got {count}")
    rng = np.random.default_rng([seed, 0x1D5])
    low, high = p.USER_ID_RANGE
    ids: set[int] = set()
    while len(ids) < count:
        ids.update(int(i) for i in rng.integers(low, high, size=count - len(ids), endpoint=True))
    return sorted(ids)


@dataclass(frozen=True)
class Cohort:
    """Per-user random effects, one array entry per user, users sorted by id."""

    ids: np.ndarray  # int64
    activity: np.ndarray  # multiplies the rate of leaving "sedentary"
    vigour: np.ndarray  # multiplies the rate of entering "very active"
    non_wear: np.ndarray  # probability that a day is a non-wear day
    kcal_per_min: np.ndarray  # resting calories per minute: calories = this x METs / 10
    logs_sleep: np.ndarray  # bool
    has_heart_rate: np.ndarray  # bool
    night_logged: np.ndarray  # probability that a night has a sleep log
    bedtime_h: np.ndarray  # usual start of the main log, hours from midnight of the day it ends
    in_bed_min: np.ndarray  # usual time in bed of the main log
    restlessness: np.ndarray  # multiplies the rate of leaving "asleep"
    hr_baseline: np.ndarray  # sedentary daytime heart rate
    vigorous_stepping: np.ndarray  # share of very active minutes with steps (runs, not rides)
    vigorous_cadence: np.ndarray  # multiplies steps per very active minute

    @property
    def size(self) -> int:
        return len(self.ids)


def _lognormal_mean_one(z: float | np.ndarray, sd: float) -> np.ndarray:
    """exp(sd z - sd^2/2): log-normal with mean 1 for a standard normal z."""
    return np.exp(sd * np.asarray(z) - sd * sd / 2)


def _pick_share(draws: np.ndarray, share: float) -> np.ndarray:
    """The round(share x n) entries with the smallest draws, as a mask: exact shares in any cohort."""
    chosen = np.zeros(len(draws), dtype=bool)
    chosen[np.argsort(draws, kind="stable")[: round(share * len(draws))]] = True
    return chosen


_NORMAL: Final = NormalDist()


def _ranks_to_quantiles(draws: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each member's (rank + 1/2) / count among the members, by its draw; 0.5 for the others."""
    quantiles = np.full(len(draws), 0.5)
    index = np.flatnonzero(members)
    ranks = np.argsort(np.argsort(draws[index], kind="stable"), kind="stable")
    quantiles[index] = (ranks + 0.5) / max(len(index), 1)
    return quantiles


def _normal_scores(draws: np.ndarray, members: np.ndarray) -> np.ndarray:
    return np.array([_NORMAL.inv_cdf(q) for q in _ranks_to_quantiles(draws, members)])


@lru_cache(maxsize=8)
def _beta_sample(a: float, b: float) -> np.ndarray:
    """A fixed large sample of Beta(a, b), for its quantiles (numpy has no inverse Beta CDF)."""
    return np.sort(np.random.default_rng(0xBE7A).beta(a, b, 100_000))


def _beta_scores(draws: np.ndarray, members: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.quantile(_beta_sample(a, b), _ranks_to_quantiles(draws, members))


def make_cohort(ids: Sequence[int], seed: int) -> Cohort:
    """Each user's random effects.

    Every user's draws come from (seed, user id). They are then stratified: within the cohort (or within its sleep
    or heart-rate users) each effect takes the quantiles of its distribution by rank, so that even a small cohort
    spreads over the whole distribution, as the real users do, without a lucky or unlucky cohort mean.
    """
    ids_array = np.array(sorted(ids), dtype=np.int64)
    n = len(ids_array)
    draws = np.empty((n, 16))
    for i, user_id in enumerate(ids_array.tolist()):
        draws[i] = np.random.default_rng([seed, 0xC0, user_id]).random(16)
    everyone = np.ones(n, dtype=bool)
    logs_sleep = _pick_share(draws[:, 0], p.SLEEP_USER_SHARE)
    has_heart_rate = _pick_share(draws[:, 1], p.HEART_RATE_USER_SHARE)

    def normal(column: int, members: np.ndarray = everyone) -> np.ndarray:
        return _normal_scores(draws[:, column], members)

    rho = p.VIGOUR_ACTIVITY_CORRELATION
    activity_z = normal(2)
    kcal_mean, kcal_sd, kcal_min, kcal_max = p.RESTING_KCAL_PER_MIN
    hr_mean, hr_sd, hr_min, hr_max = p.HR_BASELINE
    return Cohort(
        ids=ids_array,
        activity=_lognormal_mean_one(activity_z, p.USER_ACTIVITY_SD),
        vigour=_lognormal_mean_one(rho * activity_z + np.sqrt(1 - rho * rho) * normal(3), p.USER_VIGOUR_SD),
        non_wear=_beta_scores(draws[:, 4], everyone, *p.NON_WEAR_BETA),
        kcal_per_min=np.clip(kcal_mean + kcal_sd * normal(5), kcal_min, kcal_max),
        logs_sleep=logs_sleep,
        has_heart_rate=has_heart_rate,
        night_logged=_beta_scores(draws[:, 6], logs_sleep, *p.NIGHT_LOGGED_BETA),
        bedtime_h=p.BEDTIME_MEAN_H + p.BEDTIME_USER_SD_H * normal(7, logs_sleep),
        in_bed_min=p.IN_BED_MEAN_MIN + p.IN_BED_USER_SD_MIN * normal(8, logs_sleep),
        restlessness=_lognormal_mean_one(normal(9, logs_sleep), p.USER_RESTLESSNESS_SD),
        hr_baseline=np.clip(hr_mean + hr_sd * normal(10, has_heart_rate), hr_min, hr_max),
        vigorous_stepping=_beta_scores(draws[:, 11], everyone, *p.VIGOROUS_STEPS_SHARE_BETA),
        vigorous_cadence=_lognormal_mean_one(normal(12), p.USER_VIGOROUS_CADENCE_SD),
    )


# --- The hour-of-day profile of activity --------------------------------------------------------------------------


def _exit_multipliers() -> np.ndarray:
    """Per (weekend?, hour): the factor on the chain's rate of leaving "sedentary", shape (2, 24).

    With only the row of "sedentary" scaled by m, the odds active:sedentary of the chain's stationary distribution
    are m times those of the real matrix, so each hour's target share of active minutes gives m directly.
    """
    base = np.array(p.INTENSITY_TRANSITIONS)
    base /= base.sum(axis=1, keepdims=True)
    base_odds = (1 - _stationary(base)[0]) / _stationary(base)[0]
    active = 1 - np.array(p.SEDENTARY_SHARE_BY_HOUR)
    non_wear_mean = p.NON_WEAR_BETA[0] / sum(p.NON_WEAR_BETA)
    # The real shares count non-wear days; the chain runs on worn days.
    active = active / (1 - non_wear_mean)
    hours = np.arange(24)
    shifted = np.interp(hours - p.WEEKEND_MORNING_SHIFT_H, hours, active, period=24)
    weekend = active.copy()
    morning = (hours >= 4) & (hours < 12)
    weekend[morning] = shifted[morning]
    weekend[(hours >= 12) & (hours < 16)] *= p.WEEKEND_MIDDAY_BOOST
    weekday = np.maximum((7 * active - 2 * weekend) / 5, 0.2 * active)
    profiles = np.clip(np.stack([weekday, weekend]), 1e-4, 0.9)
    # Users and days differ around these levels, and the share of active minutes is concave in the rate: busier
    # hours need a larger rate to reach the same mean share (see ACTIVITY_CALIBRATION).
    return profiles / (1 - profiles) / base_odds * (1 + p.ACTIVITY_CALIBRATION * profiles)


def _stationary(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(matrix.T)
    vector = np.real(vectors[:, np.argmax(np.real(values))])
    return vector / vector.sum()


def _vigour_by_hour() -> np.ndarray:
    """Per hour: the factor on the rate of entering "very active", from the real ratio of very active to light."""
    light, vigorous = np.array(p.LIGHT_SHARE_BY_HOUR), np.array(p.VIGOROUS_SHARE_BY_HOUR)
    ratio = vigorous / np.maximum(light, 1e-3)
    return np.clip(ratio / (vigorous.mean() / light.mean()), 0.1, 5.0)


_EXIT_BY_HOUR: Final = _exit_multipliers()
_VIGOUR_BY_HOUR: Final = _vigour_by_hour()
_INTENSITY_P: Final = np.array(p.INTENSITY_TRANSITIONS) / np.array(p.INTENSITY_TRANSITIONS).sum(axis=1, keepdims=True)
_SLEEP_P: Final = np.array(p.SLEEP_TRANSITIONS) / np.array(p.SLEEP_TRANSITIONS).sum(axis=1, keepdims=True)


# --- Sleep logs ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SleepPlan:
    """Every sleep log of the run, sorted by start: absolute minutes from the start date's midnight."""

    start: np.ndarray  # int64, first minute in the log
    end: np.ndarray  # int64, first minute after the log
    user: np.ndarray  # index into the cohort
    logid: np.ndarray  # int64

    def overlapping(self, day: int) -> range:
        """Indices of the logs that touch day `day` (logs are shorter than a day)."""
        lo = np.searchsorted(self.start, day * MINUTES_PER_DAY - MINUTES_PER_DAY, side="left")
        hi = np.searchsorted(self.start, (day + 1) * MINUTES_PER_DAY, side="left")
        return range(int(lo), int(hi))


def plan_sleep(cohort: Cohort, start: dt.date, days: int, wear: np.ndarray, seed: int) -> SleepPlan:
    """Plan the logs of every night. Night n ends on day n; a log counts towards the day it ends on.

    Logs that would run past either end of the simulated range are left out, so that every emitted log is whole.
    """
    rng = np.random.default_rng([seed, 0x51EE, days])
    n_users = cohort.size
    nights = np.arange(days)
    weekend_night = np.array([(start + dt.timedelta(days=int(n))).weekday() >= 5 for n in nights])
    logged = (rng.random((days, n_users)) < cohort.night_logged) & cohort.logs_sleep & wear
    # A log that starts the evening before needs that day worn too.
    bedtime = (
        cohort.bedtime_h
        + p.WEEKEND_BEDTIME_SHIFT_H * weekend_night[:, None]
        + p.BEDTIME_NIGHT_SD_H * rng.standard_normal((days, n_users))
    )
    bedtime = np.clip(bedtime, -5.0, 4.0)
    start_min = nights[:, None] * MINUTES_PER_DAY + np.round(bedtime * 60).astype(np.int64)
    worn_before = np.vstack([np.ones((1, n_users), dtype=bool), wear[:-1]])
    logged &= (bedtime >= 0) | worn_before
    low, high = p.IN_BED_RANGE_MIN
    length = (
        cohort.in_bed_min + 20 * weekend_night[:, None] + p.IN_BED_NIGHT_SD_MIN * rng.standard_normal((days, n_users))
    )
    length = np.clip(np.round(length), low, high).astype(np.int64)
    latest_end = nights[:, None] * MINUTES_PER_DAY + 13 * 60
    end_min = np.minimum(start_min + length, latest_end)

    split = rng.random((days, n_users)) < p.SPLIT_NIGHT_SHARE
    cut = start_min + np.round((end_min - start_min) * rng.uniform(0.25, 0.75, (days, n_users))).astype(np.int64)
    gap = rng.integers(p.SPLIT_GAP_MIN[0], p.SPLIT_GAP_MIN[1], (days, n_users), endpoint=True)
    split &= end_min - (cut + gap) >= 20

    nap = (rng.random((days, n_users)) < p.NAP_SHARE) & cohort.logs_sleep & wear
    nap_start = nights[:, None] * MINUTES_PER_DAY + np.round(rng.uniform(*p.NAP_START_H, (days, n_users)) * 60).astype(
        np.int64
    )
    nap_end = nap_start + rng.integers(*p.NAP_LENGTH_MIN, (days, n_users), endpoint=True)
    nap &= ~logged | (end_min + 30 <= nap_start)

    users = np.broadcast_to(np.arange(n_users), (days, n_users))
    whole = logged & ~split
    pieces = [
        (start_min[whole], end_min[whole], users[whole]),
        (start_min[logged & split], cut[logged & split], users[logged & split]),
        (cut[logged & split] + gap[logged & split], end_min[logged & split], users[logged & split]),
        (nap_start[nap], nap_end[nap], users[nap]),
    ]
    starts = np.concatenate([piece[0] for piece in pieces])
    ends = np.concatenate([piece[1] for piece in pieces])
    owners = np.concatenate([piece[2] for piece in pieces])
    inside = (starts >= 0) & (ends <= days * MINUTES_PER_DAY) & (ends > starts)
    starts, ends, owners = starts[inside], ends[inside], owners[inside]
    order = np.lexsort((owners, starts))
    starts, ends, owners = starts[order], ends[order], owners[order]
    epoch_minutes = int((dt.datetime.combine(start, dt.time()) - _LOGID_EPOCH).total_seconds()) // 60
    logids = _LOGID_BASE + (epoch_minutes + starts) * 100_000 + owners % 100_000
    return SleepPlan(starts, ends, owners, logids.astype(np.int64))


# --- One day ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedDay:
    """One day of every user: columns of shape (1440, users), row = minute of the day, column = user."""

    date: dt.date
    ids: np.ndarray  # int64, (users,)
    calories: np.ndarray  # float64
    intensity: np.ndarray  # int8
    mets: np.ndarray  # int16
    steps: np.ndarray  # int16
    sleep_value: np.ndarray  # int8
    logid: np.ndarray  # int64
    heartrate: np.ndarray  # int16, -1 where there is none

    def __len__(self) -> int:
        return MINUTES_PER_DAY * len(self.ids)

    def _columns(self) -> tuple[list, ...]:
        n_users = len(self.ids)
        heartrate = [None if h < 0 else h for h in self.heartrate.ravel().tolist()]
        return (
            np.tile(self.ids, MINUTES_PER_DAY).tolist(),
            [t for t in _TIMES for _ in range(n_users)],
            np.round(self.calories, CALORIES_DECIMALS).ravel().tolist(),
            self.intensity.ravel().tolist(),
            self.mets.ravel().tolist(),
            self.steps.ravel().tolist(),
            self.sleep_value.astype(np.float64).ravel().tolist(),
            self.logid.ravel().tolist(),
            heartrate,
        )

    def records(self) -> Iterator[Record]:
        """The day's records in event order: minute by minute, every user for that minute."""
        date = self.date.isoformat()
        for user_id, time, calories, intensity, mets, steps, sleep_value, logid, heartrate in zip(
            *self._columns(), strict=True
        ):
            yield {
                "id": user_id,
                "date": date,
                "time": time,
                "calories": calories,
                "intensity": intensity,
                "mets": mets,
                "steps": steps,
                "sleep_value": sleep_value,
                "logid": logid,
                "heartrate": heartrate,
            }

    def encoded(self) -> list[tuple[bytes, bytes]]:
        """(key, value) pairs in event order: the user id as ASCII digits and the record as `schema.encode` writes
        it, formatted straight from the columns (`encoding.encode_day`)."""
        return encode_day(self)


#: Minutes per block when the chains are run (`_chain_states`); a day is 45 blocks.
_CHAIN_BLOCK: Final = 32


def _chain_states(going: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """The states of independent Markov chains minute by minute: `states[t, u]`, chain u's state after minute t.

    `going[t, u, s]` is the state chain u goes to at minute t from state s (that minute's draw already applied);
    `initial[u]` its state before the first minute. Stepping minute by minute costs a dozen numpy calls per minute;
    here the minutes are cut into blocks, every block's steps composed into one map (all blocks at once), the
    blocks' first states chained through those maps, and then every block stepped at once from its first state:
    exactly the states of stepping, in some hundred calls a day."""
    minutes, n, k = going.shape
    blocks, rest = divmod(minutes, _CHAIN_BLOCK)
    if rest:
        raise ValueError(f"the minutes ({minutes}) must be whole blocks of {_CHAIN_BLOCK}")
    # Minute j of every block as one flat table: entry (block * n + chain) * k + state.
    steps = [
        np.ascontiguousarray(column).ravel() for column in going.reshape(blocks, _CHAIN_BLOCK, n, k).swapaxes(0, 1)
    ]
    rows = np.arange(blocks * n)[:, None] * k
    maps = np.broadcast_to(np.arange(k), (blocks * n, k))
    for step in steps:
        maps = step[rows + maps]
    maps = maps.reshape(blocks, n * k)
    chain_rows = np.arange(n) * k
    firsts = np.empty((blocks, n), dtype=np.int64)
    state = np.asarray(initial, dtype=np.int64)
    for b in range(blocks):
        firsts[b] = state
        state = maps[b][chain_rows + state]
    states = np.empty((_CHAIN_BLOCK, blocks * n), dtype=np.int64)
    state = firsts.ravel()
    for j, step in enumerate(steps):
        state = states[j] = step[rows[:, 0] + state]
    return states.reshape(_CHAIN_BLOCK, blocks, n).swapaxes(0, 1).reshape(minutes, n)


def _thresholds_passed(draws: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of the last axis's `thresholds` each draw reaches (`draws` broadcast against all but that axis)."""
    passed = np.zeros(np.broadcast_shapes(draws.shape, thresholds.shape[:-1]), dtype=np.int64)
    for i in range(thresholds.shape[-1]):
        passed += draws >= thresholds[..., i]
    return passed


class _Simulation:
    """The state carried from one day to the next: chain states, heart rate, the sleep plan."""

    def __init__(self, cohort: Cohort, start: dt.date, days: int, seed: int):
        self.cohort, self.start, self.days, self.seed = cohort, start, days, seed
        n = cohort.size
        rng = np.random.default_rng([seed, 0x3EA2, days])
        self.wear = rng.random((days, n)) >= cohort.non_wear
        self.sleep = plan_sleep(cohort, start, days, self.wear, seed)
        self.intensity_state = np.zeros(n, dtype=np.int64)
        self.sleep_state = np.ones(n, dtype=np.int64)
        self.heart = cohort.hr_baseline + np.array(p.HR_BY_HOUR)[0]
        # The chain's rows for intensities 1-3 (cumulative thresholds) change with the day's vigour; row 0 with
        # the minute. Sleep rows change only with the user's restlessness.
        sleep_rows = np.broadcast_to(_SLEEP_P, (n, 3, 3)).copy()
        leave = (sleep_rows[:, 0, 1:]) * cohort.restlessness[:, None]
        sleep_rows[:, 0, 1:] = leave
        sleep_rows[:, 0, 0] = 1 - leave.sum(axis=1)
        self.sleep_cumulative = np.cumsum(sleep_rows, axis=2)[:, :, :2]

    def day(self, index: int) -> SimulatedDay:
        cohort, n = self.cohort, self.cohort.size
        date = self.start + dt.timedelta(days=index)
        rng = np.random.default_rng([self.seed, 0xDA7, index])
        wear = self.wear[index]
        day_activity = _lognormal_mean_one(rng.standard_normal(n), p.DAY_ACTIVITY_SD)
        day_vigour = cohort.vigour * _lognormal_mean_one(rng.standard_normal(n), p.DAY_VIGOUR_SD)
        effort = _lognormal_mean_one(rng.standard_normal(n), p.HR_DAY_EFFORT_SD)
        resting_shift = p.HR_DAY_SD * rng.standard_normal(n)

        in_log, log_start, logid = self._sleep_masks(index)

        # Intensity chain, awake: the rate of leaving "sedentary" by minute and user; zero inside logs and on
        # non-wear days, so the chain rests at "sedentary" there.
        hour_rate = _EXIT_BY_HOUR[int(date.weekday() >= 5)][_HOUR_OF_MINUTE][:, None]
        awake = np.where(in_log, 0.0, 1.0) * wear
        exit_rate = hour_rate * (cohort.activity * day_activity) * awake
        # Rows 1-3 by hour: going on to "very active" follows the day's vigour and the hour's rhythm.
        rows = np.broadcast_to(_INTENSITY_P, (24, n, 4, 4)).copy()
        to_vigorous = np.minimum(
            rows[:, :, 1:3, 3] * p.ONWARD_VIGOUR_FACTOR * day_vigour[None, :, None] * _VIGOUR_BY_HOUR[:, None, None],
            0.6,
        )
        rows[:, :, 1:3, 3] = to_vigorous
        rows[:, :, 1:3, 1:3] *= ((1 - to_vigorous - rows[:, :, 1:3, 0]) / rows[:, :, 1:3, 1:3].sum(axis=3))[..., None]
        cumulative_by_hour = np.cumsum(rows, axis=3)[:, :, :, :3]
        # Vigorous exercise is a choice of its own: it follows its own hours and the user's and day's vigour,
        # and its rhythm, not the general activity level.
        leave_p = _INTENSITY_P[0, 1:] * exit_rate[:, :, None]  # (1440, n, 3)
        vigour_rate = hour_rate * _VIGOUR_BY_HOUR[_HOUR_OF_MINUTE][:, None] * day_vigour * awake
        leave_p[:, :, 1] *= np.sqrt(day_vigour)
        leave_p[:, :, 2] = _INTENSITY_P[0, 3] * p.VIGOROUS_START_FACTOR * vigour_rate
        leave_p = np.minimum(leave_p, 0.3)
        row0 = (
            1
            - leave_p.sum(axis=2, keepdims=True)
            + np.concatenate([np.zeros((MINUTES_PER_DAY, n, 1)), np.cumsum(leave_p[:, :, :2], axis=2)], axis=2)
        )

        draws = rng.random((MINUTES_PER_DAY, n))
        sleep_draws = rng.random((MINUTES_PER_DAY, n))
        starts_restless = rng.random((MINUTES_PER_DAY, n)) < p.LOG_STARTS_RESTLESS
        # Where each minute's draw takes each chain from each state: intensity from row 0 (by minute) or rows 1-3
        # (by hour); sleep (states 1-3 as 0-2) after a log's start has put the chain at its first state.
        going = np.empty((MINUTES_PER_DAY, n, 4), dtype=np.int64)
        going[:, :, 0] = _thresholds_passed(draws, row0)
        by_hour = _thresholds_passed(draws.reshape(24, 60, n, 1), cumulative_by_hour[:, None, :, 1:, :])
        going[:, :, 1:] = by_hour.reshape(MINUTES_PER_DAY, n, 3)
        sleeping = _thresholds_passed(sleep_draws[:, :, None], self.sleep_cumulative[None])
        first = starts_restless.astype(np.int64)
        from_first = np.take_along_axis(sleeping, first[:, :, None], axis=2)
        sleeping = np.where(log_start[:, :, None], from_first, sleeping)
        intensity = _chain_states(going, self.intensity_state)
        after = _chain_states(sleeping, self.sleep_state - 1)
        before = np.concatenate([(self.sleep_state - 1)[None], after[:-1]])
        sleep_value = 1 + np.where(log_start, first, before)  # the state the minute records, after a log's start
        # The chains carry on tomorrow from where they are (a copy: `intensity` is masked below).
        self.intensity_state, self.sleep_state = intensity[-1].copy(), after[-1] + 1
        sleep_value = np.where(in_log, sleep_value, 0)
        intensity[~in_log & ~wear] = 0

        # Inside a log, intensity (and a few steps) come from the sleep value.
        u = rng.random((MINUTES_PER_DAY, n))
        light_p = np.array([0.0, *(p.SLEEP_LIGHT_SHARE[v] for v in (1, 2, 3))])[sleep_value]
        fair_p = np.array([0.0, *(p.SLEEP_FAIR_SHARE[v] for v in (1, 2, 3))])[sleep_value]
        sleep_intensity = np.where(u < fair_p, 2, np.where(u < fair_p + light_p, 1, 0))
        intensity = np.where(in_log, sleep_intensity, intensity)

        steps = self._steps(rng, intensity, in_log, sleep_value, cohort) * wear
        mets = self._mets(rng, intensity, steps, in_log)
        calories = cohort.kcal_per_min * mets / 10.0
        heartrate = self._heart_rate(rng, intensity, steps, sleep_value, wear, effort, resting_shift)
        return SimulatedDay(
            date=date,
            ids=cohort.ids,
            calories=calories,
            intensity=intensity.astype(np.int8),
            mets=mets.astype(np.int16),
            steps=steps.astype(np.int16),
            sleep_value=sleep_value.astype(np.int8),
            logid=logid,
            heartrate=heartrate,
        )

    def _sleep_masks(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.cohort.size
        in_log = np.zeros((MINUTES_PER_DAY, n), dtype=bool)
        log_start = np.zeros((MINUTES_PER_DAY, n), dtype=bool)
        logid = np.zeros((MINUTES_PER_DAY, n), dtype=np.int64)
        plan = self.sleep
        offset = index * MINUTES_PER_DAY
        for i in plan.overlapping(index):
            first, last = int(plan.start[i]) - offset, int(plan.end[i]) - offset
            if last <= 0 or first >= MINUTES_PER_DAY:
                continue
            user = int(plan.user[i])
            lo, hi = max(first, 0), min(last, MINUTES_PER_DAY)
            in_log[lo:hi, user] = True
            logid[lo:hi, user] = plan.logid[i]
            if first >= 0:
                log_start[first, user] = True
        return in_log, log_start, logid

    @staticmethod
    def _steps(
        rng: np.random.Generator, intensity: np.ndarray, in_log: np.ndarray, sleep_value: np.ndarray, cohort: Cohort
    ) -> np.ndarray:
        shape = intensity.shape
        u = rng.random(shape)
        light = rng.gamma(*p.LIGHT_STEPS_GAMMA, size=shape)
        fair = rng.normal(*p.FAIR_STEPS_NORMAL, size=shape)
        vigorous = rng.normal(*p.VIGOROUS_STEPS_NORMAL, size=shape) * cohort.vigorous_cadence
        sedentary = rng.integers(1, 6, size=shape)
        steps = np.select(
            [intensity == 0, intensity == 1, intensity == 2],
            [
                np.where(u < p.SEDENTARY_STEPS_SHARE, sedentary, 0),
                np.where(u < p.LIGHT_STEPS_SHARE, np.maximum(light, 1), 0),
                np.where(u < p.FAIR_STEPS_SHARE, np.maximum(fair, 1), 0),
            ],
            np.where(u < cohort.vigorous_stepping, np.maximum(vigorous, 1), 0),
        )
        # In bed, the few active minutes carry few steps.
        sleep_mean = np.array([0.0, *(p.SLEEP_STEPS_MEAN[v] for v in (1, 2, 3))])[sleep_value]
        in_bed_steps = np.maximum(rng.gamma(1.4, 1.0, size=shape) * sleep_mean / 1.4, 1)
        steps = np.where(in_log & (intensity > 0), in_bed_steps, steps)
        return np.clip(np.round(steps), 0, p.MAX_STEPS_PER_MINUTE).astype(np.int64)

    @staticmethod
    def _mets(rng: np.random.Generator, intensity: np.ndarray, steps: np.ndarray, in_log: np.ndarray):
        shape = intensity.shape
        sedentary = 10 + np.minimum(np.floor(rng.exponential(p.SEDENTARY_METS_EXTRA_MEAN, size=shape)), 5)
        sedentary = np.where(in_log, 10, sedentary)
        noise = rng.standard_normal(shape)
        choices = [sedentary]
        for level in (1, 2, 3):
            base, slope, sd, low, high = p.METS_BY_STEPS[level]
            choices.append(np.clip(np.round(base + slope * steps + sd * noise), low, high))
        return np.choose(intensity, choices).astype(np.int64)

    def _heart_rate(
        self,
        rng: np.random.Generator,
        intensity: np.ndarray,
        steps: np.ndarray,
        sleep_value: np.ndarray,
        wear: np.ndarray,
        effort: np.ndarray,
        resting_shift: np.ndarray,
    ) -> np.ndarray:
        cohort = self.cohort
        # Steps above the intensity's usual count raise heart rate; a user's own cadence does not.
        light_shape, light_scale = p.LIGHT_STEPS_GAMMA
        usual = [0.0, light_shape * light_scale, p.FAIR_STEPS_NORMAL[0], p.VIGOROUS_STEPS_NORMAL[0]]
        mean_steps = np.array(usual)[intensity]
        mean_steps = np.where(intensity == 3, mean_steps * cohort.vigorous_cadence, mean_steps)
        by_intensity = np.array(p.HR_BY_INTENSITY)
        by_sleep = np.array([0.0, *(p.HR_BY_SLEEP_VALUE[v] for v in (1, 2, 3))])
        target = (
            cohort.hr_baseline
            + resting_shift
            + np.array(p.HR_BY_HOUR, dtype=np.float64)[_HOUR_OF_MINUTE][:, None]
            + effort * (by_intensity[intensity] + p.HR_PER_STEP * (steps - mean_steps) * (intensity > 0))
            + by_sleep[sleep_value]
        )
        response = p.HR_RESPONSE
        drive = response * target + p.HR_NOISE_SD * rng.standard_normal(target.shape)
        keep = 1 - response
        heart = np.empty_like(target)
        level = self.heart
        for minute in range(MINUTES_PER_DAY):
            level = keep * level + drive[minute]
            heart[minute] = level
        self.heart = level
        low, high = p.HR_RANGE
        heart = np.clip(np.round(heart), low, high).astype(np.int16)
        has = cohort.has_heart_rate & wear
        return np.where(has, heart, np.int16(-1))


# --- Entry points ----------------------------------------------------------------------------------------------------


def _cohort_for(users: int | Sequence[int], seed: int) -> Cohort:
    if isinstance(users, bool):
        raise SimulationError("users must be a number of users or a list of user ids")
    if isinstance(users, int):
        return make_cohort(user_ids(users, seed), seed)
    ids = [int(u) for u in users]
    if not ids:
        raise SimulationError("give at least one user id")
    if len(set(ids)) != len(ids):
        raise SimulationError("user ids must be distinct")
    if min(ids) < 1 or max(ids) > 2**63 - 1:
        raise SimulationError("user ids must be positive 64-bit integers")
    return make_cohort(ids, seed)


def simulate_days(users: int | Sequence[int], start: dt.date, days: int, seed: int = 0) -> Iterator[SimulatedDay]:
    """One `SimulatedDay` per day from `start`, in order. `users` is a count (ids derived from the seed) or ids."""
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise SimulationError(f"start must be a date, got {start!r}")
    if days < 1:
        raise SimulationError(f"the number of days must be at least 1, got {days}")
    if seed < 0:
        raise SimulationError(f"the seed must be a non-negative integer, got {seed}")
    simulation = _Simulation(_cohort_for(users, seed), start, days, seed)
    for index in range(days):
        yield simulation.day(index)


def simulate(users: int | Sequence[int], start: dt.date, days: int, seed: int = 0) -> Iterator[Record]:
    """Records of `users` for `days` days from `start`, in event-time order (minute by minute, users by id)."""
    for day in simulate_days(users, start, days, seed):
        yield from day.records()


def simulate_encoded(
    users: int | Sequence[int], start: dt.date, days: int, seed: int = 0
) -> Iterator[tuple[bytes, bytes]]:
    """The records of `simulate` as Kafka (key, value) pairs: key = user id digits, value = `schema.encode(record)`."""
    for day in simulate_days(users, start, days, seed):
        yield from day.encoded()
