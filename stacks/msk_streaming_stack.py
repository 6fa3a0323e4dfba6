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
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.constructs.fargate_services import FargateServices
from stacks.constructs.msk import MskCluster
from stacks.constructs.observability import _RETENTION_NAMES
from stacks.defaults import logs_key, removal_policy
from stacks.nag import acknowledge_compliance
from stacks.streaming_stack import FLOW_LOG_RETENTION, VPC_CIDR, explain_the_default_security_group_handler

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
        lake_bucket_name_export: str,
        lake_bucket_arn_export: str,
        lake_key_arn_export: str,
        workgroup_name: str,
        source_root: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        lake = s3.Bucket.from_bucket_attributes(
            self,
            "Lake",
            bucket_name=Fn.import_value(lake_bucket_name_export),
            bucket_arn=Fn.import_value(lake_bucket_arn_export),
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=max(1, config.nat_gateways),
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        for subnet in self.vpc.public_subnets:
            nat_only = (
                "The public subnets hold only the NAT gateway, the private subnets' way to AWS's APIs; no task, no "
                "broker and no instance runs in them, and no rule admits the internet."
            )
            acknowledge_compliance(subnet, "VPCSubnetAutoAssignPublicIpDisabled", nat_only)
            acknowledge_compliance(subnet, "VPCNoUnrestrictedRouteToIGW", nat_only)
        explain_the_default_security_group_handler(self)

        # The streaming key: the brokers' volumes (provisioned), and every log group of this stack.
        self.key = logs_key(
            self,
            "Encrypts the fitness pipeline's Kafka on Amazon MSK and the logs of its services.",
            destroy_data=config.destroy_data,
        )
        retention = getattr(logs.RetentionDays, _RETENTION_NAMES[config.log_retention_days])
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=FLOW_LOG_RETENTION, encryption_key=self.key)
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            description="VPC flow logs: deliver this VPC's flow logs to their log group",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": self.account}}
            ),
        )
        acknowledge_compliance(
            flow_log_role,
            "IAMNoInlinePolicy",
            "The policy is written for this one role and lives and dies with it; a managed policy would only let the "
            "same rights be attached to other principals.",
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_log_role)
        )

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
            lake=lake,
            lake_key_arn=Fn.import_value(lake_key_arn_export),
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
