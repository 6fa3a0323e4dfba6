"""The rule by which the local engine's answer must equal Trino's, and the two engines' answers to one query.

- Same column names, in the same order, of the same types.
- Integers, strings and NULLs exactly; the rows as multisets (and in the same order when the query orders them).
- Each DOUBLE exactly equal after the query's own `round()`, except where the two engines' unrounded values
  differ, by less than 1e-12 relative: a floating-point sum added up in another order. Those are reported as
  `tolerated`; the values being exactly equal unrounded and different rounded is a failure (a rounding difference).
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
#: DuckDB's names of the types Trino names.
_TYPE_NAMES: Final = {"bigint": "BIGINT", "integer": "INTEGER", "double": "DOUBLE", "varchar": "VARCHAR"}


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


def unrounded(sql: str) -> str:
    """The query with every `round(x, n)` replaced by `x`."""
    import sqlglot
    from sqlglot import exp

    def strip(node: exp.Expression) -> exp.Expression:
        return strip_all(node.this) if isinstance(node, exp.Round) else node

    def strip_all(node: exp.Expression) -> exp.Expression:
        return node.transform(strip)

    return strip_all(sqlglot.parse_one(sql, read="athena")).sql(dialect="athena")


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
    unrounded_answers: Callable[[], tuple[Answer, Answer]],
    ordered: bool,
) -> Verdict:
    """Trino's answer against the local engine's under the rule; `unrounded_answers` gives both engines' answers to
    the query without its `round()`s (asked only when a rounded double differs)."""
    verdict = Verdict()
    if (trino.columns, trino.types) != (local.columns, local.types):
        verdict.failures.append(
            f"{label}: columns differ: Trino {list(zip(trino.columns, trino.types, strict=True))}, "
            f"local {list(zip(local.columns, local.types, strict=True))}"
        )
        return verdict
    doubles = [i for i, t in enumerate(trino.types) if t == "DOUBLE"]
    trino_rows, local_rows = _keyed(trino, doubles), _keyed(local, doubles)
    if ordered and [k for k, _ in trino_rows] != [k for k, _ in local_rows]:
        verdict.failures.append(f"{label}: the rows come in another order or differ ({len(trino_rows)} in Trino)")
    # Rows with the same key pair up in the order of their doubles (a group key may be a DOUBLE, like sleep_value).
    trino_rows.sort(key=lambda r: (_sort_key(r[0]), _sort_key(r[1])))
    local_rows.sort(key=lambda r: (_sort_key(r[0]), _sort_key(r[1])))
    if [k for k, _ in trino_rows] != [k for k, _ in local_rows]:
        only_trino = sorted(set(trino_rows) - set(local_rows), key=lambda r: _sort_key(r[0]))[:3]
        only_local = sorted(set(local_rows) - set(trino_rows), key=lambda r: _sort_key(r[0]))[:3]
        verdict.failures.append(
            f"{label}: {len(trino_rows)} rows in Trino, {len(local_rows)} locally; "
            f"e.g. only in Trino {only_trino}, only locally {only_local}"
        )
        return verdict
    names = [trino.columns[i] for i in doubles]
    keys = [c for i, c in enumerate(trino.columns) if i not in doubles]
    cache: dict[str, dict[tuple, tuple]] = {}

    def unrounded_of(key: tuple) -> tuple[tuple, tuple]:
        if not cache:
            t, loc = unrounded_answers()
            cache["trino"] = dict(_keyed(t, doubles))
            cache["local"] = dict(_keyed(loc, doubles))
        return cache["trino"][key], cache["local"][key]

    for (key, trino_values), (_, local_values) in zip(trino_rows, local_rows, strict=True):
        for position, (name, want, got) in enumerate(zip(names, trino_values, local_values, strict=True)):
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
            raw_trino, raw_local = (values[position] for values in unrounded_of(key))
            if raw_trino != raw_local and _relative(raw_trino, raw_local) < SUMMATION_ORDER_RELATIVE:
                verdict.tolerated.append(f"{where} (unrounded {raw_trino!r} and {raw_local!r}: summation order)")
            else:
                verdict.failures.append(f"{where} (unrounded {raw_trino!r} and {raw_local!r})")
    return verdict
