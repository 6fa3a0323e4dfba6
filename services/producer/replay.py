"""Replay a real Fitbit export (the Fitabase files, under their Kaggle names) as records.

The export spreads one user-minute over several files. This module joins them into the record:

- steps and intensity come from the minute files, wide (`minuteStepsWide_merged.csv`: one row per user-hour with
  60 columns) or narrow (`minuteStepsNarrow_merged.csv`: `Id,ActivityMinute,Steps`). Every user-minute present in
  both is one record, and only those are;
- `sleep_value` and `logid` come from `minuteSleep_merged.csv` (0 outside a sleep log);
- `heartrate` is the rounded mean of the minute's readings in `heartrate_seconds_merged.csv`, or the value of the
  per-minute `heartrate_minute_4users.csv`; null for users and minutes without readings;
- `mets` come from `minuteMETsNarrow_merged.csv`, or else from intensity by the mean METs of each intensity
  (`FILL_METS`);
- `calories` come from the minute calories files, or else from `hourlyCalories_merged.csv`: the hour's calories
  shared among the hour's minutes in proportion to their METs, so that the minutes add up to the hour exactly.
  An hour absent from the hourly file uses the user's resting rate (the median hourly calories between 02:00 and
  05:59, divided by 60) times METs / 10; a user absent from it uses `FILL_RESTING_KCAL_PER_MIN`.

Timestamps are floored to the minute (a third of minuteSleep's are at hh:mm:30), exact duplicate rows are dropped,
and where two rows still claim the same user-minute the first one in the file wins. Records come out in time order
(then by user id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from core.schema import FIELDS_BY_NAME, Record

#: Timestamp forms found in the exports: Fitabase's `4/12/2016 2:47:30 AM`, and ISO `2016-04-12 02:47:30`.
TIMESTAMP_FORMATS: Final = ("%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")

#: METs (x 10) by intensity 0-3 when no minute METs file exists: the means of STATS.md (rest 10, then
#: 3.27x, 4.29x and 8.08x the resting rate, from the least squares of hourly calories on minute intensities).
FILL_METS: Final = (10, 33, 43, 81)
#: Resting kcal per minute for a user with no hourly calories (the population mean in STATS.md).
FILL_RESTING_KCAL_PER_MIN: Final = 1.11
#: Hours whose median calories give a user's resting rate.
RESTING_HOURS: Final = range(2, 6)

_CALORIES_DECIMALS: Final = 6
_MINUTE_S: Final = 60


class ReplayError(ValueError):
    """The folder is not a replayable export; the message says what is missing or wrong."""


@dataclass(frozen=True)
class MinuteSource:
    """One per-minute measure and the files that may hold it, by preference."""

    name: str
    narrow: str
    narrow_column: str
    wide: str | None = None
    wide_prefix: str | None = None


STEPS: Final = MinuteSource("steps", "minuteStepsNarrow_merged.csv", "Steps", "minuteStepsWide_merged.csv", "Steps")
INTENSITY: Final = MinuteSource(
    "intensity", "minuteIntensitiesNarrow_merged.csv", "Intensity", "minuteIntensitiesWide_merged.csv", "Intensity"
)
CALORIES: Final = MinuteSource(
    "calories", "minuteCaloriesNarrow_merged.csv", "Calories", "minuteCaloriesWide_merged.csv", "Calories"
)
METS: Final = MinuteSource("mets", "minuteMETsNarrow_merged.csv", "METs")

SLEEP_FILE: Final = "minuteSleep_merged.csv"
HEARTRATE_SECONDS_FILE: Final = "heartrate_seconds_merged.csv"
HEARTRATE_MINUTE_FILE: Final = "heartrate_minute_4users.csv"
HOURLY_CALORIES_FILE: Final = "hourlyCalories_merged.csv"


@dataclass
class Replay:
    """The joined export, one entry per record, in time order then by user id (numpy columns)."""

    id: np.ndarray  # int64
    minute: np.ndarray  # int64 minutes since the epoch
    steps: np.ndarray  # int64
    intensity: np.ndarray  # int64
    mets: np.ndarray  # int64
    calories: np.ndarray  # float64
    sleep_value: np.ndarray  # float64
    logid: np.ndarray  # int64
    heartrate: np.ndarray  # float64, NaN where absent
    sources: dict[str, str] = field(default_factory=dict)  # measure -> file (or the fill rule) it came from

    def __len__(self) -> int:
        return len(self.id)

    def records(self) -> Iterator[Record]:
        """The records as dicts in schema order."""
        if not len(self):
            return
        # Date and time strings per distinct minute, then looked up: far cheaper than formatting each record.
        distinct, where = np.unique(self.minute, return_inverse=True)
        stamps = np.datetime_as_string(distinct.astype("datetime64[m]"), unit="s")
        dates = [s[:10] for s in stamps.tolist()]
        times = [s[11:] for s in stamps.tolist()]
        heartrate = [None if h != h else int(h) for h in self.heartrate.tolist()]
        for uid, m, cal, inten, mets, steps, sleep, logid, hr in zip(
            self.id.tolist(),
            where.tolist(),
            self.calories.tolist(),
            self.intensity.tolist(),
            self.mets.tolist(),
            self.steps.tolist(),
            self.sleep_value.tolist(),
            self.logid.tolist(),
            heartrate,
            strict=True,
        ):
            yield {
                "id": uid,
                "date": dates[m],
                "time": times[m],
                "calories": cal,
                "intensity": inten,
                "mets": mets,
                "steps": steps,
                "sleep_value": sleep,
                "logid": logid,
                "heartrate": hr,
            }


def replay(folder: str | Path) -> Iterator[Record]:
    """The records of the Fitabase export in `folder`, in time order. Raises ReplayError when it cannot."""
    return load(folder).records()


# -- reading --------------------------------------------------------------------------------------------------------


def _read_csv(path: Path, timestamp_column: str, columns: dict[str, pa.DataType]) -> pa.Table:
    """Read the named columns of one export file, the timestamp parsed (to seconds)."""
    types = {timestamp_column: pa.timestamp("s"), **columns}
    try:
        table = pcsv.read_csv(
            path,
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=[timestamp_column, *columns],
                timestamp_parsers=list(TIMESTAMP_FORMATS),
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        raise ReplayError(f"{path.name} is not in the export format: {str(exc).splitlines()[0]}") from None
    return table


def _minutes(timestamps: pa.ChunkedArray) -> np.ndarray:
    """Timestamps (seconds) floored to minutes since the epoch."""
    seconds = timestamps.cast(pa.int64()).to_numpy()
    return np.floor_divide(seconds, _MINUTE_S)


def _read_narrow(path: Path, column: str, dtype: pa.DataType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = _read_csv(path, "ActivityMinute", {"Id": pa.int64(), column: dtype})
    return (
        table["Id"].to_numpy(),
        _minutes(table["ActivityMinute"]),
        table[column].to_numpy(),
    )


def _read_wide(path: Path, prefix: str, dtype: pa.DataType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    columns = {f"{prefix}{m:02d}": dtype for m in range(60)}
    table = _read_csv(path, "ActivityHour", {"Id": pa.int64(), **columns})
    hours = _minutes(table["ActivityHour"])
    values = np.column_stack([table[name].to_numpy() for name in columns])  # (rows, 60)
    ids = np.repeat(table["Id"].to_numpy(), 60)
    minutes = (hours[:, None] + np.arange(60)[None, :]).ravel()
    return ids, minutes, values.ravel()


def _read_minute_source(
    folder: Path, source: MinuteSource, dtype: pa.DataType
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], str] | None:
    narrow = folder / source.narrow
    if narrow.exists():
        return _read_narrow(narrow, source.narrow_column, dtype), source.narrow
    if source.wide and source.wide_prefix:
        wide = folder / source.wide
        if wide.exists():
            return _read_wide(wide, source.wide_prefix, dtype), source.wide
    return None


# -- joining --------------------------------------------------------------------------------------------------------


class _Keys:
    """Dense keys for (user id, minute) pairs, so that joins are sorted-array look-ups."""

    def __init__(self, ids: np.ndarray):
        self.users = np.unique(ids)

    def of(self, ids: np.ndarray, minutes: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.users, ids)
        index = np.minimum(index, len(self.users) - 1)
        known = self.users[index] == ids
        # Unknown users get key -1: they never match a key of the spine.
        return np.where(known, (index.astype(np.int64) << 32) + minutes, -1)


def _dedupe(keys: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Drop exact duplicates, then keep the first row of any key still repeated. Returns sorted unique keys."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    values = tuple(v[order] for v in values)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return (keys[first], *(v[first] for v in values))


def _lookup(spine: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each spine key, the position in sorted unique `keys` and whether it is there."""
    if not len(keys):
        return np.zeros(len(spine), dtype=np.int64), np.zeros(len(spine), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, spine), len(keys) - 1)
    return pos, keys[pos] == spine


def _join(spine: np.ndarray, keys: np.ndarray, values: np.ndarray, default: float) -> np.ndarray:
    pos, found = _lookup(spine, keys)
    if not len(keys):
        return np.full(len(spine), default, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    return np.where(found, values[pos], default)


def _heartrate(folder: Path, key_of: _Keys) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Per-minute heart rate: sorted unique keys and their rounded mean, and the file they came from."""
    field_ = FIELDS_BY_NAME["heartrate"]
    seconds = folder / HEARTRATE_SECONDS_FILE
    per_minute = folder / HEARTRATE_MINUTE_FILE
    if seconds.exists():
        table = _read_csv(seconds, "Time", {"Id": pa.int64(), "Value": pa.float64()})
        keys = key_of.of(table["Id"].to_numpy(), _minutes(table["Time"]))
        values = table["Value"].to_numpy(zero_copy_only=False)
        unique, inverse = np.unique(keys, return_inverse=True)
        sums = np.bincount(inverse, weights=values)
        counts = np.bincount(inverse)
        means = np.floor(sums / counts + 0.5)
        source = HEARTRATE_SECONDS_FILE
    elif per_minute.exists():
        table = _read_csv(per_minute, "t", {"Id": pa.int64(), "hr": pa.float64()})
        keys = key_of.of(table["Id"].to_numpy(), _minutes(table["t"]))
        unique, means = _dedupe(keys, np.floor(table["hr"].to_numpy(zero_copy_only=False) + 0.5))
        source = HEARTRATE_MINUTE_FILE
    else:
        return None
    # A reading outside what a heart can do is a sensor glitch: the minute gets no heart rate.
    plausible = (means >= field_.minimum) & (means <= field_.maximum) & (unique >= 0)
    return unique[plausible], means[plausible], source


def _resting_rates(table: pa.Table, key_of: _Keys) -> np.ndarray:
    """Resting kcal/min per user index (the median of the calories of hours 02-05, over 60)."""
    rates = np.full(len(key_of.users), FILL_RESTING_KCAL_PER_MIN)
    hours = pc.hour(table["ActivityHour"]).to_numpy()
    resting = np.isin(hours, list(RESTING_HOURS))
    ids = table["Id"].to_numpy()[resting]
    calories = table["Calories"].to_numpy(zero_copy_only=False)[resting]
    for i, user in enumerate(key_of.users):
        mine = calories[ids == user]
        if len(mine):
            rates[i] = float(np.median(mine)) / 60
    return rates


def _calories_from_hourly(folder: Path, key_of: _Keys, spine: np.ndarray, mets: np.ndarray) -> tuple[np.ndarray, str]:
    """Each minute's calories: its hour's calories shared in proportion to METs (see the module docstring)."""
    user_index = spine >> 32
    path = folder / HOURLY_CALORIES_FILE
    if not path.exists():
        return FILL_RESTING_KCAL_PER_MIN * mets / 10, f"{FILL_RESTING_KCAL_PER_MIN} kcal/min x METs/10"
    table = _read_csv(path, "ActivityHour", {"Id": pa.int64(), "Calories": pa.float64()})
    rates = _resting_rates(table, key_of)
    hour_keys, hour_calories = _dedupe(
        key_of.of(table["Id"].to_numpy(), _minutes(table["ActivityHour"]) // 60 * 60),
        table["Calories"].to_numpy(zero_copy_only=False),
    )
    spine_hours = spine - (spine & 0xFFFFFFFF) % 60
    pos, found = _lookup(spine_hours, hour_keys)
    # Sum of METs per hour over the minutes of that hour present in the spine.
    _, inverse = np.unique(spine_hours, return_inverse=True)
    mets_per_hour = np.bincount(inverse, weights=mets)[inverse]
    shared = np.where(found, hour_calories[pos] if len(hour_keys) else 0.0, 0.0) * mets / mets_per_hour
    fallback = rates[user_index] * mets / 10
    return np.where(found, shared, fallback), f"{HOURLY_CALORIES_FILE} shared by METs"


def load(folder: str | Path) -> Replay:
    """Read and join the export in `folder`. Raises ReplayError when it is not a replayable export."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReplayError(f"{folder} is not a folder: give the folder of a Fitabase export")
    found = {s.name: _read_minute_source(folder, s, pa.int64()) for s in (STEPS, INTENSITY)}
    missing = [s for s in (STEPS, INTENSITY) if found[s.name] is None]
    if missing:
        wanted = " and ".join(f"{s.narrow} or {s.wide}" for s in missing)
        raise ReplayError(f"{folder} has no per-minute {' or '.join(s.name for s in missing)}: it needs {wanted}")
    (s_ids, s_min, s_val), steps_file = found["steps"]  # type: ignore[misc]
    (i_ids, i_min, i_val), intensity_file = found["intensity"]  # type: ignore[misc]
    key_of = _Keys(np.concatenate([s_ids, i_ids]))

    # The spine: every user-minute with both steps and intensity.
    s_keys, s_val = _dedupe(key_of.of(s_ids, s_min), s_val)
    i_keys, i_val = _dedupe(key_of.of(i_ids, i_min), i_val)
    spine = np.intersect1d(s_keys, i_keys, assume_unique=True)
    steps = s_val[np.searchsorted(s_keys, spine)].astype(np.int64)
    intensity = i_val[np.searchsorted(i_keys, spine)].astype(np.int64)
    sources = {"steps": steps_file, "intensity": intensity_file}

    bad = (intensity < 0) | (intensity > 3)
    if bad.any():
        raise ReplayError(f"{intensity_file} has intensities outside 0-3 ({int(bad.sum())} minutes)")

    mets_found = _read_minute_source(folder, METS, pa.int64())
    if mets_found:
        (m_ids, m_min, m_val), sources["mets"] = mets_found
        m_keys, m_val = _dedupe(key_of.of(m_ids, m_min), m_val)
        mets = _join(spine, m_keys, m_val, -1).astype(np.int64)
        filled = mets < 0
        mets[filled] = np.asarray(FILL_METS)[intensity[filled]]
    else:
        mets = np.asarray(FILL_METS, dtype=np.int64)[intensity]
        sources["mets"] = f"by intensity {FILL_METS}"

    calories_found = _read_minute_source(folder, CALORIES, pa.float64())
    if calories_found:
        (c_ids, c_min, c_val), sources["calories"] = calories_found
        c_keys, c_val = _dedupe(key_of.of(c_ids, c_min), c_val)
        calories = _join(spine, c_keys, c_val, np.nan)
        gaps = np.isnan(calories)
        if gaps.any():
            calories[gaps] = _calories_from_hourly(folder, key_of, spine, mets)[0][gaps]
    else:
        calories, sources["calories"] = _calories_from_hourly(folder, key_of, spine, mets)
    calories = np.round(np.clip(calories, 0, FIELDS_BY_NAME["calories"].maximum), _CALORIES_DECIMALS)

    sleep_value = np.zeros(len(spine))
    logid = np.zeros(len(spine), dtype=np.int64)
    if (folder / SLEEP_FILE).exists():
        table = _read_csv(folder / SLEEP_FILE, "date", {"Id": pa.int64(), "value": pa.int64(), "logId": pa.int64()})
        keys = key_of.of(table["Id"].to_numpy(), _minutes(table["date"]))
        z_keys, z_val, z_log = _dedupe(keys, table["value"].to_numpy(), table["logId"].to_numpy())
        sleep_value = _join(spine, z_keys, z_val.astype(np.float64), 0.0)
        logid = _join(spine, z_keys, z_log, 0).astype(np.int64)
        sources["sleep"] = SLEEP_FILE

    heartrate = np.full(len(spine), np.nan)
    hr = _heartrate(folder, key_of)
    if hr:
        h_keys, h_val, sources["heartrate"] = hr
        heartrate = _join(spine, h_keys, h_val, np.nan)

    user_ids = key_of.users[spine >> 32] if len(spine) else np.zeros(0, dtype=np.int64)
    minutes = spine & 0xFFFFFFFF
    order = np.lexsort((user_ids, minutes))
    return Replay(
        id=user_ids[order],
        minute=minutes[order],
        steps=steps[order],
        intensity=intensity[order],
        mets=mets[order],
        calories=calories[order],
        sleep_value=sleep_value[order],
        logid=logid[order],
        heartrate=heartrate[order],
        sources=sources,
    )


def minute_to_datetime(minute: int) -> dt.datetime:
    """A minute since the epoch as a naive datetime (the exports carry local time without a zone)."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(minutes=int(minute))
