"""`fitpipe crawl`: the local equivalent of the Glue crawler.

It reads the lake's table folder, infers the columns and their types from a sample of the files and the partitions
from the `dt=YYYY-MM-DD` folders, compares them with the declared record schema, reports any drift, and registers
the table for DuckDB as `"fitness-data-kafka-database"."fitness_data_kafka_storage"` in a catalog file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from core.names import GLUE_DATABASE, GLUE_TABLE, LAKE_DATA_PREFIX, LAKE_FORMATS, PARTITION_COLUMN
from core.schema import FIELDS, FIELDS_BY_NAME, duckdb_columns
from fitpipe.errors import UserError

#: The data files the consumer writes, by format, as the file name ends.
FORMATS: Final = {name: f".{ext}" for name, ext in LAKE_FORMATS.items()}
#: How many files the type inference reads at most (spread over the partitions), like a crawler's sample.
DEFAULT_SAMPLE_FILES: Final = 24
CATALOG_FILE_NAME: Final = "catalog.duckdb"
DEFAULT_LAKE: Final = Path("out/lake")

_PARTITION_DIR = re.compile(r"(?P<key>[^=/]+)=(?P<value>[^/]*)")
_INT32 = (-(2**31), 2**31 - 1)
_INTEGER_TYPES: Final = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_STRING_TYPES: Final = {"VARCHAR", "DATE", "TIME", "TIMESTAMP", "UUID"}  # JSON strings DuckDB reads as richer types
#: A declared type and the inferred types that read back the same values (JSON has no integer widths).
_COMPATIBLE: Final = {"bigint": {"bigint", "int"}, "int": {"int"}, "double": {"double", "bigint", "int"}}


@dataclass(frozen=True)
class Partition:
    value: str
    files: int
    bytes: int


@dataclass(frozen=True)
class InferredColumn:
    name: str
    duckdb_type: str
    glue_type: str  # what a crawler would declare: bigint, int, double, string, boolean, null or the DuckDB type


@dataclass
class Drift:
    missing: list[str] = field(default_factory=list)  # declared, absent from the files
    extra: list[str] = field(default_factory=list)  # in the files, not declared
    type_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (column, declared, inferred)
    bad_partitions: list[str] = field(default_factory=list)  # folders that are not dt=YYYY-MM-DD

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.type_changes or self.bad_partitions)

    def lines(self) -> list[str]:
        out = [f"missing column {name!r}: declared in the schema, absent from the files" for name in self.missing]
        out += [f"extra column {name!r}: in the files, not in the schema" for name in self.extra]
        out += [f"type change {name!r}: declared {d}, files hold {i}" for name, d, i in self.type_changes]
        out += [
            f"unexpected partition folder {name!r}: expected {PARTITION_COLUMN}=YYYY-MM-DD"
            for name in self.bad_partitions
        ]
        return out


@dataclass
class CrawlResult:
    lake: Path
    catalog: Path
    files: dict[str, int]  # format -> number of files
    partitions: list[Partition]
    columns: list[InferredColumn]
    sampled_files: int
    drift: Drift

    def to_json(self) -> str:
        data = asdict(self)
        data["lake"], data["catalog"] = str(self.lake), str(self.catalog)
        data["drift"]["lines"] = self.drift.lines()
        return json.dumps(data, indent=2)


def table_dir(lake: Path) -> Path:
    return lake / LAKE_DATA_PREFIX


def default_catalog(lake: Path) -> Path:
    return lake / CATALOG_FILE_NAME


def data_files(lake: Path) -> dict[str, list[Path]]:
    """The table's data files by format, in partition order."""
    root = table_dir(lake)
    found: dict[str, list[Path]] = {}
    for fmt, suffix in FORMATS.items():
        files = sorted(p for p in root.glob(f"*/*{suffix}") if p.is_file())
        if fmt == "jsonl":  # `*.json` does not match `.json.gz`, but keep the formats apart explicitly
            files = [p for p in files if not p.name.endswith(".json.gz")]
        if files:
            found[fmt] = files
    return found


def _partitions(files: dict[str, list[Path]]) -> tuple[list[Partition], list[str]]:
    by_dir: dict[str, list[Path]] = {}
    for paths in files.values():
        for path in paths:
            by_dir.setdefault(path.parent.name, []).append(path)
    partitions, bad = [], []
    for name in sorted(by_dir):
        match = _PARTITION_DIR.fullmatch(name)
        value = match["value"] if match and match["key"] == PARTITION_COLUMN else None
        try:
            dt.date.fromisoformat(value or "")
        except ValueError:
            bad.append(name)
            continue
        paths = by_dir[name]
        partitions.append(Partition(value, len(paths), sum(p.stat().st_size for p in paths)))
    return partitions, bad


def _sample(files: list[Path], limit: int) -> list[Path]:
    """Up to `limit` files spread evenly over the list (which is in partition order)."""
    if len(files) <= limit:
        return files
    step = len(files) / limit
    return [files[int(i * step)] for i in range(limit)]


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p.resolve()).replace("'", "''") + "'" for p in paths) + "]"


def _reader(fmt: str, source: str, columns: dict[str, str] | None = None) -> str:
    """A DuckDB table function reading `source` (a list literal of paths or globs) as Hive-partitioned files."""
    hive = f"hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': 'VARCHAR'}}"
    if fmt == "parquet":
        return f"read_parquet({source}, {hive}, union_by_name = true)"
    shape = f"columns = {columns!r}" if columns else "union_by_name = true, sample_size = -1"
    return f"read_json({source}, format = 'newline_delimited', {shape}, {hive})"


def _crawler_type(con, relation: str, name: str, duckdb_type: str) -> str:
    """The Glue type a crawler would give the column, from the DuckDB type and, for JSON integers, the range."""
    if duckdb_type in _STRING_TYPES:
        return "string"
    if duckdb_type in ("DOUBLE", "FLOAT") or duckdb_type.startswith("DECIMAL"):
        return "double"
    if duckdb_type == "BOOLEAN":
        return "boolean"
    if duckdb_type in ('"NULL"', "NULL"):
        return "null"
    if duckdb_type in _INTEGER_TYPES:
        if duckdb_type in ("TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT"):
            return "int"
        low, high = con.execute(f'SELECT min("{name}"), max("{name}") FROM {relation}').fetchone()
        fits = low is None or (_INT32[0] <= low and high <= _INT32[1])
        return "int" if fits else "bigint"
    return duckdb_type.lower()


def infer_columns(files: dict[str, list[Path]], sample_files: int = DEFAULT_SAMPLE_FILES) -> tuple[list, int]:
    """The columns of a sample of the files, with their crawler types, in the order first seen."""
    import duckdb

    con = duckdb.connect()
    columns: dict[str, InferredColumn] = {}
    sampled = 0
    for fmt, paths in files.items():
        sample = _sample(paths, sample_files)
        sampled += len(sample)
        relation = _reader(fmt, _sql_list(sample))
        con.execute(f"CREATE OR REPLACE TEMP TABLE sample AS SELECT * FROM {relation}")
        for name, duckdb_type, *_ in con.execute("DESCRIBE sample").fetchall():
            if name == PARTITION_COLUMN:
                continue
            glue = _crawler_type(con, "sample", name, duckdb_type)
            seen = columns.get(name)
            if seen is None or seen.glue_type == "null":
                columns[name] = InferredColumn(name, duckdb_type, glue)
            elif glue not in (seen.glue_type, "null"):
                wider = {seen.glue_type, glue}
                merged = (
                    "bigint"
                    if wider == {"int", "bigint"}
                    else "double"
                    if wider <= {"int", "bigint", "double"}
                    else "string"
                )
                columns[name] = InferredColumn(name, f"{seen.duckdb_type}|{duckdb_type}", merged)
    return list(columns.values()), sampled


def compare(columns: list[InferredColumn], bad_partitions: list[str]) -> Drift:
    """How the inferred columns differ from the declared record schema."""
    inferred = {c.name: c for c in columns}
    drift = Drift(bad_partitions=bad_partitions)
    drift.missing = [f.name for f in FIELDS if f.name not in inferred]
    drift.extra = [c.name for c in columns if c.name not in FIELDS_BY_NAME]
    for f in FIELDS:
        column = inferred.get(f.name)
        if column is None or (column.glue_type == "null" and f.nullable):
            continue
        if column.glue_type not in _COMPATIBLE.get(f.type, {f.type}):
            drift.type_changes.append((f.name, f.type, column.glue_type))
    return drift


def table_sql(lake: Path, formats: list[str]) -> str:
    """The view's SELECT: every format present, read with the declared column types, plus the partition column."""
    root = table_dir(lake).resolve()
    names = ", ".join(f'"{f.name}"' for f in FIELDS) + f', "{PARTITION_COLUMN}"'
    parts = []
    for fmt in formats:
        glob = "'" + str(root / f"{PARTITION_COLUMN}=*" / f"*{FORMATS[fmt]}").replace("'", "''") + "'"
        reader = _reader(fmt, glob, duckdb_columns() if fmt != "parquet" else None)
        if fmt == "parquet":  # parquet carries its own types; cast them to the declared ones
            casts = ", ".join(f'CAST("{f.name}" AS {f.duckdb_type}) AS "{f.name}"' for f in FIELDS)
            parts.append(f'SELECT {casts}, "{PARTITION_COLUMN}" FROM {reader}')
        else:
            parts.append(f"SELECT {names} FROM {reader}")
    return "\nUNION ALL\n".join(parts)


def register_table(lake: Path, catalog: Path, formats: list[str]) -> None:
    """Create (or replace) the schema and the table's view in the DuckDB catalog file."""
    import duckdb

    catalog.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(catalog)) as con:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{GLUE_DATABASE}"')
        con.execute(f'CREATE OR REPLACE VIEW "{GLUE_DATABASE}"."{GLUE_TABLE}" AS {table_sql(lake, formats)}')


def crawl(lake: Path, catalog: Path | None = None, sample_files: int = DEFAULT_SAMPLE_FILES) -> CrawlResult:
    """Crawl the lake's table folder, report drift against the schema and register the table."""
    lake = Path(lake)
    catalog = Path(catalog) if catalog else default_catalog(lake)
    if not table_dir(lake).is_dir():
        raise UserError(f"no table folder {table_dir(lake)}: land data first (`fitpipe consume --lake {lake}`)")
    files = data_files(lake)
    if not files:
        raise UserError(
            f"no data files ({', '.join('*' + suffix for suffix in FORMATS.values())}) under "
            f"{table_dir(lake) / PARTITION_COLUMN}=*/: "
            f"land data first (`fitpipe consume --lake {lake}`)"
        )
    partitions, bad = _partitions(files)
    # Like a crawler, read only the folders that are partitions of the table; report the others as drift.
    files = {fmt: kept for fmt, paths in files.items() if (kept := [p for p in paths if p.parent.name not in bad])}
    if not files:
        raise UserError(f"no data files in {PARTITION_COLUMN}=YYYY-MM-DD folders under {table_dir(lake)}: found {bad}")
    columns, sampled = infer_columns(files, sample_files)
    drift = compare(columns, bad)
    register_table(lake, catalog, list(files))
    return CrawlResult(lake, catalog, {fmt: len(p) for fmt, p in files.items()}, partitions, columns, sampled, drift)


def print_result(result: CrawlResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title=f"{GLUE_DATABASE}.{GLUE_TABLE}: columns inferred from {result.sampled_files} file(s)")
    for heading in ("column", "inferred", "declared", ""):
        table.add_column(heading)
    inferred = {c.name: c for c in result.columns}
    for name in [*FIELDS_BY_NAME, *(c.name for c in result.columns if c.name not in FIELDS_BY_NAME)]:
        column, declared = inferred.get(name), FIELDS_BY_NAME.get(name)
        changed = any(name == change[0] for change in result.drift.type_changes)
        state = "missing" if column is None else "extra" if declared is None else "type change" if changed else "ok"
        style = "green" if state == "ok" else "red"
        table.add_row(
            name, column.glue_type if column else "-", declared.type if declared else "-", f"[{style}]{state}[/{style}]"
        )
    table.add_row(PARTITION_COLUMN, "string (partition)", "string (partition)", "[green]ok[/green]")
    console.print(table)
    files = ", ".join(f"{n} {fmt}" for fmt, n in result.files.items())
    first, last = (result.partitions[0].value, result.partitions[-1].value) if result.partitions else ("-", "-")
    console.print(f"{len(result.partitions)} partition(s) {first} .. {last}; files: {files}")
    for line in result.drift.lines():
        console.print(f"[red]drift:[/red] {line}")
    if not result.drift:
        console.print("[green]no drift[/green]: the files match the declared schema")
    console.print(f'registered "{GLUE_DATABASE}"."{GLUE_TABLE}" in {result.catalog}')


def _run(args: argparse.Namespace) -> int:
    result = crawl(args.lake, args.catalog, args.sample_files)
    if args.json:
        print(result.to_json())
    else:
        print_result(result)
    return 1 if result.drift and args.fail_on_drift else 0


def add_lake_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE, help="the lake folder (default: out/lake)")
    parser.add_argument(
        "--catalog", type=Path, default=None, help="the DuckDB catalog file (default: LAKE/catalog.duckdb)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("crawl", help="catalog the local lake for DuckDB and report schema drift")
    add_lake_arguments(parser)
    parser.add_argument("--sample-files", type=int, default=DEFAULT_SAMPLE_FILES, help="files read to infer types")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when the files drift from the schema")
    parser.set_defaults(func=_run)
