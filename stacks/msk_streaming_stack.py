"""The streaming stack on Amazon MSK (`kafka=msk-serverless` or `msk-provisioned`): a VPC over three availability
zones, the cluster with IAM sign-in, and the producer, the consumer and the compactor on ECS Fargate in private
subnets.

The private subnets reach AWS's APIs through one NAT gateway, not interface endpoints: the tasks need ECR (API and
images), CloudWatch Logs, Glue (the compactor) and the CloudWatch agent's image on the public ECR gallery, which no
VPC endpoint serves. One NAT gateway costs about $33 a month plus $0.045 a GB; four interface endpoints in three
zones cost about $88 a month (us-east-1, December 2026). S3, the bulk of the traffic, goes through the free gateway
endpoint either way, and the lake refuses data writes that do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.constructs.fargate_services import FargateServices
from stacks.constructs.msk import MskCluster
from stacks.constructs.network import streaming_vpc
from stacks.constructs.observability import _RETENTION_NAMES
from stacks.data_stack import LakeExports
from stacks.defaults import logs_key, removal_policy

#: Three brokers, one per zone; the tasks spread over the same zones.
AVAILABILITY_ZONES = 3


class MskStreamingStack(Stack):
    """The VPC, `kafka` (the MSK cluster and its topics) and `services` (the Fargate tasks)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        lake: LakeExports,
        workgroup_name: str,
        source_root: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The streaming key: the brokers' volumes (provisioned), and every log group of this stack.
        self.key = logs_key(
            self,
            "Encrypts the fitness pipeline's Kafka on Amazon MSK and the logs of its services.",
            destroy_data=config.destroy_data,
        )
        self.vpc = streaming_vpc(
            self,
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=max(1, config.nat_gateways),
            subnets=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            key=self.key,
            public_subnets="The public subnets hold only the NAT gateway, the private subnets' way to AWS's APIs; no "
            "task, no broker and no instance runs in them, and no rule admits the internet.",
        )
        retention = getattr(logs.RetentionDays, _RETENTION_NAMES[config.log_retention_days])

        private = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets
        broker_logs = logs.LogGroup(
            self,
            "BrokerLogs",
            retention=retention,
            encryption_key=self.key,
            removal_policy=removal_policy(destroy_data=config.destroy_data),
        )
        self.kafka = MskCluster(
            self, "Kafka", config=config, vpc=self.vpc, subnets=private, key=self.key, log_group=broker_logs
        )
        self.services = FargateServices(
            self,
            "Services",
            config=config,
            vpc=self.vpc,
            subnets=private,
            kafka=self.kafka,
            lake=lake.bucket(self),
            lake_key_arn=lake.key(),
            key=self.key,
            source_root=source_root,
        )

        CfnOutput(
            self,
            "KafkaBootstrapServers",
            value=self.kafka.bootstrap_servers,
            description="Amazon MSK's bootstrap address for IAM sign-in: security.protocol=SASL_SSL with "
            "*_SASL_MECHANISM=AWS_MSK_IAM",
        )
        CfnOutput(self, "KafkaClusterArn", value=self.kafka.cluster_arn, description="The Amazon MSK cluster")
        CfnOutput(self, "ServicesCluster", value=self.services.cluster.cluster_name, description="The ECS cluster")
        CfnOutput(self, "AthenaWorkgroup", value=workgroup_name, description="The Athena workgroup")

    @property
    def availability_zones(self) -> list[str]:
        """Three zones even without an account and region: the cluster's three brokers need them, and synth needs
        no look-up (CloudFormation picks the region's first three)."""
        return [Fn.select(index, Fn.get_azs()) for index in range(AVAILABILITY_ZONES)]
