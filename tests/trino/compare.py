"""The rule by which the local engine's answer must equal Trino's, and the two engines' answers to one query.

- Same column names, in the same order, of the same types.
- Integers, strings and NULLs exactly; the rows as multisets (and in the same order when the query orders them).
- Each DOUBLE exactly equal after the query's own `round()`, except where the two engines' unrounded values
  differ, by less than 1e-12 relative: a floating-point sum added up in another order. Those are reported as
  `tolerated`; the values being exactly equal unrounded and different rounded is a failure (a rounding difference).
  The unrounded values come from one execution of the query with an unrounded twin beside each rounded column
  (`with_unrounded`), since a sum's order may change from one run to the next. A DOUBLE the query does not round
  is compared exactly.
- A query that takes a `LIMIT` without an `ORDER BY` (a preview) may return any rows: each one must be a row of the
  table, in both engines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

#: The relative difference of two unrounded doubles that a different order of summation explains.
SUMMATION_ORDER_RELATIVE: Final = 1e-12
#: At most this share of a query's doubles may differ by the order of a sum (and each is reported).
MAX_TOLERATED_SHARE: Final = 0.01
#: DuckDB's names of the types Trino names.
_TYPE_NAMES: Final = {"bigint": "BIGINT", "integer": "INTEGER", "double": "DOUBLE", "varchar": "VARCHAR"}


class SummationOrder(UserWarning):
    """A rounded double that differs between two answers because their unrounded sums differ in the last bits."""


@dataclass
class Answer:
    columns: list[str]
    types: list[str]  # DuckDB's names
    rows: list[tuple[Any, ...]]


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)
    compared_doubles: int = 0


def duckdb_type_name(trino_type: str) -> str:
    base = trino_type.split("(")[0].strip().lower()
    return _TYPE_NAMES.get(base, base.upper())


def with_unrounded(sql: str) -> tuple[str, dict[str, str]]:
    """The query with, beside each output column that is `round(x, n)`, a column of `x`; and the name of each such
    column's unrounded twin. Both values come from one execution, so a sum added up in another order between two
    runs cannot pass for a rounding difference, nor the other way round."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="athena")
    twins: dict[str, str] = {}
    if not isinstance(tree, exp.Select):
        return sql, twins
    for expression in list(tree.expressions):
        if isinstance(expression, exp.Alias) and isinstance(expression.this, exp.Round):
            twin = f"{expression.alias}__unrounded"
            tree.select(exp.alias_(expression.this.this.copy(), twin, quoted=True), copy=False)
            twins[expression.alias] = twin
    return tree.sql(dialect="athena"), twins


def is_preview(sql: str) -> bool:
    """The outermost SELECT has a LIMIT and no ORDER BY: its rows are any of the table's."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="athena")
    return tree.args.get("limit") is not None and tree.args.get("order") is None


def is_ordered(sql: str) -> bool:
    import sqlglot

    return sqlglot.parse_one(sql, read="athena").args.get("order") is not None


def _sort_key(values: tuple[Any, ...]) -> tuple:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in values)


def _keyed(answer: Answer, doubles: list[int]) -> list[tuple[tuple, tuple]]:
    """(key: the non-double values, the doubles) per row, in the answer's order."""
    keys = [i for i in range(len(answer.columns)) if i not in doubles]
    return [(tuple(row[i] for i in keys), tuple(row[i] for i in doubles)) for row in answer.rows]


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


def compare(
    label: str,
    trino: Answer,
    local: Answer,
    twins: dict[str, str],
    unrounded_answers: Callable[[], tuple[Answer, Answer]],
    ordered: bool,
) -> Verdict:
    """Trino's answer against the local engine's under the rule. `twins` names the unrounded twin of each rounded
    column, and `unrounded_answers` gives both engines' answers to the query with those twins (asked only when a
    rounded value differs). A DOUBLE the query does not round is compared exactly, with the integers and strings."""
    verdict = Verdict()
    if (trino.columns, trino.types) != (local.columns, local.types):
        verdict.failures.append(
            f"{label}: columns differ: Trino {list(zip(trino.columns, trino.types, strict=True))}, "
            f"local {list(zip(local.columns, local.types, strict=True))}"
        )
        return verdict
    rounded = [
        i for i, (c, t) in enumerate(zip(trino.columns, trino.types, strict=True)) if t == "DOUBLE" and c in twins
    ]
    trino_rows, local_rows = _keyed(trino, rounded), _keyed(local, rounded)
    if ordered and [k for k, _ in trino_rows] != [k for k, _ in local_rows]:
        verdict.failures.append(f"{label}: the rows come in another order or differ ({len(trino_rows)} in Trino)")
    trino_rows.sort(key=lambda r: _sort_key(r[0]))
    local_rows.sort(key=lambda r: _sort_key(r[0]))
    if [k for k, _ in trino_rows] != [k for k, _ in local_rows]:
        only_trino = sorted(set(trino_rows) - set(local_rows), key=lambda r: _sort_key(r[0]))[:3]
        only_local = sorted(set(local_rows) - set(trino_rows), key=lambda r: _sort_key(r[0]))[:3]
        verdict.failures.append(
            f"{label}: {len(trino_rows)} rows in Trino, {len(local_rows)} locally; "
            f"e.g. only in Trino {only_trino}, only locally {only_local}"
        )
        return verdict
    names = [trino.columns[i] for i in rounded]
    keys = [c for i, c in enumerate(trino.columns) if i not in rounded]
    cache: dict[str, dict[tuple, dict[str, Any]]] = {}

    def unrounded_of(key: tuple, name: str) -> tuple[Any, Any, Any, Any]:
        """(Trino's rounded, local rounded, Trino's unrounded, local unrounded) of one execution with the twins."""
        if not cache:
            for engine, answer in zip(("trino", "local"), unrounded_answers(), strict=True):
                cache[engine] = {k: dict(zip(answer.columns, row, strict=True)) for k, row in _keyed_rows(answer, keys)}
        t, loc = cache["trino"][key], cache["local"][key]
        return t[name], loc[name], t[twins[name]], loc[twins[name]]

    for (key, trino_values), (_, local_values) in zip(trino_rows, local_rows, strict=True):
        for name, want, got in zip(names, trino_values, local_values, strict=True):
            verdict.compared_doubles += 1
            if want == got:
                continue
            if isinstance(want, float) and isinstance(got, float) and math.isnan(want) and math.isnan(got):
                continue
            row = dict(zip(keys, key, strict=True)) | dict(zip(names, trino_values, strict=True))
            where = f"{label}: row {row}, {name}: Trino {want!r}, local {got!r}"
            if want is None or got is None:
                verdict.failures.append(where)
                continue
            again_trino, again_local, raw_trino, raw_local = unrounded_of(key, name)
            detail = f"unrounded {raw_trino!r} and {raw_local!r}"
            if again_trino != again_local:
                # Rounded apart again: only unrounded values apart by a sum's order (not equal ones) excuse it.
                summed_apart = raw_trino != raw_local and _relative(raw_trino, raw_local) < SUMMATION_ORDER_RELATIVE
            else:
                # Rounded alike this time: the sum must lie on the half between the two answers, where its order
                # decides which way it rounds.
                half = (want + got) / 2
                summed_apart = _relative(raw_trino, half) < SUMMATION_ORDER_RELATIVE
            if summed_apart:
                verdict.tolerated.append(f"{where} ({detail}: summation order)")
            else:
                verdict.failures.append(f"{where} ({detail})")
    return verdict


def _keyed_rows(answer: Answer, keys: list[str]) -> list[tuple[tuple, tuple]]:
    positions = [answer.columns.index(k) for k in keys]
    return [(tuple(row[i] for i in positions), row) for row in answer.rows]
