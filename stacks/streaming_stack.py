"""The streaming stack: the VPC and the host that runs Kafka, the producer and the consumer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from core import kafka_access
from stacks.config import PipelineConfig
from stacks.constructs.kafka_data import KafkaDataVolume
from stacks.constructs.kafka_host import KafkaHost
from stacks.constructs.network import VPC_CIDR, streaming_vpc
from stacks.constructs.observability import Observability
from stacks.data_stack import LakeExports
from stacks.defaults import logs_key
from stacks.nag import acknowledge, rendered

SESSION_LOG_RETENTION = logs.RetentionDays.ONE_YEAR


class StreamingStack(Stack):
    """The VPC, the host, and Kafka's data volume. A deploy updates the host in place; a replaced host takes the data
    volume over. `cdk destroy` keeps the volume unless `destroyData`."""

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

        private = config.nat_gateways > 0
        subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
        if private:
            subnets.append(
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24)
            )
        # The streaming key: the host's volumes and their snapshots (Kafka's records in flight, its offsets and dead
        # letters), the Kafka users' secrets, and the VPC's and the host's logs. CloudWatch Logs may use it only for
        # this account's log groups in this region.
        self.key = logs_key(
            self,
            "Encrypts the fitness pipeline's streaming host: its volumes, Kafka's user secrets, its logs.",
            destroy_data=config.destroy_data,
        )
        self.vpc = streaming_vpc(
            self,
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnets=subnets,
            key=self.key,
            public_subnets="The public subnet is the cheap default (natGateways=0): the host reaches package and image "
            "registries through the internet gateway; no inbound rule admits the internet, only Kafka's port from the "
            "VPC's CIDR. With NAT gateways, it holds only them and the host moves to a private subnet.",
        )

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
            key=self.key,
        )
        # The log groups and the agent's configuration exist before the host, whose settings name them.
        self.observability = Observability(self, "Observability", config=config, key=self.key)
        self.host = KafkaHost(
            self,
            "Host",
            vpc=self.vpc,
            vpc_cidr=VPC_CIDR,
            subnet=subnet,
            public_ip=not private,
            lake=lake.bucket(self),
            data_volume=self.kafka_data.volume,
            lake_key_arn=lake.key(),
            source_root=source_root,
            config=config,
            key=self.key,
            host_settings=self.observability.host_settings(),
        )

        # Session Manager sessions on the host are logged, encrypted, to a log group of their own: the shell output
        # command opens sessions with this document (the host's SSM agent writes the log with the instance role).
        session_logs = logs.LogGroup(self, "SessionLogs", retention=SESSION_LOG_RETENTION, encryption_key=self.key)
        self.session_document = ssm.CfnDocument(
            self,
            "SessionPreferences",
            document_type="Session",
            document_format="JSON",
            content={
                "schemaVersion": "1.0",
                "description": "Shell on the fitness pipeline's streaming host, logged to an encrypted log group",
                "sessionType": "Standard_Stream",
                "inputs": {
                    "cloudWatchLogGroupName": session_logs.log_group_name,
                    "cloudWatchEncryptionEnabled": True,
                    "cloudWatchStreamingEnabled": True,
                    "runAsEnabled": False,
                    "idleSessionTimeout": "20",
                },
            },
        )
        self.host.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTheSessionLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[session_logs.log_group_arn, f"{session_logs.log_group_arn}:log-stream:*"],
            )
        )
        self.host.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CheckTheSessionLogGroupIsEncrypted",
                # The SSM agent checks the group's encryption before a session starts; this action has no resource.
                actions=["logs:DescribeLogGroups"],
                resources=["*"],
            )
        )
        acknowledge(
            self.host.role,
            f"AwsSolutions-IAM5[Resource::{rendered(self, session_logs.log_group_arn)}:log-stream:*]",
            "Session Manager names each session's log stream after the session; only in the session log group.",
        )
        acknowledge(
            self.host.role,
            "AwsSolutions-IAM5[Resource::*]",
            "logs:DescribeLogGroups, read-only, takes no resource: the SSM agent calls it to check that the session "
            "log group is encrypted before a session starts. (The role's other actions on * are explained where "
            "they are granted: the data volume's look-up and the CloudWatch agent's.)",
        )
        self.kafka_data.grant_attach(self.host.role, self.host.instance)
        self.observability.watch(self.host.instance, self.host.role)

        CfnOutput(
            self,
            "KafkaBootstrapServers",
            value=self.host.bootstrap_servers,
            description="Kafka's bootstrap address inside the VPC: SASL/SCRAM-SHA-512 over TLS only "
            "(security.protocol=SASL_SSL), verified with the CA certificate in KafkaCaCertificateParameter",
        )
        for user in (kafka_access.PRODUCER_USER, kafka_access.CONSUMER_USER):
            CfnOutput(
                self,
                f"Kafka{user.capitalize()}SecretArn",
                value=self.host.user_secrets[user].secret_arn,
                description=f"Secrets Manager secret of the Kafka user {user!r} (JSON username and password)",
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
                "",
                [
                    "aws ssm start-session --region ",
                    self.region,
                    " --target ",
                    self.host.instance.instance_id,
                    " --document-name ",
                    self.session_document.ref,
                ],
            ),
            description="Opens a shell on the streaming host through Session Manager",
        )
        CfnOutput(
            self,
            "KafkaDataVolumeId",
            value=self.kafka_data.volume.volume_id,
            description="The EBS volume holding Kafka's data and cluster id; it outlives the host (docs/runbook.md)",
        )
        assert self.observability.dashboard is not None
        CfnOutput(
            self,
            "Dashboard",
            value=Fn.join(
                "",
                [
                    "https://console.aws.amazon.com/cloudwatch/home?region=",
                    self.region,
                    "#dashboards:name=",
                    self.observability.dashboard.dashboard_name,
                ],
            ),
            description="The pipeline's CloudWatch dashboard: throughput, lag, freshness, dead letters, host",
        )
        CfnOutput(
            self,
            "AlarmTopic",
            value=self.observability.topic.topic_arn,
            description="SNS topic the alarms send to; subscribe with -c alarmEmail=... or aws sns subscribe",
        )
        CfnOutput(self, "AthenaWorkgroup", value=workgroup_name, description="The Athena workgroup")
