"""Fast encoding of a simulated day straight to Kafka (key, value) pairs, for the backfill's hot path.

`services.common.schema.encode` is the definition of a message: compact JSON, fields in schema order. Building a dict
per record and serialising it costs more than simulating the record, so a backfill formats each day's columns with
one bytes template instead. The output parses to exactly the record `schema.encode` would write (the tests compare
every field of whole simulated days), and `encode_day` refuses a day whose columns it does not know.
The simulator's `SimulatedDay.encoded` (and so `simulate_encoded`) writes its pairs with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from services.common.schema import FIELD_NAMES, FIELDS_BY_NAME

if TYPE_CHECKING:
    from services.producer.simulator import SimulatedDay

#: The value template: the record's fields in schema order. `%r` of a float is its shortest round-trip repr, as JSON
#: needs; the heart rate is pre-formatted (`null` without a sensor).
_HEAD: Final = b'{"id":%d,"date":"%s","time":"'
_TAIL: Final = b'%s","calories":%r,"intensity":%d,"mets":%d,"steps":%d,"sleep_value":%r,"logid":%d,"heartrate":%s}'
_TIMES: Final = [f"{m // 60:02d}:{m % 60:02d}:00".encode() for m in range(24 * 60)]
#: Heart rate text by value; index -1 (the simulator's "no sensor") is `null`.
_HEARTRATE_TEXT: Final = [b"%d" % v for v in range(int(FIELDS_BY_NAME["heartrate"].maximum or 250) + 1)] + [b"null"]
#: Simulated calories carry this many decimals, in the simulator's records and in these values alike.
CALORIES_DECIMALS: Final = 4

assert FIELD_NAMES == ("id", "date", "time", "calories", "intensity", "mets", "steps", "sleep_value", "logid",
                       "heartrate"), "the templates above follow the schema's field order"  # fmt: skip


def encode_day(day: SimulatedDay) -> list[tuple[bytes, bytes]]:
    """The day's (key, value) pairs in event order: minute by minute, every user for that minute."""
    ids = day.ids.tolist()
    n_users = len(ids)
    minutes = len(_TIMES)
    if day.calories.shape != (minutes, n_users):
        raise ValueError(f"expected columns of shape ({minutes}, {n_users}), got {day.calories.shape}")
    date = day.date.isoformat().encode()
    keys = [str(uid).encode() for uid in ids]
    heads = [_HEAD % (uid, date) for uid in ids]
    heartrate = np.where(day.heartrate < 0, -1, day.heartrate).ravel().tolist()
    text = _HEARTRATE_TEXT
    tail = _TAIL
    return [
        (key, head + tail % (time, calories, intensity, mets, steps, sleep_value, logid, text[hr]))
        for key, head, time, calories, intensity, mets, steps, sleep_value, logid, hr in zip(
            keys * minutes,
            heads * minutes,
            [t for t in _TIMES for _ in range(n_users)],
            np.round(day.calories, CALORIES_DECIMALS).ravel().tolist(),
            day.intensity.ravel().tolist(),
            day.mets.ravel().tolist(),
            day.steps.ravel().tolist(),
            day.sleep_value.astype(np.float64).ravel().tolist(),
            day.logid.ravel().tolist(),
            heartrate,
            strict=True,
        )
    ]
