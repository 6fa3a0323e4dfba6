"""The streaming host: one instance running Kafka, the producer and the consumer with docker compose."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Aws, Duration, IgnoreMode, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from core import kafka_access, names
from stacks.config import KAFKA_STOP_GRACE_SECONDS, PipelineConfig
from stacks.constructs.lake_access import grant_curated_table_commit, grant_lake_key_through_s3, grant_writes_under
from stacks.constructs.network import s3_endpoint_id
from stacks.nag import acknowledge, acknowledge_compliance, acknowledge_own_inline_policy, skip_checkov

#: The host's files: compose file, set-up script, systemd units, the data-volume script and the compose wrapper.
HOST_DIR = Path(__file__).resolve().parent.parent / "host"
KAFKA_PORT = 9092
#: The SSM parameter (String) where the host publishes the CA certificate that Kafka's TLS listener chains to. The
#: host makes the CA at first boot, so the host writes the value; the stack fixes the name and the permission.
KAFKA_CA_PARAMETER = "/fitness-pipeline/kafka/ca-certificate"
#: How long `cdk deploy` waits for a new host to report its services healthy before it fails.
HEALTH_TIMEOUT = Duration.minutes(30)
ROOT_VOLUME_GB = 30
#: The asset is the repository root minus everything but what the containers and the host need (Docker ignore
#: semantics: exclude all, then re-include).
SOURCE_EXCLUDE = (
    "*",
    "!pyproject.toml",
    "!README.md",
    "!.dockerignore",
    "!core",
    "!services",
    "!stacks",
    "stacks/*",
    "!stacks/host",
    "**/__pycache__",
    "**/*.pyc",
)
#: Where cfn-init writes the stack's settings and the set-up script on the host.
STACK_SETTINGS_FILE = "/etc/fitness-pipeline/stack.env"
SETUP_COMMAND = "/usr/local/sbin/fitness-pipeline-setup"
#: cfn-init's config set: the settings and cfn-hup first, then the set-up.
CONFIG_SET = "setup"
#: How often cfn-hup looks for a change of the instance's metadata, in minutes.
CFN_HUP_INTERVAL_MINUTES = 1


def host_file(name: str) -> str:
    """A file of `stacks/host/`, as the host receives it."""
    return (HOST_DIR / name).read_text(encoding="utf-8")


class KafkaHost(Construct):
    """`instance`, its `role` and `security_group`; `bootstrap_servers` is the TLS address VPC clients use, and
    `ca_certificate_parameter` the SSM parameter that holds the CA certificate they verify it with; `user_secrets`
    the Secrets Manager secret of each Kafka user (`{"username": ..., "password": ...}`).

    A deploy updates the host in place. The user-data is fixed: it only runs cfn-init, which applies the instance's
    `AWS::CloudFormation::Init` metadata (the stack's settings, the source asset's address and the set-up script).
    cfn-hup watches that metadata and applies it again when a deploy changes it, so a new source, script or setting
    changes the metadata only, never the user-data or the logical id: CloudFormation modifies the instance without
    interruption and Kafka's data stays where it is. (A new instance type of the same architecture stops and starts
    the instance, in place too.)

    cfn-init with cfn-hup rather than an SSM association: the first boot runs exactly what every later update runs;
    a new host still reports to the instance's CreationPolicy, so a deploy that creates one waits for it to be
    healthy; and nothing is needed beyond the instance and its stack (no SSM document and association to keep in
    step with it). Only a new image (a new Amazon Linux release, or a type of the other architecture) or a new
    `hostGeneration` replaces the instance; Kafka's data then moves with `data_volume` (see
    `stacks/constructs/kafka_data.py` and `docs/runbook.md`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        vpc_cidr: str,
        subnet: ec2.ISubnet,
        public_ip: bool,
        lake: s3.IBucket,
        data_volume: ec2.IVolume,
        lake_key_arn: str,
        source_root: Path,
        config: PipelineConfig,
        key: kms.IKey,
        host_settings: dict[str, str] | None = None,
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
            ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(KAFKA_PORT), "Kafka clients inside the VPC, SASL over TLS"
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="The streaming host: Session Manager, the source asset, and writes under the lake's prefixes",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        acknowledge_own_inline_policy(self.role)
        acknowledge(
            self.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "Session Manager is the only shell access to the host, and its agent needs this AWS-maintained policy's "
            "ssmmessages, ec2messages and ssm:UpdateInstanceInformation. The policy grants more than that on every "
            "resource (*): ssm:GetParameter(s) on all of the account's parameters in the region, and State "
            "Manager's and Patch Manager's document and association calls, which the host does not use.",
        )
        # The consumer writes under the raw table's prefix; the compactor reads it, writes new files under the
        # curated table's prefix (never deletes: Glue's optimizers do that) and commits to that one table in Glue.
        grant_lake_key_through_s3(self.role, lake_key_arn)
        grant_writes_under(
            self.role,
            lake,
            (names.LAKE_DATA_PREFIX,),
            reason="The consumer writes files with generated names under this one prefix of the lake, and nowhere "
            "else.",
            endpoint_id=s3_endpoint_id(vpc),
        )
        grant_writes_under(
            self.role,
            lake,
            (names.LAKE_CURATED_PREFIX,),
            reason="The compactor writes data and metadata files with generated names under the curated table's "
            "prefix only.",
            endpoint_id=s3_endpoint_id(vpc),
            sids=("WriteTheCuratedTablesFiles", "ListTheCuratedTablesPrefix"),
        )
        grant_curated_table_commit(self.role)
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
        # The one object the host fetches, not the whole asset bucket (which Asset.grant_read would give).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheServicesSource",
                actions=["s3:GetObject"],
                resources=[
                    stack.format_arn(
                        service="s3",
                        region="",
                        account="",
                        resource=source.s3_bucket_name,
                        resource_name=source.s3_object_key,
                    )
                ],
            )
        )

        # One Kafka user per service (and the brokers' admin), each password generated at deploy, kept encrypted
        # with the streaming key, and read by the host at first boot.
        self.user_secrets: dict[str, secretsmanager.Secret] = {}
        for user in kafka_access.USERS:
            secret = secretsmanager.Secret(
                self,
                f"KafkaUser{user.capitalize()}",
                description=f"Kafka SASL/SCRAM-SHA-512 user {user!r} of the fitness pipeline's broker",
                encryption_key=key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps({"username": user}),
                    generate_string_key="password",
                    password_length=40,
                    exclude_punctuation=True,  # the password sits in a JAAS line and an environment file
                ),
            )
            no_rotation = (
                "Rotation is not implemented yet. The broker keeps each user's SCRAM credential from the first format "
                "of its storage on Kafka's data volume, which a new host takes over with these same secrets; "
                "rotating the secret alone would lock the services out. A password changes only when the streaming "
                "stack is destroyed and deployed again: new secrets, and a new data volume formatted with them."
            )
            acknowledge(secret, "AwsSolutions-SMG4", no_rotation)
            acknowledge_compliance(secret, "SecretsManagerRotationEnabled", no_rotation)
            secret.grant_read(self.role)
            self.user_secrets[user] = secret

        instance_type = ec2.InstanceType(config.instance_type)
        arch = instance_type.architecture
        cpu = (
            ec2.AmazonLinuxCpuType.ARM_64 if arch == ec2.InstanceArchitecture.ARM_64 else ec2.AmazonLinuxCpuType.X86_64
        )
        # The user-data installs cfn-init and runs it (the lines cfn-init's attachment adds below); it holds no
        # setting, so it never changes.
        self.user_data = ec2.UserData.for_linux()
        self.user_data.add_commands("dnf install -y aws-cfn-bootstrap")
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            instance_type=instance_type,
            # Amazon Linux 2023, resolved from its public SSM parameter at deploy time.
            machine_image=ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu),
            security_group=self.security_group,
            role=self.role,
            user_data=self.user_data,
            # Neither the user-data nor the init metadata is part of the logical id: changes are applied in place.
            user_data_causes_replacement=False,
            detailed_monitoring=True,
            associate_public_ip_address=public_ip,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GB, encrypted=True, kms_key=key, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        cfn_instance = self.instance.node.default_child
        assert isinstance(cfn_instance, ec2.CfnInstance)
        # The logical id names the host's generation and nothing else, so only a new generation (or a new image)
        # brings a new instance. CloudFormation cannot recreate an instance it believes exists; a new generation can.
        cfn_instance.override_logical_id(f"HostInstanceGeneration{config.host_generation}")
        # IMDSv2 only. Hop limit 2 so a container (one network hop further) can reach the instance role at all; the
        # host's firewall (host/imds-guard.sh) then lets only the consumer's and the compactor's containers through.
        cfn_instance.metadata_options = ec2.CfnInstance.MetadataOptionsProperty(
            http_tokens="required", http_put_response_hop_limit=2, http_endpoint="enabled"
        )
        acknowledge_compliance(
            self.instance,
            "EC2InstancesInVPC",
            "A false positive: the instance is in the VPC's subnet, which CDK declares under its NetworkInterfaces, "
            "not the top-level SubnetId that the rule reads.",
        )
        if public_ip:
            public_address = (
                "With natGateways=0 (the cheap default) the host needs a public address to reach package and image "
                "registries. Nothing can connect to it: the only inbound rule is Kafka's port from the VPC's CIDR."
            )
            acknowledge_compliance(self.instance, "EC2InstanceNoPublicIp", public_address)
            skip_checkov(self.instance, "CKV_AWS_88", public_address)
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "Kafka's data lives on a separate volume that outlives the instance, and the lake holds everything "
            "landed; termination protection would only stop `cdk destroy` and a replacement from removing the host.",
        )

        settings = {
            "AWS_REGION": stack.region,
            "SOURCE_URL": source.s3_object_url,
            "LAKE_BUCKET": lake.bucket_name,
            "DATA_VOLUME_ID": data_volume.volume_id,
            "TOPIC": names.TOPIC,
            "DEAD_LETTER_TOPIC": names.DEAD_LETTER_TOPIC,
            "CONSUMER_GROUP": names.CONSUMER_GROUP,
            "SIMULATED_USERS": str(config.simulated_users),
            "FLUSH_INTERVAL_S": str(config.flush_interval_seconds),
            "TOPIC_PARTITIONS": str(config.topic_partitions),
            "TOPIC_RETENTION_HOURS": str(config.topic_retention_hours),
            "KAFKA_CA_PARAMETER": KAFKA_CA_PARAMETER,
            "CONSUMER_STOP_GRACE_S": str(config.consumer_stop_grace_seconds),
            "KAFKA_STOP_GRACE_S": str(KAFKA_STOP_GRACE_SECONDS),
            "PIPELINE_STOP_TIMEOUT_S": str(config.host_stop_timeout_seconds),
            "COMPACT_EVERY_MINUTES": str(config.compact_every_minutes),
            # The Kafka users' secrets, which the set-up reads with the instance role.
            **{f"KAFKA_{user.upper()}_SECRET": secret.secret_arn for user, secret in self.user_secrets.items()},
            **(host_settings or {}),
        }
        self.instance.apply_cloud_formation_init(
            self._init(settings, logical_id=cfn_instance.logical_id),
            config_sets=[CONFIG_SET],
            # No fingerprint of the metadata in the user-data: a changed user-data would stop and start the host.
            embed_fingerprint=False,
            timeout=HEALTH_TIMEOUT,
        )

        self.bootstrap_servers = f"{self.instance.instance_private_dns_name}:{KAFKA_PORT}"

    @staticmethod
    def _init(settings: dict[str, str], *, logical_id: str) -> ec2.CloudFormationInit:
        """The metadata cfn-init applies at first boot and cfn-hup again after every change: the settings, the
        set-up script, cfn-hup watching this very metadata, then the set-up."""
        init_locator = f"--region {Aws.REGION} --stack {Aws.STACK_NAME} --resource {logical_id}"
        return ec2.CloudFormationInit.from_config_sets(
            config_sets={CONFIG_SET: ["settings", "apply"]},
            configs={
                "settings": ec2.InitConfig(
                    [
                        ec2.InitFile.from_string(
                            STACK_SETTINGS_FILE,
                            "".join(f'{key}="{value}"\n' for key, value in settings.items()),
                            mode="000640",
                        ),
                        ec2.InitFile.from_string(SETUP_COMMAND, host_file("setup.sh"), mode="000755"),
                        ec2.InitFile.from_string(
                            "/etc/cfn/cfn-hup.conf",
                            f"[main]\nstack={Aws.STACK_ID}\nregion={Aws.REGION}\ninterval={CFN_HUP_INTERVAL_MINUTES}\n",
                            mode="000400",
                        ),
                        ec2.InitFile.from_string(
                            "/etc/cfn/hooks.d/fitness-pipeline.conf",
                            "[fitness-pipeline]\ntriggers=post.update\n"
                            f"path=Resources.{logical_id}.Metadata.AWS::CloudFormation::Init\n"
                            f"action=/opt/aws/bin/cfn-init -v {init_locator} --configsets {CONFIG_SET}\n"
                            "runas=root\n",
                            mode="000400",
                        ),
                        ec2.InitService.systemd_config_file(
                            "cfn-hup", command="/opt/aws/bin/cfn-hup", description="cfn-hup: applies stack updates"
                        ),
                        # Enabled and running; never restarted by cfn-init, since cfn-hup itself runs cfn-init after
                        # a deploy (its files depend only on the stack, the region and the logical id).
                        ec2.InitService.enable("cfn-hup", service_manager=ec2.ServiceManager.SYSTEMD),
                    ]
                ),
                "apply": ec2.InitConfig([ec2.InitCommand.shell_command(SETUP_COMMAND)]),
            },
        )
