"""`fitpipe crawl`: columns and partitions inferred from the files, drift against the schema, the registered table."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pytest

from core.names import GLUE_DATABASE, GLUE_TABLE, LAKE_DATA_PREFIX
from core.schema import FIELD_NAMES, FIELDS, Record
from fitpipe.catalog import crawl
from fitpipe.errors import UserError
from tests.sql.lake import golden_records, write_lake
from tests.strategies import sample_record


def _write(lake: Path, day: str, name: str, rows: list[dict]) -> None:
    folder = lake / LAKE_DATA_PREFIX / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)


def _minutes(day: str, n: int = 5, **overrides) -> list[Record]:
    return [sample_record(date=day, time=f"00:{i:02d}:00", **overrides) for i in range(n)]


def test_clean_lake_has_no_drift_and_registers_the_table(tmp_path: Path) -> None:
    records = golden_records()
    lake = write_lake(tmp_path / "lake", records)
    result = crawl(lake)
    assert not result.drift, result.drift.lines()
    assert {c.name: c.glue_type for c in result.columns} == {f.name: f.type for f in FIELDS}
    assert [p.value for p in result.partitions] == ["2016-04-12", "2016-04-13", "2016-04-14"]
    assert result.files == {"jsonl.gz": 2, "jsonl": 2, "parquet": 2}
    with duckdb.connect(str(result.catalog), read_only=True) as con:
        rel = con.sql(f'SELECT * FROM "{GLUE_DATABASE}"."{GLUE_TABLE}"')
        assert rel.columns == [*FIELD_NAMES, "dt"]
        assert [str(t) for t in rel.types] == [f.duckdb_type for f in FIELDS] + ["VARCHAR"]
        assert con.execute(f'SELECT count(*) FROM "{GLUE_DATABASE}"."{GLUE_TABLE}"').fetchone()[0] == len(records)


def test_the_view_sees_files_landed_after_the_crawl(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, "2016-04-12", "a.json.gz", _minutes("2016-04-12"))
    catalog = crawl(lake).catalog
    _write(lake, "2016-04-13", "b.json.gz", _minutes("2016-04-13", 7))
    with duckdb.connect(str(catalog), read_only=True) as con:
        assert con.execute(f'SELECT count(*) FROM "{GLUE_DATABASE}"."{GLUE_TABLE}"').fetchone()[0] == 12


def test_drift_missing_extra_type_change_and_bad_partition(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    rows = []
    for record in _minutes("2016-04-12"):
        del record["mets"]
        record["steps"] = str(record["steps"])  # a producer that sends steps as text
        record["spo2"] = 97.5  # a field the schema does not know
        rows.append(record)
    _write(lake, "2016-04-12", "a.json", rows)
    _write(lake, "2016-04-13", "b.json.gz", _minutes("2016-04-13", id=2**40))
    (lake / LAKE_DATA_PREFIX / "date=2016-04-14").mkdir()
    _write(lake, "2016-04-14", "c.json", _minutes("2016-04-14"))
    (lake / LAKE_DATA_PREFIX / "dt=2016-04-14" / "c.json").rename(lake / LAKE_DATA_PREFIX / "date=2016-04-14/c.json")
    result = crawl(lake)
    assert result.drift.missing == []  # mets is still in the other files
    assert result.drift.extra == ["spo2"]
    assert ("steps", "int", "string") in result.drift.type_changes
    assert result.drift.bad_partitions == ["date=2016-04-14"]
    assert [p.value for p in result.partitions] == ["2016-04-12", "2016-04-13"]
    assert {c.name: c.glue_type for c in result.columns}["id"] == "bigint"


def test_a_column_missing_everywhere_and_an_int_that_outgrew_its_type(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    rows = [{k: v for k, v in r.items() if k != "heartrate"} | {"steps": 2**33} for r in _minutes("2016-04-12")]
    _write(lake, "2016-04-12", "a.json", rows)
    drift = crawl(lake).drift
    assert drift.missing == ["heartrate"]
    assert drift.type_changes == [("steps", "int", "bigint")]
    assert any("missing column 'heartrate'" in line for line in drift.lines())


def test_all_null_heart_rate_is_not_drift(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, "2016-04-12", "a.json.gz", _minutes("2016-04-12", heartrate=None))
    assert not crawl(lake).drift


def test_empty_lake_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="fitpipe consume"):
        crawl(tmp_path)
    (tmp_path / LAKE_DATA_PREFIX / "dt=2016-04-12").mkdir(parents=True)
    with pytest.raises(UserError, match="no data files") as raised:
        crawl(tmp_path)
    assert f"{LAKE_DATA_PREFIX}dt=*/" in str(raised.value)


def test_cli_reports_drift_as_json_and_can_fail_on_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, "2016-04-12", "a.json", [r | {"spo2": 1.0} for r in _minutes("2016-04-12")])
    command = [sys.executable, "-m", "fitpipe", "crawl", "--lake", str(lake), "--catalog", str(tmp_path / "c.duckdb")]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["drift"]["extra"] == ["spo2"]
    assert (tmp_path / "c.duckdb").exists()
    failing = subprocess.run([*command, "--fail-on-drift"], capture_output=True, text=True, check=False)
    assert failing.returncode == 1
    assert "extra column 'spo2'" in failing.stderr


def test_cli_on_a_missing_lake_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fitpipe", "crawl", "--lake", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("fitpipe crawl: error: no table folder") and done.stderr.count("\n") == 1
