"""The named queries: one Athena (Trino) query per file of `sql/`, read the same way by the CDK app (which makes an
Athena named query of each) and by the local query engine (which runs them on DuckDB).

A file's name (its stem) is the query's name, and its first line is the header `-- <stem>: <description>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

#: The repository's `sql/` folder, which ships inside the core as the package `core.sql`: found through the import
#: system, so an editable install (where it is the repository's folder) and a wheel (where its files are package data)
#: read the same queries. An installed package is a folder on disk, so the queries have paths.
SQL_DIR: Final = Path(str(files("core.sql")))
#: The one-user query of the original design, and the user id it hard-codes (the prepared statement's parameter).
PER_USER_QUERY: Final = "01_sedentary_minutes_per_day"
PER_USER_ID: Final = 1503960366

_HEADER: Final = re.compile(r"--\s*(?P<stem>[^:\s]+)\s*:\s*(?P<description>.+)")


class NamedQueryError(ValueError):
    """A file of `sql/` that cannot be a named query; the message names the file and what to fix."""


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One SQL file: its stem is the name, its header line the description ("" without one), its text the query."""

    name: str
    description: str
    sql: str
    path: Path

    @property
    def has_header(self) -> bool:
        return bool(self.description)


def read_named_query(path: Path) -> NamedQuery:
    """Any SQL file, with or without a header (an ad-hoc file has none)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first_line = text.lstrip().splitlines()[0].strip() if text.strip() else ""
    header = _HEADER.fullmatch(first_line)
    description = header["description"].strip() if header and header["stem"] == path.stem else ""
    return NamedQuery(path.stem, description, text, path)


def named_queries(sql_dir: Path = SQL_DIR) -> list[NamedQuery]:
    """Every `*.sql` file of `sql_dir`, in name order. Each must start with its header."""
    queries = [read_named_query(path) for path in sorted(Path(sql_dir).glob("*.sql"))]
    for query in queries:
        if not query.has_header:
            raise NamedQueryError(
                f"{query.path.name}: the first line must be '-- {query.name}: <one-sentence description>'"
            )
    return queries


def prepared_statement_text(query: NamedQuery) -> str:
    """The one-user query with its hard-coded user id made a parameter (`?`), without a trailing semicolon."""
    literal = str(PER_USER_ID)
    if literal not in query.sql:
        raise NamedQueryError(f"{query.path.name}: expected the user id {literal} to make a parameter of")
    return query.sql.replace(literal, "?").rstrip().rstrip(";").rstrip()
