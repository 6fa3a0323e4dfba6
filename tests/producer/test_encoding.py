"""The backfill's fast encoding writes exactly the bytes of `schema.encode`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from core.schema import decode, encode
from services.producer import simulator
from services.producer.encoding import encode_day
from services.producer.run import BackfillDays, backfill_pairs
from services.producer.settings import ProducerSettings


def test_a_simulated_day_encodes_to_the_schemas_bytes() -> None:
    days = list(simulator.simulate_days(12, dt.date(2016, 4, 16), 2, seed=3))
    for day in days:
        pairs = encode_day(day)
        records = list(day.records())
        assert len(pairs) == len(records) == 1440 * 12
        assert pairs == [(str(r["id"]).encode(), encode(r)) for r in records]
    # The days exercise every branch: sleep, heart rate and its absence, every intensity.
    values = [decode(v) for day in days for _, v in encode_day(day)]
    assert {v["heartrate"] is None for v in values} == {True, False}
    assert {v["sleep_value"] for v in values} == {0.0, 1.0, 2.0, 3.0}
    assert {v["intensity"] for v in values} == {0, 1, 2, 3}


def test_a_day_of_another_shape_is_refused() -> None:
    day = next(simulator.simulate_days(3, dt.date(2016, 4, 12), 1, seed=1))
    with pytest.raises(ValueError, match="shape"):
        encode_day(dataclasses.replace(day, calories=np.zeros((10, 3))))


def test_backfill_pairs_follow_the_simulator() -> None:
    settings = ProducerSettings(users=4, days=2, seed=9, start_date="2016-04-20")
    # The slow path, record by record through the schema's own encoder, with the settings' users, start, days, seed.
    records = list(simulator.simulate(4, dt.date(2016, 4, 20), 2, seed=9))
    assert len(records) == 4 * 2 * 1440
    assert list(backfill_pairs(settings)) == [(str(r["id"]).encode(), encode(r)) for r in records]
    assert {r["date"] for r in records} == {"2016-04-20", "2016-04-21"}


def test_backfill_days_are_the_backfill_pairs_as_columns() -> None:
    settings = ProducerSettings(users=3, days=2, seed=4, start_date="2016-05-01")
    days = list(BackfillDays(settings))
    assert len(days) == 2
    assert [pair for keys, values in days for pair in zip(keys, values, strict=True)] == list(backfill_pairs(settings))


def test_a_chunk_is_grouped_by_partition_keeping_every_key_in_order() -> None:
    from services.producer.kafka_producer import _PartitionGrouping

    grouping = _PartitionGrouping(3)
    keys = [str(uid).encode() for uid in (1503960366, 1624580081, 1644430081, 1844505072, 1927972279)] * 40
    values = [f"{key.decode()}:{n}".encode() for n, key in enumerate(keys)]
    grouped_keys, grouped_values, given_partitions = grouping((keys, values))

    assert sorted(grouped_values) == sorted(values), "nothing lost, nothing added"
    partitions = [grouping.partition(key) for key in grouped_keys]
    assert list(given_partitions) == partitions, "each record goes with its key's partition"
    assert partitions == sorted(partitions), "one run per partition"
    assert len(set(partitions)) > 1
    for key in set(keys):
        mine = [v for k, v in zip(grouped_keys, grouped_values, strict=True) if k == key]
        assert mine == [v for k, v in zip(keys, values, strict=True) if k == key], "each key's order is kept"
    for partition in set(partitions):
        mine = [v for v, p in zip(grouped_values, partitions, strict=True) if p == partition]
        assert mine == [v for k, v in zip(keys, values, strict=True) if grouping.partition(k) == partition]

    # A second chunk of the same keys (a backfill's next day) is grouped the same way; other keys are grouped anew.
    again = [value + b"'" for value in values]
    assert list(grouping((list(keys), again))[1]) == [value + b"'" for value in grouped_values]
    fewer = keys[:7]
    fewer_keys, fewer_values, _ = grouping((fewer, values[:7]))
    assert sorted(fewer_values) == sorted(values[:7])
    assert [grouping.partition(k) for k in fewer_keys] == sorted(grouping.partition(k) for k in fewer)
