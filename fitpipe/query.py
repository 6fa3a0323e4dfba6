"""`fitpipe query`: run a `sql/` file, or ad-hoc SQL, in the Athena dialect against the local lake.

The SQL is translated by sqlglot from Athena (Trino) to DuckDB with the table's schema, so that Trino's semantics
survive: integer division stays integer division (`5 / 2 = 2`), `SUM` over integers is a BIGINT (DuckDB would make
it a HUGEINT), `round` of a DOUBLE rounds as Trino does (`round(51.025, 2)` is 51.03), and column names come back
lower-case, as Athena returns them. The translation is core.translate's; tests/trino checks every named query's answer
against real Trino.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import json
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from core.queries import SQL_DIR, named_queries, read_named_query
from core.translate import TranslationError, to_duckdb
from fitpipe.catalog import add_lake_arguments, default_catalog
from fitpipe.errors import UserError

#: DuckDB's names of the number types, right-aligned in a table.
_NUMBER_TYPES: Final = {
    *("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT", "HUGEINT"),
    *("UTINYINT", "USMALLINT", "UINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"),
}


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame.from_records(self.rows, columns=self.columns)


def translate(sql: str) -> str:
    """Athena (Trino) SQL as DuckDB SQL with Trino's integer division, result types and rounding (core.translate,
    the translation the CDK app's DuckDB workgroup gets its named queries from)."""
    try:
        return to_duckdb(sql)
    except TranslationError as exc:
        raise UserError(str(exc)) from None


def connect(catalog: Path, lake: Path | None = None):
    """A connection that sees the raw table (the catalog `fitpipe crawl` wrote) and the curated table (of the lake,
    by default the catalog's folder); see fitpipe.tables."""
    from fitpipe.tables import connect_tables

    return connect_tables(Path(catalog), Path(lake) if lake is not None else Path(catalog).parent)


def run(con, sql: str) -> QueryResult:
    """Run Athena SQL on a catalog connection; column names lower-case, as Athena returns them."""
    import duckdb

    duck_sql = translate(sql)
    try:
        relation = con.sql(duck_sql)
        if relation is None:
            return QueryResult([], [], [])
        if "HUGEINT" in (str(t) for t in relation.types):  # Trino has no 128-bit integers: its BIGINT overflows
            relation = relation.project(
                ", ".join(
                    f'CAST("{c}" AS BIGINT) AS "{c}"' if str(t) == "HUGEINT" else f'"{c}"'
                    for c, t in zip(relation.columns, relation.types, strict=True)
                )
            )
        columns = [c.lower() for c in relation.columns]
        types = [str(t) for t in relation.types]
        rows = relation.fetchall()
    except duckdb.Error as exc:
        raise UserError(f"the query failed: {str(exc).splitlines()[0]}") from None
    return QueryResult(columns, types, rows)


def run_named_queries(catalog: Path, sql_dir: Path = SQL_DIR) -> dict[str, QueryResult]:
    """Every named query's result, by name."""
    with connect(catalog) as con:
        return {q.name: run(con, q.sql) for q in named_queries(sql_dir)}


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    return value


def write_csv(result: QueryResult, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(result.columns)
        writer.writerows([["" if v is None else _plain(v) for v in row] for row in result.rows])


def write_json(result: QueryResult, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    records = [{k: _plain(v) for k, v in r.items()} for r in result.records()]
    Path(path).write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")


#: Output formats of `fitpipe query`; `auto` is a table when it fits the terminal, vertical blocks when it does
#: not, and CSV when the output goes to a pipe or a file.
FORMATS: Final = ("auto", "table", "vertical", "csv", "json")


def _text(value: Any) -> str:
    return "NULL" if value is None else str(_plain(value))


def table_width(result: QueryResult, max_rows: int) -> int:
    """The width of the result drawn as a table with every name and value whole (rich's box: a border and a
    space either side of each cell)."""
    widths = [len(name) for name in result.columns]
    for row in result.rows[:max_rows]:
        widths = [max(w, len(_text(v))) for w, v in zip(widths, row, strict=True)]
    return sum(widths) + 3 * len(widths) + 1


def choose_format(result: QueryResult, max_rows: int, is_terminal: bool, width: int) -> str:
    """What `auto` means here: CSV into a pipe; on a terminal, a table when it fits, vertical blocks otherwise."""
    if not is_terminal:
        return "csv"
    return "table" if table_width(result, max_rows) <= width else "vertical"


def print_table(result: QueryResult, title: str = "", max_rows: int = 50, width: int | None = None) -> None:
    """A table with every name and value whole: as wide as it needs, even beyond the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for name, kind in zip(result.columns, result.types or [""] * len(result.columns), strict=True):
        numeric = kind in _NUMBER_TYPES or kind.startswith("DECIMAL")
        # The console is as wide as the table (below), so nothing is folded or cut.
        table.add_column(name, no_wrap=True, justify="right" if numeric else "left")
    for row in result.rows[:max_rows]:
        table.add_row(*(_text(v) for v in row))
    console = Console(width=max(width or 0, table_width(result, max_rows)), highlight=False)
    console.print(table, crop=False)
    _print_count(result, max_rows)


def print_vertical(result: QueryResult, title: str = "", max_rows: int = 50, width: int = 80) -> None:
    """Each row as a block of `name: value` lines, as psql's expanded display does: fits any width."""
    if title:
        print(textwrap.fill(title, width=width, break_long_words=False, break_on_hyphens=False))
    pad = max((len(name) for name in result.columns), default=0) + 1
    for number, row in enumerate(result.rows[:max_rows], start=1):
        print(f"-[ row {number} ]-")
        for name, value in zip(result.columns, row, strict=True):
            print(f"{name + ':':<{pad}} {_text(value)}")
    _print_count(result, max_rows)


def _print_count(result: QueryResult, max_rows: int) -> None:
    more = len(result.rows) - max_rows
    print(f"{len(result.rows)} row(s)" + (f", {more} not shown (--max-rows, --format csv)" if more > 0 else ""))


def print_csv(result: QueryResult, stream: Any = None) -> None:
    """Every row as CSV with a header line (NULL as an empty field), for other tools."""
    writer = csv.writer(stream or sys.stdout, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([["" if v is None else _plain(v) for v in row] for row in result.rows])


def print_json(result: QueryResult, stream: Any = None) -> None:
    """Every row as one JSON object per line (NULL as null), for other tools."""
    out = stream or sys.stdout
    for record in result.records():
        out.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")


def print_result(result: QueryResult, fmt: str = "auto", title: str = "", max_rows: int = 50) -> None:
    """The result on stdout in `fmt` (one of FORMATS)."""
    width = shutil.get_terminal_size().columns
    if fmt == "auto":
        fmt = choose_format(result, max_rows, sys.stdout.isatty(), width)
    if fmt == "table":
        print_table(result, title, max_rows, width)
    elif fmt == "vertical":
        print_vertical(result, title, max_rows, width)
    elif fmt == "csv":
        print_csv(result)
    else:
        print_json(result)


def _run(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.execute is None):
        raise UserError("give a SQL file (e.g. sql/02_intensity_distribution.sql) or -e 'SELECT ...', not both")
    if args.file is not None:
        if not args.file.is_file():
            raise UserError(f"no SQL file {args.file}: the named queries are in sql/")
        query = read_named_query(args.file)
        sql, title = query.sql, f"{query.name}: {query.description}" if query.description else query.name
    else:
        sql, title = args.execute, ""
    if args.show_sql:
        print(translate(sql))
    with connect(args.catalog or default_catalog(args.lake), args.lake) as con:
        result = run(con, sql)
    if args.csv:
        write_csv(result, args.csv)
    if args.json:
        write_json(result, args.json)
    print_result(result, args.format, title, args.max_rows)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("query", help="run a sql/ file or ad-hoc Athena SQL on the local lake with DuckDB")
    parser.add_argument("file", type=Path, nargs="?", help="a SQL file, e.g. sql/02_intensity_distribution.sql")
    parser.add_argument("-e", "--execute", metavar="SQL", help="ad-hoc Athena SQL instead of a file")
    add_lake_arguments(parser)
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the result as CSV")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON (a list of rows)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="table; vertical (a name: value block per row, for wide results); csv; json (one "
        "object per line). Default auto: a table when it fits the terminal, vertical when it does "
        "not, csv into a pipe",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=50,
        help="rows printed as a table or vertical blocks (default 50; csv, json and the files get them all)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print the DuckDB SQL the query was translated to")
    parser.set_defaults(func=_run)
