"""The AWS path end to end against the moto server: raw objects in S3, the curated table in the Glue Data Catalog
and S3, written by `python -m services.compactor` with COMPACTOR_CATALOG=glue."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from core.names import CURATED_TABLE, GLUE_DATABASE, LAKE_CURATED_PREFIX
from fitpipe.sample_lake import START, land
from services.compactor.compactor import DAY, FOLDED
from services.compactor.settings import CompactorSettings
from services.compactor.table import IDENTIFIER, open_catalog
from services.producer.simulator import simulate
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def _upload(lake: Path, bucket: str, endpoint: str) -> int:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    files = [p for p in lake.rglob("*") if p.is_file()]
    for path in files:
        s3.put_object(Bucket=bucket, Key=path.relative_to(lake).as_posix(), Body=path.read_bytes())
    return len(files)


def _run_compactor(bucket: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPACTOR_")}
    env |= {
        "COMPACTOR_CATALOG": "glue",
        "COMPACTOR_S3_BUCKET": bucket,
        "COMPACTOR_S3_ENDPOINT_URL": endpoint,
        "COMPACTOR_GLUE_ENDPOINT_URL": endpoint,
        "COMPACTOR_REGION": "us-east-1",
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [sys.executable, "-m", "services.compactor"]
    return subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_the_compactor_writes_the_curated_table_through_glue_and_s3(tmp_path: Path, moto_endpoint: str) -> None:
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    records = list(simulate(3, START, 2, seed=4))
    first = [r for r in records if r["time"] < "12:00:00"]
    offsets = land(tmp_path / "lake", first, records_per_file=11)
    _upload(tmp_path / "lake", bucket, moto_endpoint)

    done = _run_compactor(bucket, moto_endpoint)
    assert done.returncode == 0, done.stderr[-3000:]

    settings = CompactorSettings(
        catalog="glue",
        s3_bucket=bucket,
        s3_endpoint_url=moto_endpoint,
        glue_endpoint_url=moto_endpoint,
        region="us-east-1",
    )
    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    declared = glue.get_table(DatabaseName=GLUE_DATABASE, Name=CURATED_TABLE)["Table"]
    assert declared["Parameters"]["table_type"].upper() == "ICEBERG"
    assert declared["Parameters"]["metadata_location"].startswith(f"s3://{bucket}/{LAKE_CURATED_PREFIX}metadata/")
    table = open_catalog(settings).load_table(IDENTIFIER)
    rows = table.scan().to_arrow()
    assert Counter(rows.column("dt").to_pylist()) == Counter(r["date"] for r in first)
    assert {s.summary[DAY] for s in table.metadata.snapshots} == {START.isoformat(), "2016-04-13"}

    again = _run_compactor(bucket, moto_endpoint)  # nothing new: nothing committed
    assert again.returncode == 0, again.stderr[-3000:]
    assert open_catalog(settings).load_table(IDENTIFIER).metadata_location == table.metadata_location

    late = tmp_path / "late"
    land(late, [r for r in records if r["time"] >= "12:00:00"], records_per_file=11, first_offsets=offsets)
    _upload(late, bucket, moto_endpoint)
    third = _run_compactor(bucket, moto_endpoint)
    assert third.returncode == 0, third.stderr[-3000:]
    table = open_catalog(settings).load_table(IDENTIFIER)
    assert table.scan().to_arrow().num_rows == len(records)
    assert FOLDED in table.current_snapshot().summary.additional_properties
    data_keys = [
        o["Key"]
        for o in boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(
            Bucket=bucket, Prefix=f"{LAKE_CURATED_PREFIX}data/"
        )["Contents"]
    ]
    assert all(k.endswith(".parquet") for k in data_keys)
