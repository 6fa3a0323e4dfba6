"""The conformance rule itself, on answers made up for the purpose (the real engines are in test_conformance.py)."""

from __future__ import annotations

from tests.trino.compare import Answer, compare, is_preview, with_unrounded

COLUMNS = ["id", "total_calories"]
TYPES = ["BIGINT", "DOUBLE"]
TWINS = {"total_calories": "total_calories__unrounded"}


def _answer(*rows: tuple) -> Answer:
    return Answer(COLUMNS, TYPES, list(rows))


def _twinned(*rows: tuple) -> Answer:
    return Answer([*COLUMNS, "total_calories__unrounded"], [*TYPES, "DOUBLE"], list(rows))


def _verdict(trino: Answer, local: Answer, twins: tuple[Answer, Answer], ordered: bool = True):
    return compare("q on t", trino, local, TWINS, lambda: twins, ordered=ordered)


def test_equal_answers_pass() -> None:
    verdict = _verdict(_answer((1, 2.5)), _answer((1, 2.5)), (_twinned(), _twinned()))
    assert not verdict.failures and not verdict.tolerated and verdict.compared_doubles == 1


def test_a_rounding_difference_fails_and_names_the_query_and_the_row() -> None:
    twins = (_twinned((7, 51.03, 51.025)), _twinned((7, 51.02, 51.025)))
    verdict = _verdict(_answer((7, 51.03)), _answer((7, 51.02)), twins)
    assert len(verdict.failures) == 1
    assert (
        "q on t: row {'id': 7, 'total_calories': 51.03}, total_calories: Trino 51.03, local 51.02"
        in (verdict.failures[0])
    )


def test_a_sum_added_in_another_order_is_tolerated_and_reported() -> None:
    twins = (_twinned((7, 1353.29, 1353.2850000000003)), _twinned((7, 1353.28, 1353.2849999999999)))
    verdict = _verdict(_answer((7, 1353.29)), _answer((7, 1353.28)), twins)
    assert not verdict.failures and len(verdict.tolerated) == 1 and "summation order" in verdict.tolerated[0]


def test_a_sum_that_rounded_apart_once_and_alike_the_next_time_is_tolerated_on_a_half_only() -> None:
    on_half = (_twinned((7, 1050.35, 1050.345)), _twinned((7, 1050.35, 1050.345)))
    assert _verdict(_answer((7, 1050.35)), _answer((7, 1050.34)), on_half).tolerated
    off_half = (_twinned((7, 1050.35, 1050.349)), _twinned((7, 1050.35, 1050.349)))
    assert _verdict(_answer((7, 1050.35)), _answer((7, 1050.34)), off_half).failures


def test_a_large_difference_fails() -> None:
    twins = (_twinned((7, 10.0, 10.0)), _twinned((7, 11.0, 11.0)))
    assert _verdict(_answer((7, 10.0)), _answer((7, 11.0)), twins).failures


def test_other_rows_other_order_or_other_types_fail() -> None:
    none = (_twinned(), _twinned())
    assert _verdict(_answer((1, 1.0)), _answer((2, 1.0)), none).failures
    assert _verdict(_answer((1, 1.0), (2, 1.0)), _answer((2, 1.0), (1, 1.0)), none).failures
    assert not _verdict(_answer((1, 1.0), (2, 1.0)), _answer((2, 1.0), (1, 1.0)), none, ordered=False).failures
    other_type = Answer(COLUMNS, ["INTEGER", "DOUBLE"], [(1, 1.0)])
    assert _verdict(_answer((1, 1.0)), other_type, none).failures


def test_the_twins_and_the_preview() -> None:
    sql, twins = with_unrounded("SELECT id, round(sum(calories), 2) AS c FROM t GROUP BY id")
    assert twins == {"c": "c__unrounded"} and 'SUM(calories) AS "c__unrounded"' in sql
    assert is_preview("SELECT * FROM t LIMIT 10")
    assert not is_preview("SELECT * FROM t ORDER BY id LIMIT 10")
