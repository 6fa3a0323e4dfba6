"""The simulator: order, validity, determinism, the population's shares, and the fast encoded path."""

from __future__ import annotations

import datetime as dt
from itertools import islice

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.schema import FIELD_NAMES, encode, validate
from services.producer.simulator import (
    SimulationError,
    make_cohort,
    simulate,
    simulate_days,
    simulate_encoded,
    user_ids,
)

START = dt.date(2016, 4, 12)


def test_one_record_per_user_per_minute_in_event_time_order():
    records = list(simulate(3, START, 2, seed=1))
    assert len(records) == 3 * 2 * 1440
    ids = sorted({r["id"] for r in records})
    assert len(ids) == 3
    # Minute by minute, every user for that minute, users sorted by id.
    for index, record in enumerate(records):
        minute, user = divmod(index, 3)
        day, minute_of_day = divmod(minute, 1440)
        assert record["id"] == ids[user]
        assert record["date"] == (START + dt.timedelta(days=day)).isoformat()
        assert record["time"] == f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}:00"


def test_records_have_exactly_the_schema_fields_and_are_valid():
    records = list(simulate(5, START, 2, seed=2))
    assert all(tuple(r) == FIELD_NAMES for r in records)
    invalid = [(r, validate(r)) for r in records if validate(r)]
    assert invalid == []


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), users=st.integers(1, 4), start=st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1))
)
def test_any_seed_and_start_give_valid_records(seed, users, start):
    for record in simulate(users, start, 1, seed):
        assert validate(record) == []


def test_same_seed_same_data_and_another_seed_other_data():
    first = list(simulate(4, START, 2, seed=7))
    again = list(simulate(4, START, 2, seed=7))
    other = list(simulate(4, START, 2, seed=8))
    assert first == again
    assert [r["id"] for r in first] != [r["id"] for r in other]
    assert [r["steps"] for r in first] != [r["steps"] for r in other]


def test_generated_ids_are_ten_digits_distinct_sorted_and_follow_the_seed():
    ids = user_ids(50, seed=3)
    assert ids == sorted(set(ids))
    assert len(ids) == 50
    assert all(1_000_000_000 <= i <= 9_999_999_999 for i in ids)
    assert user_ids(50, seed=3) == ids
    assert user_ids(50, seed=4) != ids


def test_explicit_ids_are_used_sorted():
    records = list(islice(simulate([8877689391, 3, 1503960366], START, 1), 6))
    assert [r["id"] for r in records] == [3, 1503960366, 8877689391] * 2


def test_shares_of_heart_rate_and_sleep_users_are_those_of_the_real_cohort():
    cohort = make_cohort(user_ids(33, seed=0), seed=0)
    assert int(cohort.has_heart_rate.sum()) == 14
    assert int(cohort.logs_sleep.sum()) == 24
    # Users differ: activity levels spread like the real users' (log-normal, mean 1).
    assert cohort.activity.max() / cohort.activity.min() > 4
    assert abs(cohort.activity.mean() - 1) < 0.1


def test_users_without_a_sensor_never_have_heart_rate_and_the_others_mostly_do():
    day = next(simulate_days(12, START, 1, seed=5))
    cohort = make_cohort(day.ids.tolist(), seed=5)
    has = day.heartrate >= 0
    assert not has[:, ~cohort.has_heart_rate].any()
    worn_hr_users = has[:, cohort.has_heart_rate].any(axis=0)
    assert worn_hr_users.sum() >= 1
    assert has[:, cohort.has_heart_rate][:, worn_hr_users].all()


def test_sleep_logs_are_whole_contiguous_and_cross_midnight_with_one_logid():
    days = list(simulate_days(8, START, 4, seed=11))
    logid = np.concatenate([d.logid for d in days])  # (minutes, users)
    sleep_value = np.concatenate([d.sleep_value for d in days])
    assert ((logid != 0) == (sleep_value != 0)).all()
    crossing = 0
    for user in range(logid.shape[1]):
        column = logid[:, user]
        for log in np.unique(column[column != 0]):
            where = np.flatnonzero(column == log)
            assert where[-1] - where[0] + 1 == len(where), "a log has no gaps"
            crossing += int(where[0] // 1440 != where[-1] // 1440)
    assert crossing > 0, "some nights start before midnight and end after it"


def test_encoded_pairs_are_the_user_id_and_the_schema_encoding():
    pairs = list(simulate_encoded(3, START, 1, seed=4))
    records = list(simulate(3, START, 1, seed=4))
    assert len(pairs) == len(records)
    for (key, value), record in zip(pairs, records, strict=True):
        assert key == str(record["id"]).encode()
        assert value == encode(record)


def test_a_day_batch_holds_the_columns_of_its_records():
    day = next(simulate_days(2, START, 1, seed=6))
    records = list(day.records())
    assert len(day) == len(records) == 2880
    assert [r["steps"] for r in records] == day.steps.ravel().tolist()
    assert [r["calories"] for r in records] == np.round(day.calories, 4).ravel().tolist()


@pytest.mark.parametrize(
    ("users", "days", "seed", "message"),
    [
        (0, 1, 0, "at least 1"),
        (2, 0, 0, "days must be at least 1"),
        (2, 1, -1, "non-negative"),
        ([5, 5], 1, 0, "distinct"),
        ([], 1, 0, "at least one user id"),
        ([0], 1, 0, "positive"),
    ],
)
def test_impossible_arguments_are_refused_with_a_reason(users, days, seed, message):
    with pytest.raises(SimulationError, match=message):
        next(simulate(users, START, days, seed))


def test_start_must_be_a_date():
    with pytest.raises(SimulationError, match="date"):
        next(simulate(1, "2016-04-12", 1))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    states=st.integers(2, 5),
    chains=st.integers(1, 7),
    blocks=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    shuffles=st.booleans(),
)
def test_chains_run_by_blocks_are_the_chains_stepped_minute_by_minute(states, chains, blocks, seed, shuffles):
    from services.producer.simulator import _CHAIN_BLOCK, _chain_states

    rng = np.random.default_rng(seed)
    minutes = blocks * _CHAIN_BLOCK
    if shuffles:  # every step a permutation: a block's steps never merge states, so every state must be followed
        going = rng.permuted(np.broadcast_to(np.arange(states), (minutes, chains, states)), axis=2)
    else:  # random steps: like the simulator's chains, they soon take every state to the same one
        going = rng.integers(0, states, size=(minutes, chains, states))
    initial = rng.integers(0, states, size=chains)

    expected = np.empty((minutes, chains), dtype=np.int64)
    state = initial
    for minute in range(minutes):
        state = going[minute, np.arange(chains), state]
        expected[minute] = state
    assert np.array_equal(_chain_states(going, initial), expected)


def test_chains_need_whole_blocks():
    from services.producer.simulator import _CHAIN_BLOCK, _chain_states

    with pytest.raises(ValueError, match="whole blocks"):
        _chain_states(np.zeros((_CHAIN_BLOCK + 1, 2, 3), dtype=np.int64), np.zeros(2, dtype=np.int64))
