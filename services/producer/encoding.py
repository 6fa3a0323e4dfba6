"""Fast encoding of a simulated day straight to Kafka (key, value) pairs, for the backfill's hot path.

`core.schema.encode` is the definition of a message: compact JSON, fields in schema order. Building a dict
per record and serialising it costs more than simulating the record, so a backfill writes a day's columns without a
Python step per record: every field's text is looked up in a table by the field's integer value (numpy indexing of
an object array), each text carrying the punctuation up to the next value, and a day's texts are joined into one
string (joining str is far cheaper than joining bytes), encoded once and split into its records. The output is
exactly what `schema.encode` writes (the tests compare every byte of whole simulated days), and `encode_day` refuses
a day whose columns it does not know.
The simulator's `SimulatedDay.encoded` (and so `simulate_encoded`) writes its pairs with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from core.schema import FIELD_NAMES, FIELDS_BY_NAME

if TYPE_CHECKING:
    from services.producer.simulator import SimulatedDay

#: Simulated calories carry this many decimals, in the simulator's records and in these values alike.
CALORIES_DECIMALS: Final = 4
_SCALE: Final = 10**CALORIES_DECIMALS
_MINUTES: Final = 24 * 60

assert FIELD_NAMES == (
    "id",
    "date",
    "time",
    "calories",
    "intensity",
    "mets",
    "steps",
    "sleep_value",
    "logid",
    "heartrate",
), "the texts below follow the schema's field order"


def _table(texts: list[str]) -> np.ndarray:
    table = np.empty(len(texts), dtype=object)
    table[:] = texts
    return table


#: Each table's entry i is the text of the value i with the punctuation up to the next field's value; a table of
#: two fields (`_GROWN`) holds the texts of both, so that a record is seven texts, not ten.
#: A calories value rounded to 4 decimals is the double nearest to k / 10**4, whose shortest repr (what JSON and
#: `schema.encode` write) is k's digits with the point put back and trailing zeros dropped: `12.5`, `0.0`, `3.0001`.
_FRACTIONS: Final = _table([f".{f:04d}".rstrip("0").ljust(2, "0") + ',"intensity":' for f in range(_SCALE)])
#: Heart rate by value + 1; 0 (the simulator's -1, "no sensor") is `null`. Each record ends with a newline.
_HEARTRATE: Final = _table(["null}\n"] + [f"{v}}}\n" for v in range(1000)])
_INTENSITIES: Final = 4


def _time_and_calories(width: int) -> np.ndarray:
    """Entry minute * width + c: the minute's time and the integer part c of calories."""
    times = [f'{m // 60:02d}:{m % 60:02d}:00","calories":' for m in range(_MINUTES)]
    whole = [str(c) for c in range(width)]
    return _table([time + c for time in times for c in whole])


def _intensity_and_mets(width: int) -> np.ndarray:
    """Entry intensity * width + mets."""
    return _table([f'{i},"mets":{m},"steps":' for i in range(_INTENSITIES) for m in range(width)])


def _steps(width: int) -> np.ndarray:
    return _table([f'{v},"sleep_value":' for v in range(width)])


#: The tables that grow with the values met: per field, how to build one `width` values wide, its rows (the values
#: of the field before it; 1 for a field alone), the least width worth building, and the largest value allowed (the
#: schema's; None: any).
_GROWN: Final = {
    "calories": (_time_and_calories, _MINUTES, 32, int(FIELDS_BY_NAME["calories"].maximum or 0)),
    "mets": (_intensity_and_mets, _INTENSITIES, 256, int(FIELDS_BY_NAME["mets"].maximum or 0)),
    "steps": (_steps, 1, 512, None),
}
_grown_tables: dict[str, np.ndarray] = {}


def _texts(field: str, values: np.ndarray, first: np.ndarray | int = 0) -> np.ndarray:
    """The texts of non-negative integer `values` of `field` (after the value `first` of the field before it, for a
    table of two), looked up in the field's table, built or grown first when a value is beyond it."""
    build, rows, least, limit = _GROWN[field]
    low, high = int(values.min()), int(values.max())
    if low < 0:
        raise ValueError(f"{field} must not be negative, got {low}")
    if limit is not None and high > limit:
        raise ValueError(f"{field} must be 0 to {limit}, got {high}")
    table = _grown_tables.get(field)
    if table is None or high >= len(table) // rows:
        width = max(least, high + 1) if limit is None else max(least, min(2 * high, limit) + 1)
        table = _grown_tables[field] = build(width)
    return table[first * (len(table) // rows) + values]


def encode_day(day: SimulatedDay) -> list[tuple[bytes, bytes]]:
    """The day's (key, value) pairs in event order: minute by minute, every user for that minute."""
    keys, values = encode_day_columns(day)
    return list(zip(keys, values, strict=True))


def encode_day_columns(day: SimulatedDay) -> tuple[list[bytes], list[bytes]]:
    """The day's keys and values, as two lists in event order (see `encode_day`)."""
    return day_keys(day.ids.tolist()), split_day(encode_day_text(day))


def day_keys(ids: list[int]) -> list[bytes]:
    """The keys of a day of these users' records, in event order: the user ids' digits."""
    return [str(uid).encode() for uid in ids] * _MINUTES


def split_day(text: bytes) -> list[bytes]:
    """The values of `encode_day_text`'s bytes, one per record."""
    values = text.split(b"\n")
    values.pop()  # after the last record's newline
    return values


def encode_day_text(day: SimulatedDay) -> bytes:
    """The day's values in event order as one bytes object, each record followed by a newline."""
    ids = day.ids.tolist()
    n_users = len(ids)
    if day.calories.shape != (_MINUTES, n_users):
        raise ValueError(f"expected columns of shape ({_MINUTES}, {n_users}), got {day.calories.shape}")
    date = day.date.isoformat()
    heads = _table([f'{{"id":{uid},"date":"{date}","time":"' for uid in ids])
    scaled = np.rint(day.calories * _SCALE).astype(np.int64)  # what np.round(calories, 4) rounds to, times 10**4
    if scaled.min() < 0:
        raise ValueError("calories must not be negative")
    sleep = day.sleep_value.astype(np.int64)
    if (sleep != day.sleep_value).any() or sleep.min() < 0 or sleep.max() > 3:
        raise ValueError("sleep values must be 0, 1, 2 or 3")
    intensity = day.intensity.astype(np.int64)
    if intensity.min() < 0 or intensity.max() >= _INTENSITIES:
        raise ValueError(f"intensity must be 0 to {_INTENSITIES - 1}")
    # A day has few sleep logs: look their ids up among the distinct ones (sorting only the minutes in a log), with
    # the sleep value before each.
    logids = np.unique(np.concatenate(([0], day.logid[day.logid != 0])))
    sleep_and_logid = _table([f'{float(s)!r},"logid":{v},"heartrate":' for v in logids.tolist() for s in range(4)])
    heartrate = np.where(day.heartrate < 0, -1, day.heartrate) + 1
    if heartrate.max() >= len(_HEARTRATE):
        raise ValueError(f"heart rate must be below {len(_HEARTRATE) - 1}")
    minutes = np.arange(_MINUTES)[:, np.newaxis]
    columns = np.empty((_MINUTES, n_users, 7), dtype=object)
    columns[:, :, 0] = heads[np.newaxis, :]
    columns[:, :, 1] = _texts("calories", scaled // _SCALE, minutes)
    columns[:, :, 2] = _FRACTIONS[scaled % _SCALE]
    columns[:, :, 3] = _texts("mets", day.mets.astype(np.int64), intensity)
    columns[:, :, 4] = _texts("steps", day.steps)
    columns[:, :, 5] = sleep_and_logid[np.searchsorted(logids, day.logid) * 4 + sleep]
    columns[:, :, 6] = _HEARTRATE[heartrate]
    return "".join(columns.ravel().tolist()).encode()
