"""Kafka's data volume: an encrypted gp3 EBS volume that outlives the host, with daily snapshots.

The host attaches the volume itself at boot (`stacks/host/kafka-data.sh`), rather than through an
`AWS::EC2::VolumeAttachment`: when CloudFormation replaces the instance it creates the new one (and would create its
new attachment) before it deletes the old one, while the volume is still attached to the old host. The new host
waits for the volume instead, and takes it over once the old host has stopped cleanly and released it.
"""

from __future__ import annotations

from aws_cdk import CfnTag, Size, Stack, Tags
from aws_cdk import aws_dlm as dlm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.defaults import removal_policy, trusted_service
from stacks.nag import acknowledge, acknowledge_compliance

#: Kafka's log, its committed offsets, the dead letters and the cluster id. A week of 33 users is a few hundred MB;
#: gp3's baseline (3,000 IOPS, 125 MB/s) does not grow with the size.
DATA_VOLUME_GB = 20
#: The tag by which the snapshot policy finds the volume; its value is the stack's name.
SNAPSHOT_TAG = "fitness-pipeline:kafka-data"
#: When the daily snapshot starts (UTC), outside the hours of a working day in Europe.
SNAPSHOT_TIME = "03:00"


class KafkaDataVolume(Construct):
    """`volume`, in `availability_zone` (the host's); `snapshots`, the lifecycle policy that snapshots it daily and
    keeps each snapshot `snapshot_retention_days`. `cdk destroy` keeps the volume unless `destroy_data`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        availability_zone: str,
        snapshot_retention_days: int,
        destroy_data: bool,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.volume = ec2.Volume(
            self,
            "Volume",
            availability_zone=availability_zone,
            size=Size.gibibytes(DATA_VOLUME_GB),
            volume_type=ec2.EbsDeviceVolumeType.GP3,
            encrypted=True,
            # The streaming key; its snapshots are encrypted with it too.
            encryption_key=key,
            removal_policy=removal_policy(destroy_data=destroy_data),
        )
        Tags.of(self.volume).add(SNAPSHOT_TAG, stack.stack_name)
        acknowledge_compliance(
            self.volume,
            "EC2EBSInBackupPlan",
            "The volume is backed up by Data Lifecycle Manager's daily snapshots (DailySnapshots below), not an AWS "
            "Backup plan: a plain EBS snapshot restores with one create-volume, and no vault blocks `cdk destroy`.",
        )

        # Data Lifecycle Manager rather than AWS Backup: the snapshots are plain EBS snapshots (a volume is restored
        # from one with a single `aws ec2 create-volume`), and there is no backup vault whose recovery points would
        # stop `cdk destroy` from deleting it. Snapshots outlive the policy; each expires by its own retention.
        role = iam.Role(
            self,
            "SnapshotRole",
            # This account's lifecycle policies only (the policy's own ARN would be a cycle: it names the role).
            assumed_by=trusted_service(
                stack,
                "dlm.amazonaws.com",
                source_arn=stack.format_arn(service="dlm", resource="policy", resource_name="*"),
            ),
            description="Data Lifecycle Manager: daily snapshots of Kafka's data volume",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSDataLifecycleManagerServiceRole")
            ],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSDataLifecycleManagerServiceRole]",
            "The AWS-maintained role policy for Data Lifecycle Manager's EBS snapshot policies, kept current by AWS "
            "as the service changes. It grants every snapshot action a DLM policy may use (create, delete, copy, "
            "fast snapshot restore, archive tiers) on the account's volumes and snapshots; this policy uses only "
            "the daily create and the expiry's delete. Only DLM can assume the role, for this account's policies.",
        )
        self.snapshots = dlm.CfnLifecyclePolicy(
            self,
            "DailySnapshots",
            description=f"Daily snapshots of the Kafka data volume of {stack.stack_name}",
            state="ENABLED",
            execution_role_arn=role.role_arn,
            policy_details=dlm.CfnLifecyclePolicy.PolicyDetailsProperty(
                policy_type="EBS_SNAPSHOT_MANAGEMENT",
                resource_types=["VOLUME"],
                target_tags=[CfnTag(key=SNAPSHOT_TAG, value=stack.stack_name)],
                schedules=[
                    dlm.CfnLifecyclePolicy.ScheduleProperty(
                        name="daily",
                        create_rule=dlm.CfnLifecyclePolicy.CreateRuleProperty(
                            interval=24, interval_unit="HOURS", times=[SNAPSHOT_TIME]
                        ),
                        retain_rule=dlm.CfnLifecyclePolicy.RetainRuleProperty(
                            interval=snapshot_retention_days, interval_unit="DAYS"
                        ),
                        copy_tags=True,
                    )
                ],
            ),
        )

    def grant_attach(self, role: iam.IRole, instance: ec2.Instance) -> None:
        """Let `role` attach the volume to `instance` (and to a replacement of it): a tag on both that the policy's
        condition requires, plus the read-only look-up the host uses to see where the volume is attached."""
        self.volume.grant_attach_volume_by_resource_tag(role, [instance])
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
            "Attach only this data volume, and only to an instance carrying the tag that the grant puts on the host: "
            "a replacement host has a new instance id that the policy cannot name in advance.",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SeeWhereTheDataVolumeIsAttached",
                actions=["ec2:DescribeVolumes"],
                resources=["*"],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeVolumes supports no resource-level permissions; it is read-only and tells the host whether "
            "its data volume is free, attached to it, or still held by the host it replaces.",
        )
