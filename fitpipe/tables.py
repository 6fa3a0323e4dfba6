"""The tables the local queries see, by their Glue names: the raw table that `fitpipe crawl` registered, and the
curated Iceberg table that `fitpipe compact` writes.

DuckDB cannot load its iceberg extension offline, so the curated table is read the way an engine plans an Iceberg
scan: pyiceberg resolves the table's current snapshot to its data files, and DuckDB reads those with
`read_parquet`. The file list is taken when the connection opens, so one connection sees one snapshot: a query
never mixes a day's old and new files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from core.names import CURATED_TABLE, GLUE_DATABASE, GLUE_TABLE, PARTITION_COLUMN
from core.schema import FIELDS
from fitpipe.errors import UserError

#: The attached catalog file of `fitpipe crawl`.
_RAW_CATALOG: Final = "raw_catalog"
_COLUMNS: Final = [*((f.name, f.duckdb_type) for f in FIELDS), (PARTITION_COLUMN, "VARCHAR")]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def curated_table(lake: Path):
    """The lake's curated Iceberg table (pyiceberg's `Table`), or None when the lake has none."""
    from services.compactor.settings import CompactorSettings
    from services.compactor.table import IDENTIFIER, SQL_CATALOG_FILE, open_catalog

    if not (Path(lake) / SQL_CATALOG_FILE).is_file():
        return None
    catalog = open_catalog(CompactorSettings(catalog="sql", lake_dir=Path(lake)))
    if not catalog.table_exists(IDENTIFIER):
        return None
    return catalog.load_table(IDENTIFIER)


def curated_data_files(lake: Path) -> list[str] | None:
    """The data files of the curated table's current snapshot, or None when the lake has no curated table."""
    table = curated_table(lake)
    if table is None:
        return None
    tasks = list(table.scan().plan_files())
    if any(task.delete_files for task in tasks):  # the compactor rewrites whole files; it never writes deletes
        raise UserError(f"the curated table in {lake} has delete files, which the local reader does not apply")
    return [task.file.file_path.removeprefix("file://") for task in tasks]


def curated_view_sql(files: list[str] | None, lake: Path) -> str:
    """The SELECT of the curated table's view: its data files with the declared types (no rows for an empty table,
    an error naming the command to run when the lake has no curated table)."""
    if files:
        columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in _COLUMNS)
        return f"SELECT {columns} FROM read_parquet([{', '.join(_sql_string(f) for f in files)}])"
    if files is not None:
        return f"SELECT {_nulls()} WHERE false"
    return _error_view(f"no curated table in {lake}: run `fitpipe compact --lake {lake}` first")


def _nulls() -> str:
    return ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in _COLUMNS)


def _error_view(message: str) -> str:
    """A view with the table's columns whose reading fails with `message` (a table the lake does not have yet)."""
    return f"SELECT {_nulls()} FROM range(1) WHERE error({_sql_string(message)}) IS NULL"


def connect_tables(catalog: Path, lake: Path):
    """An in-memory DuckDB connection with both tables as views under `"fitness-data-kafka-database"`."""
    import duckdb

    files = curated_data_files(lake)
    if files is None and not Path(catalog).exists():
        raise UserError(f"no tables in {lake}: run `fitpipe crawl --lake {lake}` or `fitpipe compact --lake {lake}`")
    con = duckdb.connect()
    con.execute(f'CREATE SCHEMA "{GLUE_DATABASE}"')
    if Path(catalog).exists():
        con.execute(f"ATTACH {_sql_string(str(catalog))} AS {_RAW_CATALOG} (READ_ONLY)")
        raw = f'SELECT * FROM {_RAW_CATALOG}."{GLUE_DATABASE}"."{GLUE_TABLE}"'
    else:
        raw = _error_view(f"no catalog at {catalog}: run `fitpipe crawl --lake {lake}` first")
    con.execute(f'CREATE VIEW "{GLUE_DATABASE}"."{GLUE_TABLE}" AS {raw}')
    con.execute(f'CREATE VIEW "{GLUE_DATABASE}"."{CURATED_TABLE}" AS {curated_view_sql(files, lake)}')
    return con


def on_table(sql: str, table: str, instead_of: str = CURATED_TABLE) -> str:
    """Athena SQL with every reference to the table `instead_of` pointed at `table` (in the same database): a
    named query asked of the raw table, for the minutes the compactor has not folded in yet."""
    import sqlglot
    from sqlglot import exp

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name == instead_of:
            node = node.copy()
            node.set("this", exp.to_identifier(table, quoted=True))
        return node

    return sqlglot.parse_one(sql, read="athena").transform(swap).sql(dialect="athena")
