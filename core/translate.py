"""Athena (Trino) SQL as DuckDB SQL, with Trino's semantics: the one translation that the local engine runs and
that the CDK app's optional DuckDB workgroup gets its named queries from, so both run the same text.

sqlglot translates the dialect; with the tables' schema it also knows each expression's type, which keeps what
Trino means where DuckDB would answer otherwise:

- integer division stays integer division (`5 / 2 = 2`);
- `sum` over integers and `count_if` are a BIGINT (DuckDB makes them a HUGEINT);
- `round(x, n)` of a DOUBLE rounds as Trino does: it scales `x` by 10^n, rounds that half away from zero (Java's
  `Math.round` of the magnitude), and scales back, so `round(51.025, 2)` is 51.03. DuckDB's own `round` rounds the
  exact binary value, 51.02499999999999857891452847979962825775146484375, down to 51.02.

sqlglot is imported when a query is translated: the core's other users (the services) never need it.
"""

from __future__ import annotations

from typing import Final

from core.names import CURATED_TABLE, GLUE_DATABASE, GLUE_TABLE, PARTITION_COLUMN
from core.schema import FIELDS

_INTEGER_TYPES: Final = {"TINYINT", "SMALLINT", "INT", "BIGINT", "UTINYINT", "USMALLINT", "UINT"}


class TranslationError(ValueError):
    """The SQL cannot be translated; the message says why in one line."""


def table_schema() -> dict[str, dict[str, dict[str, str]]]:
    """The catalog as sqlglot's optimizer sees it: the Glue types of the tables' columns and their partition (the raw
    and the curated table have the same columns)."""
    columns = {f.name: f.type for f in FIELDS} | {PARTITION_COLUMN: "string"}
    return {GLUE_DATABASE: {GLUE_TABLE: columns, CURATED_TABLE: columns}}


def _is_double(node) -> bool:
    from sqlglot import exp

    kind = node.type
    return kind is not None and kind.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)


def trino_round_sql(value: str, decimals: str) -> str:
    """DuckDB SQL for Trino's `round(value, decimals)` of a DOUBLE (`MathFunctions.round` in Trino's source):
    with `factor = 10^decimals`, a negative value is `-(Math.round(-value * factor) / factor)`, any other
    `Math.round(value * factor) / factor`. DuckDB's one-argument `round` of a DOUBLE rounds half away from zero,
    which on the magnitude is Java's half up; the sign is put back after. (Beyond 2^63, where Java's long saturates,
    Trino's answer is meaningless and this one keeps the value.)"""
    factor = f"POWER(CAST(10 AS DOUBLE), {decimals})"
    return f"(ROUND(ABS({value}) * {factor}) / {factor} * SIGN({value}))"


def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL, one statement, as DuckDB SQL with Trino's integer division, result types and `round`."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import OptimizeError, ParseError
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        raise TranslationError(f"the SQL does not parse as Athena SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise TranslationError(f"expected one SQL statement, got {len(statements)}: run them one at a time")
    schema = table_schema()
    try:
        tree = qualify(statements[0], schema=schema, dialect="athena", quote_identifiers=True)
    except OptimizeError as exc:
        raise TranslationError(
            f"{exc}: the table {GLUE_DATABASE}.{GLUE_TABLE} has {', '.join(schema[GLUE_DATABASE][GLUE_TABLE])}"
        ) from None
    tree = annotate_types(tree, schema=schema, dialect="athena")

    def trino_semantics(node: exp.Expression) -> exp.Expression:
        # Trino sums integers and counts into a BIGINT; DuckDB makes `sum(int)` and `count_if` a HUGEINT.
        integer_sum = isinstance(node, exp.Sum) and node.this.type and node.this.type.this.name in _INTEGER_TYPES
        if integer_sum or isinstance(node, exp.CountIf):
            return exp.cast(node.copy(), exp.DataType.build("BIGINT"))
        if isinstance(node, exp.Round) and _is_double(node.this):
            decimals = node.args.get("decimals")
            value = node.this.transform(trino_semantics).sql(dialect="duckdb")
            digits = decimals.sql(dialect="duckdb") if decimals is not None else "0"
            return sqlglot.parse_one(trino_round_sql(value, digits), read="duckdb")
        return node

    return tree.transform(trino_semantics).sql(dialect="duckdb")
