"""The streaming host: one instance running Kafka, the producer and the consumer with docker compose."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from aws_cdk import CfnCreationPolicy, CfnResourceSignal, IgnoreMode, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from services.common import names
from stacks.config import PipelineConfig
from stacks.nag import acknowledge, rendered

#: The host's files: compose file, user-data script, systemd unit and the compose wrapper.
HOST_DIR = Path(__file__).resolve().parent.parent / "host"
KAFKA_PORT = 9092
#: The SSM parameter (String) where the host publishes the CA certificate that Kafka's TLS listener chains to. The
#: host makes the CA at first boot, so the host writes the value; the stack fixes the name and the permission.
KAFKA_CA_PARAMETER = "/fitness-pipeline/kafka/ca-certificate"
#: How long `cdk deploy` waits for the host to report its services healthy before it fails.
HEALTH_TIMEOUT = "PT30M"
ROOT_VOLUME_GB = 30
#: The asset is the repository root minus everything but what the containers and the host need (Docker ignore
#: semantics: exclude all, then re-include).
SOURCE_EXCLUDE = (
    "*",
    "!pyproject.toml",
    "!README.md",
    "!.dockerignore",
    "!services",
    "!stacks",
    "stacks/*",
    "!stacks/host",
    "**/__pycache__",
    "**/*.pyc",
)


def host_script() -> str:
    """The user-data script body (without its shebang, which the generated user-data provides)."""
    lines = (HOST_DIR / "user-data.sh").read_text(encoding="utf-8").splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("#!") else lines)


class KafkaHost(Construct):
    """`instance`, its `role` and `security_group`; `bootstrap_servers` is the TLS address VPC clients use, and
    `ca_certificate_parameter` the SSM parameter that holds the CA certificate they verify it with."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        vpc_cidr: str,
        subnets: ec2.SubnetSelection,
        lake: s3.IBucket,
        source_root: Path,
        config: PipelineConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Streaming host: Kafka from inside the VPC only; no SSH (shell access is Session Manager)",
            # Outbound: packages, container images, the source asset and the lake (S3).
            allow_all_outbound=True,
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(KAFKA_PORT), "Kafka clients inside the VPC, over TLS"
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="The streaming host: Session Manager, the source asset, and writes under the lake's prefixes",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "Session Manager is the only shell access to the host; this AWS-maintained policy is exactly what its "
            "agent needs.",
        )
        self._grant_lake_access(lake)
        self.ca_certificate_parameter = KAFKA_CA_PARAMETER
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishKafkasCaCertificate",
                actions=["ssm:PutParameter"],
                resources=[
                    stack.format_arn(service="ssm", resource="parameter", resource_name=KAFKA_CA_PARAMETER.lstrip("/"))
                ],
            )
        )

        source = s3_assets.Asset(
            self,
            "Source",
            path=str(source_root),
            exclude=list(SOURCE_EXCLUDE),
            ignore_mode=IgnoreMode.DOCKER,
        )
        source.grant_read(self.role)
        for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*"):
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "Read-only access to the CDK asset bucket, from Asset.grant_read, to fetch the services' source.",
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            "<AWS::Region>/*]",
            "The CDK asset bucket's objects, read-only: the source asset's key is known only at deploy time.",
        )

        instance_type = ec2.InstanceType(config.instance_type)
        arch = instance_type.architecture
        cpu = (
            ec2.AmazonLinuxCpuType.ARM_64 if arch == ec2.InstanceArchitecture.ARM_64 else ec2.AmazonLinuxCpuType.X86_64
        )
        self.user_data = ec2.UserData.for_linux()
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            instance_type=instance_type,
            # Amazon Linux 2023, resolved from its public SSM parameter at deploy time.
            machine_image=ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu),
            security_group=self.security_group,
            role=self.role,
            user_data=self.user_data,
            # Replacement on change is driven by the logical id below, which the user-data must know.
            user_data_causes_replacement=False,
            detailed_monitoring=True,
            associate_public_ip_address=subnets.subnet_type == ec2.SubnetType.PUBLIC,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GB, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        cfn_instance = self.instance.node.default_child
        assert isinstance(cfn_instance, ec2.CfnInstance)
        # IMDSv2 only. Hop limit 2 so the containers (one network hop further) can reach the instance role.
        cfn_instance.metadata_options = ec2.CfnInstance.MetadataOptionsProperty(
            http_tokens="required", http_put_response_hop_limit=2, http_endpoint="enabled"
        )
        cfn_instance.cfn_options.creation_policy = CfnCreationPolicy(
            resource_signal=CfnResourceSignal(count=1, timeout=HEALTH_TIMEOUT)
        )
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "The host is disposable: it keeps no data that is not in the lake or Kafka's short retention, and "
            "termination protection would stop `cdk destroy` from removing it.",
        )

        pipeline_settings = {
            "TOPIC": names.TOPIC,
            "DEAD_LETTER_TOPIC": names.DEAD_LETTER_TOPIC,
            "CONSUMER_GROUP": names.CONSUMER_GROUP,
            "SIMULATED_USERS": str(config.simulated_users),
            "FLUSH_INTERVAL_S": str(config.flush_interval_seconds),
            "TOPIC_PARTITIONS": str(config.topic_partitions),
            "TOPIC_RETENTION_HOURS": str(config.topic_retention_hours),
            "KAFKA_CA_PARAMETER": KAFKA_CA_PARAMETER,
        }
        # The user-data runs at first boot only, so a new source, script or setting must replace the instance.
        # The logical id carries a digest of all three; the user-data passes that same id to cfn-signal.
        script = host_script()
        digest = hashlib.sha256(
            json.dumps(
                {"script": script, "source": source.asset_hash, "settings": pipeline_settings}, sort_keys=True
            ).encode()
        ).hexdigest()
        signal_resource = f"HostInstance{digest}"
        cfn_instance.override_logical_id(signal_resource)
        settings = {
            "STACK_NAME": stack.stack_name,
            "SIGNAL_RESOURCE": signal_resource,
            "AWS_REGION": stack.region,
            "SOURCE_URL": source.s3_object_url,
            "LAKE_BUCKET": lake.bucket_name,
            **pipeline_settings,
        }
        self.user_data.add_commands(*(f'export {key}="{value}"' for key, value in settings.items()), script)

        self.bootstrap_servers = f"{self.instance.instance_private_dns_name}:{KAFKA_PORT}"

    def _grant_lake_access(self, lake: s3.IBucket) -> None:
        """Write (and read back) only under the table's data prefix and the quarantine; list only those; no delete."""
        prefixes = (names.LAKE_DATA_PREFIX, names.LAKE_QUARANTINE_PREFIX)
        objects = [lake.arn_for_objects(f"{prefix}*") for prefix in prefixes]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTheLakesPrefixes",
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=objects,
            )
        )
        for prefix in prefixes:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{rendered(self, lake.bucket_arn)}/{prefix}*]",
                "The consumer writes files with generated names under this one prefix of the lake, and nowhere else.",
            )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListTheLakesPrefixes",
                actions=["s3:ListBucket"],
                resources=[lake.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
            )
        )
