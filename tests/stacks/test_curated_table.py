"""The curated Iceberg table in the data stack, Glue's optimizers for it, and the compactor on the streaming host:
its timer, its settings and its least-privilege rights."""

from __future__ import annotations

import json

import yaml

from core import names, schema
from stacks.config import PipelineConfig
from tests.conftest import REPO_ROOT
from tests.stacks.test_data_stack import lake_bucket, lake_key_arn
from tests.stacks.test_host_files import stack_settings
from tests.stacks.test_streaming_stack import STREAMING, as_list, host_role_id

DATA = "FitnessPipelineData"
HOST_DIR = REPO_ROOT / "stacks" / "host"


def _curated(synthesis) -> dict:
    tables = [
        t["Properties"]
        for t in synthesis.resources(DATA, "AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == names.CURATED_TABLE
    ]
    assert len(tables) == 1
    return tables[0]


def test_the_curated_table_is_iceberg_v2_partitioned_by_day_with_the_records_columns(synthesis):
    table = _curated(synthesis)
    assert table["DatabaseName"] == names.GLUE_DATABASE
    iceberg = table["OpenTableFormatInput"]["IcebergInput"]
    assert iceberg["MetadataOperation"] == "CREATE" and iceberg["Version"] == "2"
    spec = iceberg["IcebergTableInput"]
    fields = spec["Schema"]["Fields"]
    assert [f["Name"] for f in fields] == [*schema.FIELD_NAMES, names.PARTITION_COLUMN]
    assert {f["Name"]: f["Type"] for f in fields} == {f["name"]: f["type"] for f in schema.iceberg_fields()}
    assert spec["PartitionSpec"]["Fields"] == [
        {"Name": "dt", "SourceId": len(schema.FIELDS) + 1, "Transform": "identity", "FieldId": 1000}
    ]
    assert spec["Properties"]["write.parquet.compression-codec"] == "zstd"
    assert spec["Properties"]["write.target-file-size-bytes"] == str(128 * 1024 * 1024)
    assert spec["Location"]["Fn::Join"][1][-1] == f"/{names.LAKE_CURATED_PREFIX.rstrip('/')}"


def test_the_raw_table_stays_as_it_was(synthesis):
    raw = [
        t["Properties"]
        for t in synthesis.resources(DATA, "AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == names.GLUE_TABLE
    ]
    assert len(raw) == 1 and "OpenTableFormatInput" not in raw[0]
    assert raw[0]["TableInput"]["Parameters"]["classification"] == "json"


def test_glue_optimizers_expire_snapshots_and_delete_orphans_but_do_not_compact(synthesis):
    optimizers = synthesis.resources(DATA, "AWS::Glue::TableOptimizer")
    by_type = {o["Properties"]["Type"]: o["Properties"] for o in optimizers.values()}
    assert set(by_type) == {"retention", "orphan_file_deletion"}, "the compactor writes one file a day already"
    days = PipelineConfig().curated_retention_days
    retention = by_type["retention"]["TableOptimizerConfiguration"]["RetentionConfiguration"]["IcebergConfiguration"]
    assert retention["SnapshotRetentionPeriodInDays"] == days and retention["CleanExpiredFiles"] is True
    orphans = by_type["orphan_file_deletion"]["TableOptimizerConfiguration"]["OrphanFileDeletionConfiguration"]
    assert orphans["IcebergConfiguration"]["OrphanFileRetentionPeriodInDays"] == days
    for optimizer in by_type.values():
        assert optimizer["TableName"] == names.CURATED_TABLE


def test_the_optimizers_role_deletes_only_under_the_curated_prefix(synthesis):
    optimizer = next(iter(synthesis.resources(DATA, "AWS::Glue::TableOptimizer").values()))
    role_id = optimizer["Properties"]["TableOptimizerConfiguration"]["RoleArn"]["Fn::GetAtt"][0]
    statements = synthesis.role_statements(DATA, role_id)
    deletes = [s for s in statements if "s3:DeleteObject" in as_list(s["Action"])]
    assert len(deletes) == 1
    assert [r["Fn::Join"][1][-1] for r in as_list(deletes[0]["Resource"])] == [f"/{names.LAKE_CURATED_PREFIX}*"]
    glue = [s for s in statements if any(a.startswith("glue:") for a in as_list(s["Action"]))]
    assert all(a in ("glue:GetTable", "glue:UpdateTable") for s in glue for a in as_list(s["Action"]))


def _optimizer_role_id(synthesis) -> str:
    optimizer = next(iter(synthesis.resources(DATA, "AWS::Glue::TableOptimizer").values()))
    return optimizer["Properties"]["TableOptimizerConfiguration"]["RoleArn"]["Fn::GetAtt"][0]


def test_the_optimizers_role_uses_the_lake_key_only_through_s3_and_trusts_glue_for_this_account_only(synthesis):
    role_id = _optimizer_role_id(synthesis)
    kms = [
        s for s in synthesis.role_statements(DATA, role_id) if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    assert len(kms) == 1
    assert sorted(as_list(kms[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms[0]["Resource"] == lake_key_arn(synthesis)
    assert "s3." in json.dumps(kms[0]["Condition"]["StringEquals"]["kms:ViaService"])
    (trust,) = synthesis.templates[DATA]["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "glue.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_lake_refuses_curated_writes_from_outside_a_vpc_endpoint_but_those_of_the_optimizers(synthesis):
    """The compactor on the host writes through the VPC's S3 gateway endpoint (every route table has it: see the
    streaming stack's tests); Glue's optimizers run outside any VPC, so their role alone is let through."""
    lake_id, _ = lake_bucket(synthesis)
    (policy,) = [
        p
        for p in synthesis.resources(DATA, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": lake_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s.get("Sid") == "CuratedWritesOnlyThroughAVpcEndpointOrByTheOptimizers"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "s3:PutObject", "deletes stay possible, so `cdk destroy` can empty the bucket"
    assert deny["Resource"]["Fn::Join"][1][-1] == f"/{names.LAKE_CURATED_PREFIX}*"
    assert deny["Condition"] == {
        "Null": {"aws:SourceVpce": "true"},
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [_optimizer_role_id(synthesis), "Arn"]}},
    }


def test_the_host_uses_the_lake_key_only_through_s3(synthesis):
    """The curated table's files are under the lake key like the raw zone's: the host's one kms grant covers both."""
    statements = synthesis.role_statements(STREAMING, host_role_id(synthesis))
    kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"])) and "s3." in json.dumps(s)]
    assert len(kms) == 1
    assert sorted(as_list(kms[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "LakeKeyArn" in json.dumps(kms[0]["Resource"])


def test_the_host_may_commit_to_the_curated_table_only(synthesis):
    statements = synthesis.role_statements(STREAMING, host_role_id(synthesis))
    glue = [s for s in statements if any(a.startswith("glue:") for a in as_list(s["Action"]))]
    assert len(glue) == 1
    assert sorted(as_list(glue[0]["Action"])) == ["glue:GetTable", "glue:UpdateTable"]
    tables = [json.dumps(r) for r in as_list(glue[0]["Resource"]) if ":table/" in json.dumps(r)]
    assert len(tables) == 1 and f"table/{names.GLUE_DATABASE}/{names.CURATED_TABLE}" in tables[0]
    lists = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    prefixes = {p for s in lists for p in as_list(s["Condition"]["StringLike"]["s3:prefix"])}
    assert f"{names.LAKE_CURATED_PREFIX}*" in prefixes and f"{names.LAKE_DATA_PREFIX}*" in prefixes


def test_the_host_runs_the_compactor_every_compact_every_minutes(synthesis, synthesize_with):
    assert PipelineConfig().compact_every_minutes == 15
    assert stack_settings(synthesis)["COMPACT_EVERY_MINUTES"] == "15"
    assert stack_settings(synthesize_with(context={"compactEveryMinutes": 5}))["COMPACT_EVERY_MINUTES"] == "5"
    setup = (HOST_DIR / "setup.sh").read_text()
    assert "COMPACT_EVERY_S=$((COMPACT_EVERY_MINUTES * 60))" in setup, "the setting reaches compose in seconds"
    assert "systemctl disable --now fitness-compactor.timer" in setup, "an older host's timer is removed"
    assert not (HOST_DIR / "fitness-compactor.timer").exists()


def test_the_compose_file_keeps_the_compactor_running_with_the_glue_catalog_and_its_interval():
    compose = yaml.safe_load((HOST_DIR / "compose.yaml").read_text())
    compactor = compose["services"]["compactor"]
    assert "profiles" not in compactor, "`up` starts it with the others"
    assert compactor["restart"] == "unless-stopped"
    assert compactor["build"]["dockerfile"] == "services/compactor/Dockerfile"
    env = compactor["environment"]
    assert env["COMPACTOR_CATALOG"] == "glue" and env["COMPACTOR_S3_BUCKET"] == "${LAKE_BUCKET:?}"
    assert env["COMPACTOR_INTERVAL_S"] == "${COMPACT_EVERY_S:?}"
    assert env["COMPACTOR_MAINTENANCE"] == "false", "Glue's optimizers do the upkeep; the host deletes nothing"
