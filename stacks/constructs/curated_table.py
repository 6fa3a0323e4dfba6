"""The curated Apache Iceberg table in the lake's Glue database, and Glue's table optimizers that keep it trim.

The table is declared here, so it exists from the first deploy and goes with `cdk destroy`; only the compactor on
the streaming host writes it. Its columns come from the record schema (`core/schema.py`), partitioned
by the event day `dt`. Glue's managed optimizers expire old snapshots and delete orphan files; compaction is not
one of them, because the compactor already writes one data file per day.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import names, schema
from stacks.constructs.lake_access import glue_table_arns, list_under
from stacks.defaults import trusted_service
from stacks.nag import acknowledge, acknowledge_own_inline_policy, rendered

#: The log groups Glue's Iceberg optimizers write to.
OPTIMIZER_LOG_GROUPS = ("iceberg-retention", "iceberg-orphan-file-deletion")


class CuratedTable(Construct):
    """`table` (`fitness-data-kafka-database.fitness_data_curated`), `arn`, and the `optimizers` with their role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: s3.IBucket,
        database: glue.CfnDatabase,
        retention_days: int,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.location = f"s3://{lake.bucket_name}/{names.LAKE_CURATED_PREFIX.rstrip('/')}"
        day = next(f for f in schema.iceberg_fields() if f["name"] == names.PARTITION_COLUMN)
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=names.GLUE_DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name=names.CURATED_TABLE,
                description="Per-minute activity, sleep and heart rate per user: the raw table compacted into "
                "Apache Iceberg, one row per (id, date, time), one Parquet file per day.",
                table_type="EXTERNAL_TABLE",
            ),
            open_table_format_input=glue.CfnTable.OpenTableFormatInputProperty(
                iceberg_input=glue.CfnTable.IcebergInputProperty(
                    metadata_operation="CREATE",
                    version="2",
                    iceberg_table_input=glue.CfnTable.IcebergTableInputProperty(
                        location=self.location,
                        schema=glue.CfnTable.IcebergSchemaProperty(
                            type="struct",
                            schema_id=0,
                            fields=[glue.CfnTable.IcebergStructFieldProperty(**f) for f in schema.iceberg_fields()],
                        ),
                        partition_spec=glue.CfnTable.IcebergPartitionSpecProperty(
                            spec_id=0,
                            fields=[
                                glue.CfnTable.IcebergPartitionFieldProperty(
                                    name=names.PARTITION_COLUMN,
                                    source_id=day["id"],
                                    transform="identity",
                                    field_id=names.CURATED_PARTITION_FIELD_ID,
                                )
                            ],
                        ),
                        properties=dict(names.CURATED_TABLE_PROPERTIES),
                    ),
                )
            ),
        )
        self.table.node.add_dependency(database)
        self.arn = glue_table_arns(stack, names.CURATED_TABLE)[-1]

        self.optimizer_role = self._optimizer_role(lake, key)
        self._writes_only_through_a_vpc_endpoint_or_by_glue(lake)
        self.optimizers = [
            glue.CfnTableOptimizer(
                self,
                "SnapshotRetention",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=names.GLUE_DATABASE,
                table_name=names.CURATED_TABLE,
                type="retention",
                table_optimizer_configuration=glue.CfnTableOptimizer.TableOptimizerConfigurationProperty(
                    enabled=True,
                    role_arn=self.optimizer_role.role_arn,
                    retention_configuration=glue.CfnTableOptimizer.RetentionConfigurationProperty(
                        iceberg_configuration=glue.CfnTableOptimizer.IcebergRetentionConfigurationProperty(
                            snapshot_retention_period_in_days=retention_days,
                            number_of_snapshots_to_retain=1,
                            clean_expired_files=True,
                        )
                    ),
                ),
            ),
            glue.CfnTableOptimizer(
                self,
                "OrphanFileDeletion",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=names.GLUE_DATABASE,
                table_name=names.CURATED_TABLE,
                type="orphan_file_deletion",
                table_optimizer_configuration=glue.CfnTableOptimizer.TableOptimizerConfigurationProperty(
                    enabled=True,
                    role_arn=self.optimizer_role.role_arn,
                    orphan_file_deletion_configuration=glue.CfnTableOptimizer.OrphanFileDeletionConfigurationProperty(
                        iceberg_configuration=glue.CfnTableOptimizer.IcebergConfigurationProperty(
                            location=self.location, orphan_file_retention_period_in_days=retention_days
                        )
                    ),
                ),
            ),
        ]
        for optimizer in self.optimizers:  # the role comes first by its ARN; the table by name only
            optimizer.node.add_dependency(self.table)

    def _writes_only_through_a_vpc_endpoint_or_by_glue(self, lake: s3.IBucket) -> None:
        """Like the raw zone's data, the curated table's files are written only from inside a VPC (the compactor on
        the host, through the S3 gateway endpoint), or by Glue's optimizers with their own role, which run outside
        any VPC. Deletes are not concerned, so `cdk destroy` can still empty the bucket."""
        lake.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CuratedWritesOnlyThroughAVpcEndpointOrByTheOptimizers",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[lake.arn_for_objects(f"{names.LAKE_CURATED_PREFIX}*")],
                conditions={
                    "Null": {"aws:SourceVpce": "true"},
                    "ArnNotEquals": {"aws:PrincipalArn": self.optimizer_role.role_arn},
                },
            )
        )

    def _optimizer_role(self, lake: s3.IBucket, key: kms.IKey) -> iam.Role:
        """What Glue's retention and orphan-file optimizers need on this one table: read and update its metadata,
        read, write and delete under its prefix (expired and orphan files), and write their own logs. The files are
        encrypted with the lake's key, which the role may use only through S3."""
        stack = Stack.of(self)
        prefix = names.LAKE_CURATED_PREFIX
        log_groups = [
            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws-glue/{group}/logs:*"
            for group in OPTIMIZER_LOG_GROUPS
        ]
        role = iam.Role(
            self,
            "OptimizerRole",
            # Glue documents no aws:SourceArn for the roles its optimizers assume: this account only.
            assumed_by=trusted_service(stack, "glue.amazonaws.com", source_arn=None),
            description="Glue's table optimizers of the curated Iceberg table: snapshot retention, orphan files.",
            inline_policies={
                "maintain-curated-table": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="EncryptTheTablesFiles",
                            # GenerateDataKey to write a metadata file; Decrypt to read the table's files.
                            actions=["kms:GenerateDataKey", "kms:Decrypt"],
                            resources=[key.key_arn],
                            conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
                        ),
                        iam.PolicyStatement(
                            sid="MaintainTheTablesFiles",
                            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                            resources=[lake.arn_for_objects(f"{prefix}*")],
                        ),
                        list_under(lake, (prefix,), sid="ListTheTablesPrefix"),
                        iam.PolicyStatement(
                            sid="UpdateTheTable",
                            actions=["glue:GetTable", "glue:UpdateTable"],
                            resources=glue_table_arns(stack, names.CURATED_TABLE),
                        ),
                        iam.PolicyStatement(
                            sid="WriteTheOptimizersLogs",
                            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=log_groups,
                        ),
                    ]
                )
            },
        )
        acknowledge_own_inline_policy(role)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{rendered(self, lake.bucket_arn)}/{prefix}*]",
            "The optimizers delete expired and orphan files under the curated table's prefix, and nowhere else.",
        )
        for group in OPTIMIZER_LOG_GROUPS:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
                f"/aws-glue/{group}/logs:*]",
                "Glue names the optimizer's log streams per run, inside this optimizer's own log group.",
            )
        return role
