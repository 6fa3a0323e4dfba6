"""The Glue database and table over the lake, and the crawler that watches the same data."""

from __future__ import annotations

import json

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

#: Partition projection: every day from the first day of the Fitabase export to tomorrow is a partition, so a new
#: day is queryable the minute its first file lands, with no crawler run or `MSCK REPAIR TABLE`.
PROJECTION_RANGE = f"{names.EARLIEST_EVENT_DATE.isoformat()},NOW+1DAYS"
#: The JSON SerDe Athena reads the lake's JSON lines (plain or gzip) with.
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
#: The crawler runs daily at 02:00 UTC.
CRAWLER_SCHEDULE = "cron(0 2 * * ? *)"
#: The crawler never rewrites the declared table: schema changes and deletions are only logged.
SCHEMA_CHANGE_POLICY = {"update_behavior": "LOG", "delete_behavior": "LOG"}
#: Every log group Glue's crawlers write to in this account and region (Glue names each after its configuration).
CRAWLER_LOG_GROUPS_ARN = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws-glue/crawlers*"
CRAWLER_CONFIGURATION = {
    "Version": 1.0,
    "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
    "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
}


class Catalog(Construct):
    """`database` and `table` (`fitness-data-kafka-database.fitness_data_kafka_storage`), and `crawler`."""

    def __init__(self, scope: Construct, construct_id: str, *, lake: s3.IBucket, key: kms.Key) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        data_location = f"s3://{lake.bucket_name}/{names.LAKE_DATA_PREFIX}"

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=names.GLUE_DATABASE,
                description="The fitness data lake: one record per user per minute, landed from Kafka.",
            ),
        )

        partition = names.PARTITION_COLUMN
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=names.GLUE_DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name=names.GLUE_TABLE,
                description="Per-minute activity, sleep and heart rate per user, JSON lines partitioned by day.",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "EXTERNAL": "TRUE",
                    "classification": "json",
                    "projection.enabled": "true",
                    f"projection.{partition}.type": "date",
                    f"projection.{partition}.format": "yyyy-MM-dd",
                    f"projection.{partition}.range": PROJECTION_RANGE,
                    f"projection.{partition}.interval": "1",
                    f"projection.{partition}.interval.unit": "DAYS",
                    "storage.location.template": f"{data_location}{partition}=${{{partition}}}/",
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=partition, type="string", comment="event date, yyyy-MM-dd")
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(**column) for column in schema.glue_columns()],
                    location=data_location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=JSON_SERDE,
                        parameters={"paths": ",".join(schema.FIELD_NAMES)},
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)

        # The crawler's logs are encrypted with the lake's key, which CloudWatch Logs may use only for Glue's crawler
        # log groups in this account and region.
        self.log_key = key
        self.log_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfTheCrawler",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": CRAWLER_LOG_GROUPS_ARN}},
            )
        )

        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=f"{stack.stack_name}-crawler",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=self.log_key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=self.log_key.key_arn
                ),
                s3_encryptions=[glue.CfnSecurityConfiguration.S3EncryptionProperty(s3_encryption_mode="SSE-S3")],
            ),
        )

        self.crawler_role = self._crawler_role(lake)
        self.crawler = glue.CfnCrawler(
            self,
            "Crawler",
            role=self.crawler_role.role_arn,
            description="Checks the lake's files against the declared table daily and adds their partitions.",
            targets=glue.CfnCrawler.TargetsProperty(
                catalog_targets=[
                    glue.CfnCrawler.CatalogTargetProperty(database_name=names.GLUE_DATABASE, tables=[names.GLUE_TABLE])
                ]
            ),
            schedule=glue.CfnCrawler.ScheduleProperty(schedule_expression=CRAWLER_SCHEDULE),
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(**SCHEMA_CHANGE_POLICY),
            configuration=json.dumps(CRAWLER_CONFIGURATION, sort_keys=True),
            crawler_security_configuration=self.security_configuration.name,
        )
        self.crawler.node.add_dependency(self.table)
        self.crawler.node.add_dependency(self.security_configuration)

    def _crawler_role(self, lake: s3.IBucket) -> iam.Role:
        """Read the table's data, update this one table's partitions, write its own encrypted logs. Nothing else."""
        stack = Stack.of(self)
        data_objects_arn = lake.arn_for_objects(f"{names.LAKE_DATA_PREFIX}*")
        role = iam.Role(
            self,
            "CrawlerRole",
            # Glue documents no aws:SourceArn for the roles its crawlers assume: this account only.
            assumed_by=trusted_service(stack, "glue.amazonaws.com", source_arn=None),
            description="The Glue crawler of the fitness data lake: reads the table's data, updates its partitions.",
            inline_policies={
                "crawl-lake-table": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadTheTablesData",
                            actions=["s3:GetObject"],
                            resources=[data_objects_arn],
                        ),
                        list_under(lake, (names.LAKE_DATA_PREFIX,), sid="ListTheTablesPrefix"),
                        iam.PolicyStatement(
                            sid="UpdateTheTablesPartitions",
                            actions=[
                                "glue:GetDatabase",
                                "glue:GetTable",
                                "glue:GetPartition",
                                "glue:GetPartitions",
                                "glue:BatchGetPartition",
                                "glue:CreatePartition",
                                "glue:BatchCreatePartition",
                                "glue:UpdatePartition",
                                "glue:BatchUpdatePartition",
                            ],
                            resources=glue_table_arns(stack, names.GLUE_TABLE),
                        ),
                        iam.PolicyStatement(
                            sid="WriteEncryptedCrawlerLogs",
                            actions=[
                                "logs:CreateLogGroup",
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:AssociateKmsKey",
                            ],
                            resources=[CRAWLER_LOG_GROUPS_ARN, f"{CRAWLER_LOG_GROUPS_ARN}:log-stream:*"],
                        ),
                        iam.PolicyStatement(
                            sid="GetTheSecurityConfiguration",
                            actions=["glue:GetSecurityConfiguration"],
                            resources=["*"],
                        ),
                    ]
                )
            },
        )
        acknowledge_own_inline_policy(role)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptTheCrawlerLogs",
                actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.log_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"logs.{Aws.REGION}.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTheTablesEncryptedData",
                actions=["kms:Decrypt"],
                resources=[self.log_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{rendered(self, lake.bucket_arn)}/{names.LAKE_DATA_PREFIX}*]",
            "The crawler reads every object under the table's prefix, and only there.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws-glue/crawlers*]",
            "Glue names the crawler's log group after the role and security configuration; the wildcard stays "
            "inside Glue's crawler log groups.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws-glue/crawlers*:log-stream:*]",
            "Glue creates one log stream per crawl with a generated name, inside the crawler's log groups only.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "glue:GetSecurityConfiguration supports no resource-level permissions; it only reads encryption settings.",
        )
        return role
