"""`round()` of a DOUBLE in the local engine rounds as Trino does: scale by 10^n, round half up on the magnitude,
scale back (tests/trino/test_conformance.py runs the same cases on a real Trino)."""

from __future__ import annotations

import duckdb
import pytest

from core.translate import to_duckdb

#: (value, decimals, Trino's answer). The halves are those the named queries met: DuckDB's own round gives 51.02
#: and 67.2 (the exact binary values lie just below the half).
ROUND_CASES = [
    (51.025, 2, 51.03),
    (67.205, 2, 67.21),
    (-51.025, 2, -51.03),
    (-67.205, 2, -67.21),
    (2.5, 0, 3.0),
    (-2.5, 0, -3.0),
    (0.5, 0, 1.0),
    (-0.5, 0, -1.0),
    (0.25, 1, 0.3),
    (-0.25, 1, -0.3),
    (1.45, 1, 1.5),
    (1353.285, 2, 1353.29),
    (1.005, 2, 1.0),  # 1.005 * 100 is 100.49999999999999 in binary: below the half, as in Trino
    (0.0, 2, 0.0),
    (12.3449, 2, 12.34),
]


def _round(value: float, decimals: int) -> float:
    sql = to_duckdb(f"SELECT round(CAST({value!r} AS DOUBLE), {decimals}) AS r")
    return duckdb.sql(sql).fetchall()[0][0]


@pytest.mark.parametrize(("value", "decimals", "expected"), ROUND_CASES)
def test_round_of_a_double_is_trinos(value: float, decimals: int, expected: float) -> None:
    assert _round(value, decimals) == expected


def test_duckdbs_own_round_differs_on_the_halves() -> None:
    """The reason for the translation: without it the local engine answers 51.02 where Athena answers 51.03."""
    assert duckdb.sql("SELECT round(CAST(51.025 AS DOUBLE), 2), round(CAST(67.205 AS DOUBLE), 2)").fetchall() == [
        (51.02, 67.2)
    ]


@pytest.mark.parametrize("special", ["NULL", "'NaN'", "'Infinity'", "'-Infinity'"])
def test_round_keeps_null_nan_and_infinities(special: str) -> None:
    sql = to_duckdb(f"SELECT round(CAST({special} AS DOUBLE), 2) AS r, CAST({special} AS DOUBLE) AS v")
    rounded, value = duckdb.sql(sql).fetchall()[0]
    assert str(rounded) == str(value)


def test_round_of_an_aggregate_and_of_a_decimal() -> None:
    sql = to_duckdb("SELECT round(avg(x), 2) AS a, round(51.025, 2) AS d FROM (VALUES (51.02), (51.03)) AS t(x)")
    assert duckdb.sql(sql).fetchall() == [(51.03, 51.03)]
