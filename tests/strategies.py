"""Hypothesis strategies and sample records, built from the one schema definition."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from core.schema import FIELDS, Field, Record


def _value_strategy(field: Field) -> st.SearchStrategy[Any]:
    if field.name == "date":
        strategy: st.SearchStrategy[Any] = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)
    elif field.name == "time":
        strategy = st.times().map(lambda t: t.replace(microsecond=0).isoformat())
    elif field.type == "double":
        strategy = st.floats(field.minimum, field.maximum, allow_nan=False, allow_infinity=False)
    elif field.type in ("int", "bigint"):
        strategy = st.integers(int(field.minimum or 0), int(field.maximum or 2**31))
    else:
        strategy = st.text()
    return st.none() | strategy if field.nullable else strategy


@st.composite
def records(draw: st.DrawFn) -> Record:
    """Any valid record."""
    record = {f.name: draw(_value_strategy(f)) for f in FIELDS if f.name not in ("sleep_value", "logid")}
    in_bed = draw(st.booleans())
    record["sleep_value"] = draw(st.sampled_from([1.0, 2.0, 3.0])) if in_bed else 0.0
    record["logid"] = draw(st.integers(1, 2**63 - 1)) if in_bed else 0
    return record


def sample_record(**overrides: Any) -> Record:
    """A valid record (a sedentary minute of a heart-rate user), with any field overridden."""
    record: Record = {
        "id": 1503960366,
        "date": "2016-04-12",
        "time": "00:00:00",
        "calories": 1.1,
        "intensity": 0,
        "mets": 10,
        "steps": 0,
        "sleep_value": 0.0,
        "logid": 0,
        "heartrate": 66,
    }
    record.update(overrides)
    return record
