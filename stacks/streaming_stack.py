"""The streaming stack: the VPC and the host that runs Kafka, the producer and the consumer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.constructs.kafka_data import KafkaDataVolume
from stacks.constructs.kafka_host import KafkaHost

#: A literal CIDR, so the security group's rule is a literal too.
VPC_CIDR = "10.42.0.0/16"
FLOW_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class StreamingStack(Stack):
    """The VPC, the host, and Kafka's data volume. A deploy updates the host in place; a replaced host takes the data
    volume over. `cdk destroy` keeps the volume unless `destroyData`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        lake_bucket_name_export: str,
        lake_bucket_arn_export: str,
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
        private = config.nat_gateways > 0
        subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
        if private:
            subnets.append(
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24)
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=subnets,
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=FLOW_LOG_RETENTION)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))

        # One subnet, so the host and its data volume are in the same availability zone, whatever the host.
        subnet = self.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if private else ec2.SubnetType.PUBLIC
        ).subnets[0]
        self.kafka_data = KafkaDataVolume(
            self,
            "KafkaData",
            availability_zone=subnet.availability_zone,
            snapshot_retention_days=config.data_snapshot_retention_days,
            destroy_data=config.destroy_data,
        )
        self.host = KafkaHost(
            self,
            "Host",
            vpc=self.vpc,
            vpc_cidr=VPC_CIDR,
            subnet=subnet,
            public_ip=not private,
            lake=lake,
            data_volume=self.kafka_data.volume,
            source_root=source_root,
            config=config,
        )
        self.kafka_data.grant_attach(self.host.role, self.host.instance)

        CfnOutput(
            self,
            "KafkaBootstrapServers",
            value=self.host.bootstrap_servers,
            description="Kafka's bootstrap address inside the VPC: TLS only (security.protocol=SSL), verified with the "
            "CA certificate in KafkaCaCertificateParameter",
        )
        CfnOutput(
            self,
            "KafkaCaCertificateParameter",
            value=self.host.ca_certificate_parameter,
            description="SSM parameter holding the CA certificate (PEM) that Kafka clients use as ssl.ca.location",
        )
        CfnOutput(
            self,
            "ShellCommand",
            value=Fn.join(
                "", ["aws ssm start-session --region ", self.region, " --target ", self.host.instance.instance_id]
            ),
            description="Opens a shell on the streaming host through Session Manager",
        )
        CfnOutput(
            self,
            "KafkaDataVolumeId",
            value=self.kafka_data.volume.volume_id,
            description="The EBS volume holding Kafka's data and cluster id; it outlives the host (docs/runbook.md)",
        )
        CfnOutput(self, "AthenaWorkgroup", value=workgroup_name, description="The Athena workgroup")
