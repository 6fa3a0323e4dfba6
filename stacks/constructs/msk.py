"""Amazon MSK for the pipeline: a serverless or a provisioned cluster that admits only IAM sign-ins over TLS, its
topics, and the bootstrap address the services connect to.

Topics: on a provisioned cluster they are CloudFormation resources (`AWS::MSK::Topic`, MSK's own topic API), with
replication factor 3 and `min.insync.replicas` 2, so an acknowledged write survives the loss of a broker and a
deploy shows their settings. MSK Serverless has no topic API; there the consumer's task creates both topics at its
start with Kafka's admin protocol (`python -m services.common.kafka_admin`, as on the EC2 host), and MSK fixes
their replication (3) itself.
"""

from __future__ import annotations

import base64

from aws_cdk import ArnFormat, Fn, Names, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct

from core import names
from stacks.config import PipelineConfig
from stacks.nag import acknowledge, acknowledge_compliance, skip_checkov

#: MSK's port for IAM sign-ins over TLS.
IAM_PORT = 9098
BROKERS = 3
#: Storage of each standard (not Express) broker; Express brokers have no volumes to size.
BROKER_VOLUME_GB = 100
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


def topic_configs(retention_hours: int, *, min_insync_replicas: int | None) -> str:
    """A topic's configuration as `AWS::MSK::Topic` takes it: properties, Base64-encoded."""
    lines = [f"retention.ms={retention_hours * 3600 * 1000}"]
    if min_insync_replicas is not None:
        lines.append(f"min.insync.replicas={min_insync_replicas}")
    return base64.b64encode("\n".join(lines).encode()).decode()


class MskCluster(Construct):
    """`cluster_arn`, `security_group` (clients reach `IAM_PORT` through it), `bootstrap_servers` (the IAM
    address), `creates_topics_with_admin` (True on MSK Serverless: the consumer's task creates the topics), and the
    ARNs IAM policies name: `topic_arn(name)`, `group_arn(name)`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        vpc: ec2.IVpc,
        subnets: list[ec2.ISubnet],
        key: kms.IKey,
        log_group: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Amazon MSK brokers: IAM sign-ins over TLS from the pipeline tasks only",
            allow_all_outbound=False,
        )
        subnet_ids = [subnet.subnet_id for subnet in subnets]
        iam_only = msk.CfnCluster.ClientAuthenticationProperty(
            sasl=msk.CfnCluster.SaslProperty(iam=msk.CfnCluster.IamProperty(enabled=True)),
            unauthenticated=msk.CfnCluster.UnauthenticatedProperty(enabled=False),
        )
        self.serverless = config.kafka == "msk-serverless"
        #: The declared topics (provisioned only): the services start after them, or the producer would make its
        #: topic first, with the broker's defaults, and the declaration would then fail on an existing topic.
        self.topics: list[msk.CfnTopic] = []
        name = Names.unique_resource_name(self, max_length=64, separator="-")
        if self.serverless:
            serverless = msk.CfnServerlessCluster(
                self,
                "Cluster",
                cluster_name=name,
                client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                    sasl=msk.CfnServerlessCluster.SaslProperty(iam=msk.CfnServerlessCluster.IamProperty(enabled=True))
                ),
                vpc_configs=[
                    msk.CfnServerlessCluster.VpcConfigProperty(
                        subnet_ids=subnet_ids, security_groups=[self.security_group.security_group_id]
                    )
                ],
            )
            self.cluster_arn = serverless.attr_arn
            self.cluster: msk.CfnServerlessCluster | msk.CfnCluster = serverless
        else:
            express = config.msk_broker_type.startswith("express.")
            provisioned = msk.CfnCluster(
                self,
                "Cluster",
                cluster_name=name,
                kafka_version=config.msk_kafka_version,
                number_of_broker_nodes=BROKERS,
                broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                    client_subnets=subnet_ids,
                    instance_type=config.msk_broker_type,
                    security_groups=[self.security_group.security_group_id],
                    storage_info=None
                    if express
                    else msk.CfnCluster.StorageInfoProperty(
                        ebs_storage_info=msk.CfnCluster.EBSStorageInfoProperty(volume_size=BROKER_VOLUME_GB)
                    ),
                ),
                client_authentication=iam_only,
                encryption_info=msk.CfnCluster.EncryptionInfoProperty(
                    encryption_at_rest=msk.CfnCluster.EncryptionAtRestProperty(data_volume_kms_key_id=key.key_arn),
                    encryption_in_transit=msk.CfnCluster.EncryptionInTransitProperty(
                        client_broker="TLS", in_cluster=True
                    ),
                ),
                logging_info=msk.CfnCluster.LoggingInfoProperty(
                    broker_logs=msk.CfnCluster.BrokerLogsProperty(
                        cloud_watch_logs=msk.CfnCluster.CloudWatchLogsProperty(
                            enabled=True, log_group=log_group.log_group_name
                        )
                    )
                ),
            )
            self.cluster_arn = provisioned.attr_arn
            self.cluster = provisioned
            for topic_id, topic in (("DataTopic", names.TOPIC), ("DeadLetterTopic", names.DEAD_LETTER_TOPIC)):
                cfn_topic = msk.CfnTopic(
                    self,
                    topic_id,
                    cluster_arn=self.cluster_arn,
                    topic_name=topic,
                    partition_count=config.topic_partitions,
                    replication_factor=REPLICATION_FACTOR,
                    configs=topic_configs(config.topic_retention_hours, min_insync_replicas=MIN_INSYNC_REPLICAS),
                )
                self.topics.append(cfn_topic)
        self.creates_topics_with_admin = self.serverless

        # CloudFormation returns no bootstrap address for either kind of cluster: ask MSK once it exists.
        lookup = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_update=cr.AwsSdkCall(
                service="Kafka",
                action="getBootstrapBrokers",
                parameters={"ClusterArn": self.cluster_arn},
                physical_resource_id=cr.PhysicalResourceId.of(self.cluster_arn),
                output_paths=["BootstrapBrokerStringSaslIam"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["kafka:GetBootstrapBrokers"], resources=[self.cluster_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        self.bootstrap_servers = lookup.get_response_field("BootstrapBrokerStringSaslIam")
        acknowledge_compliance(
            lookup,
            "IAMNoInlinePolicy",
            "CDK writes this one statement (GetBootstrapBrokers on this cluster) for the lookup's handler alone.",
        )
        self._explain_the_lookup_handler()

    def _arn_parts(self) -> tuple[str, str]:
        """The cluster's name and UUID, from its ARN `arn:...:cluster/<name>/<uuid>`."""
        parts = Fn.split("/", self.cluster_arn, 3)
        return Fn.select(1, parts), Fn.select(2, parts)

    def _kafka_arn(self, resource: str, name: str) -> str:
        cluster_name, cluster_uuid = self._arn_parts()
        return Stack.of(self).format_arn(
            service="kafka",
            resource=resource,
            resource_name=f"{cluster_name}/{cluster_uuid}/{name}",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

    def topic_arn(self, topic: str) -> str:
        return self._kafka_arn("topic", topic)

    def group_arn(self, group: str) -> str:
        return self._kafka_arn("group", group)

    def grant_connect(self, role: iam.IRole, *, sid: str) -> None:
        """Sign in to the cluster and read its description; nothing on any topic or group."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=sid,
                actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
                resources=[self.cluster_arn],
            )
        )

    def allow_from(self, peer: ec2.ISecurityGroup) -> None:
        self.security_group.add_ingress_rule(
            peer, ec2.Port.tcp(IAM_PORT), "Kafka with IAM sign-in over TLS from the pipeline's tasks"
        )

    def _explain_the_lookup_handler(self) -> None:
        """CDK's AwsCustomResource runs one Lambda function (shared by the stack) that calls MSK's
        GetBootstrapBrokers when the cluster is created or replaced."""
        provider = Stack.of(self).node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
        if provider is None:
            return
        once = (
            "CDK's AwsCustomResource handler runs only when CloudFormation creates or updates the lookup, to read "
            "the cluster's bootstrap address from MSK's public API; "
        )
        acknowledge_compliance(provider, "LambdaConcurrency", once + "no other invocation competes with it.")
        acknowledge_compliance(
            provider, "LambdaDLQ", once + "CloudFormation invokes it synchronously and fails the deploy on an error."
        )
        acknowledge_compliance(
            provider, "LambdaInsideVPC", once + "it needs no network path into the VPC, only MSK's regional API."
        )
        handler = provider.node.default_child
        # The handler both names its role and depends on it: cfn-lint's W3005, a redundant DependsOn, harmless.
        handler.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        for check, reason in {
            "CKV_AWS_115": once + "no other invocation competes with it for concurrency.",
            "CKV_AWS_116": once + "CloudFormation invokes it synchronously; there is no event for a queue to keep.",
            "CKV_AWS_117": once + "it needs no network path into the VPC, only MSK's regional API.",
            "CKV_AWS_173": once + "its environment holds no secret, only CDK's own flags.",
        }.items():
            skip_checkov(handler, check, reason)
        role = provider.node.try_find_child("ServiceRole")
        if role is not None:
            acknowledge(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's handler writes its own logs with AWS's basic execution policy; it has no other right but the "
                "one GetBootstrapBrokers call on this cluster.",
            )
            acknowledge_compliance(
                role, "IAMNoInlinePolicy", "CDK's handler role and its one statement are made for this lookup alone."
            )
