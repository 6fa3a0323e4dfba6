"""The services on ECS Fargate, beside Amazon MSK: the producer (one task), the consumer (a scaled group of tasks)
and the compactor (a scheduled task), each built by CDK from the services' Dockerfile and given only its own rights.

The producer's and the consumer's metrics reach CloudWatch as on the host: a CloudWatch agent beside the service in
its task scrapes the service's Prometheus endpoint on the task's loopback and writes the embedded metric format to
the metrics log group, which CloudWatch turns into the metrics of `core.metric_names`. The consumer's
task count follows its lag with target tracking.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import metric_names as m
from core import names
from stacks.config import PipelineConfig
from stacks.constructs.kafka_host import SOURCE_EXCLUDE
from stacks.constructs.lake_access import (
    grant_curated_table_commit,
    grant_lake_key_through_s3,
    grant_writes_under,
    list_under,
    through,
)
from stacks.constructs.msk import MskCluster
from stacks.constructs.network import s3_endpoint_id
from stacks.constructs.observability import (
    _RETENTION_NAMES,
    METRICS_LOG_GROUP,
    agent_config,
    log_group_name,
    prometheus_scrape_config,
    service_metric,
)
from stacks.defaults import removal_policy, trust_policy, trusted_service
from stacks.nag import acknowledge, acknowledge_compliance, rendered

#: The CloudWatch agent's image, as AWS publishes it (pinned: a new agent is a deliberate change).
CLOUDWATCH_AGENT_IMAGE = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300062.0b1304"
#: Fargate stops a container at most this long after SIGTERM.
FARGATE_MAX_STOP_SECONDS = 120
#: The consumer scales out when its oldest record not yet landed is older than this many flush intervals.
LAG_TARGET_FLUSH_INTERVALS = 2


class FargateServices(Construct):
    """`cluster`, `security_group` (every task's), `services` (producer and consumer, by name), `roles` (each
    task's role, by service), `log_groups` (by service, and the metrics log group), `consumer_scaling`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        vpc: ec2.IVpc,
        subnets: list[ec2.ISubnet],
        kafka: MskCluster,
        lake: s3.IBucket,
        lake_key_arn: str,
        key: kms.IKey,
        source_root: Path,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.kafka = kafka
        self.lake = lake
        self.lake_key_arn = lake_key_arn
        #: The lake's writers write only through this VPC's S3 endpoint.
        self.endpoint_id = s3_endpoint_id(vpc)
        stack_name = Stack.of(self).stack_name
        region = Stack.of(self).region
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="The pipeline Fargate tasks: out to MSK and to the AWS APIs over HTTPS; nothing inbound",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs (ECR, logs, Glue, S3) over HTTPS"
        )
        self.security_group.add_egress_rule(kafka.security_group, ec2.Port.tcp(9098), "Kafka with IAM sign-in over TLS")
        kafka.allow_from(self.security_group)
        self.subnets = ec2.SubnetSelection(subnets=subnets)

        self.log_groups: dict[str, logs.LogGroup] = {}
        for service in (m.PRODUCER, m.CONSUMER, m.COMPACTOR, METRICS_LOG_GROUP):
            self.log_groups[service] = logs.LogGroup(
                self,
                f"{service.capitalize()}Logs",
                log_group_name=log_group_name(stack_name, service),
                retention=getattr(logs.RetentionDays, _RETENTION_NAMES[config.log_retention_days]),
                encryption_key=key,
                removal_policy=removal_policy(destroy_data=config.destroy_data),
            )

        def image(service: str) -> ecs.ContainerImage:
            asset = ecr_assets.DockerImageAsset(
                self,
                f"{service.capitalize()}Image",
                directory=str(source_root),
                file="services/Dockerfile",
                build_args={"SERVICE": service},
                exclude=list(SOURCE_EXCLUDE),
                platform=ecr_assets.Platform.LINUX_AMD64,
            )
            return ecs.ContainerImage.from_docker_image_asset(asset)

        kafka_environment = {
            "BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "SECURITY_PROTOCOL": "SASL_SSL",
            "SASL_MECHANISM": "AWS_MSK_IAM",
            "AWS_REGION": region,
        }
        aws_environment = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}

        # -- producer ----------------------------------------------------------------------------------------------
        producer_task = self._task_definition(m.PRODUCER)
        producer_task.add_container(
            "producer",
            image=image(m.PRODUCER),
            essential=True,
            logging=self._log_driver(m.PRODUCER),
            environment={
                **{f"PRODUCER_{k}": v for k, v in kafka_environment.items()},
                "PRODUCER_TOPIC": names.TOPIC,
                "PRODUCER_PARTITIONS": str(config.topic_partitions),
                "PRODUCER_USERS": str(config.simulated_users),
                "PRODUCER_MODE": "live",
                "PRODUCER_DAYS": "3660",
                "PRODUCER_METRICS_PORT": str(m.METRICS_PORTS[m.PRODUCER]),
                **aws_environment,
            },
        )
        self._add_agent(producer_task, m.PRODUCER)
        kafka.grant_connect(producer_task.task_role, sid="SignInToKafka")
        producer_task.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTheDataTopic",
                # DescribeTopic and WriteData produce; CreateTopic lets it make its topic on MSK Serverless, where
                # none is declared (a provisioned cluster's topics are in the template).
                actions=["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
                + (["kafka-cluster:CreateTopic"] if kafka.creates_topics_with_admin else []),
                resources=[kafka.topic_arn(names.TOPIC)],
            )
        )
        producer_task.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ProduceIdempotently",
                actions=["kafka-cluster:WriteDataIdempotently"],
                resources=[kafka.cluster_arn],
            )
        )
        self.producer = ecs.FargateService(
            self,
            "Producer",
            cluster=self.cluster,
            task_definition=producer_task,
            desired_count=1,
            vpc_subnets=self.subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            min_healthy_percent=0,  # one producer at a time: a deploy stops the old task before the new one starts
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )

        # -- consumer ----------------------------------------------------------------------------------------------
        consumer_task = self._task_definition(m.CONSUMER)
        consumer_image = image(m.CONSUMER)
        consumer = consumer_task.add_container(
            "consumer",
            image=consumer_image,
            essential=True,
            logging=self._log_driver(m.CONSUMER),
            stop_timeout=Duration.seconds(min(FARGATE_MAX_STOP_SECONDS, config.consumer_stop_grace_seconds)),
            environment={
                **{f"CONSUMER_{k}": v for k, v in kafka_environment.items()},
                "CONSUMER_TOPIC": names.TOPIC,
                "CONSUMER_GROUP_ID": names.CONSUMER_GROUP,
                "CONSUMER_DLQ_TOPIC": names.DEAD_LETTER_TOPIC,
                "CONSUMER_SINK": "s3",
                "CONSUMER_S3_BUCKET": lake.bucket_name,
                "CONSUMER_FORMAT": names.DEFAULT_LAKE_FORMAT,
                "CONSUMER_FLUSH_INTERVAL_S": str(config.flush_interval_seconds),
                "CONSUMER_METRICS_PORT": str(m.METRICS_PORTS[m.CONSUMER]),
                **aws_environment,
            },
        )
        consumer_topic_rights = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
        # DescribeTopicDynamicConfiguration answers DescribeConfigs: the topic's max.message.bytes, which dead letters
        # are cut to fit.
        dead_letter_rights = [
            "kafka-cluster:DescribeTopic",
            "kafka-cluster:WriteData",
            "kafka-cluster:DescribeTopicDynamicConfiguration",
        ]
        if kafka.creates_topics_with_admin:
            # MSK Serverless has no topic API: create both topics first, with the consumer's image and rights.
            topics = consumer_task.add_container(
                "topics",
                image=consumer_image,
                essential=False,
                logging=self._log_driver(m.CONSUMER),
                entry_point=["python", "-m", "services.common.kafka_admin"],
                environment={
                    **{f"KAFKA_ACCESS_{k}": v for k, v in kafka_environment.items()},
                    "KAFKA_ACCESS_TOPIC": names.TOPIC,
                    "KAFKA_ACCESS_DEAD_LETTER_TOPIC": names.DEAD_LETTER_TOPIC,
                    "KAFKA_ACCESS_GROUP": names.CONSUMER_GROUP,
                    "KAFKA_ACCESS_PARTITIONS": str(config.topic_partitions),
                    "KAFKA_ACCESS_ACLS": "false",
                    **aws_environment,
                },
            )
            consumer.add_container_dependencies(
                ecs.ContainerDependency(container=topics, condition=ecs.ContainerDependencyCondition.SUCCESS)
            )
            consumer_topic_rights.append("kafka-cluster:CreateTopic")
            dead_letter_rights.append("kafka-cluster:CreateTopic")
        self._add_agent(consumer_task, m.CONSUMER)
        role = consumer_task.task_role
        kafka.grant_connect(role, sid="SignInToKafka")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheDataTopic", actions=consumer_topic_rights, resources=[kafka.topic_arn(names.TOPIC)]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTheDeadLetterTopic",
                actions=dead_letter_rights,
                resources=[kafka.topic_arn(names.DEAD_LETTER_TOPIC)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ProduceDeadLettersIdempotently",
                actions=["kafka-cluster:WriteDataIdempotently"],
                resources=[kafka.cluster_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="JoinAndCommitInTheGroup",
                actions=["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
                resources=[kafka.group_arn(names.CONSUMER_GROUP)],
            )
        )
        self._grant_lake_writes(role, names.LAKE_DATA_PREFIX, writer="consumer")
        self.consumer = ecs.FargateService(
            self,
            "Consumer",
            cluster=self.cluster,
            task_definition=consumer_task,
            desired_count=config.consumer_tasks,
            vpc_subnets=self.subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )
        self.consumer_scaling = self.consumer.auto_scale_task_count(
            min_capacity=1, max_capacity=config.topic_partitions
        )
        self.lag_target_seconds = LAG_TARGET_FLUSH_INTERVALS * config.flush_interval_seconds
        self.consumer_scaling.scale_to_track_custom_metric(
            "FollowTheLag",
            metric=service_metric(m.CONSUMER_LAG_SECONDS, "Maximum"),
            target_value=self.lag_target_seconds,
            scale_out_cooldown=Duration.minutes(2),
            scale_in_cooldown=Duration.minutes(10),
        )
        self.services = {m.PRODUCER: self.producer, m.CONSUMER: self.consumer}
        for service in self.services.values():
            for topic in kafka.topics:
                service.node.add_dependency(topic)

        # -- compactor ---------------------------------------------------------------------------------------------
        compactor_task = self._task_definition(m.COMPACTOR)
        compactor_task.add_container(
            "compactor",
            image=image(m.COMPACTOR),
            essential=True,
            logging=self._log_driver(m.COMPACTOR),
            environment={
                "COMPACTOR_CATALOG": "glue",
                "COMPACTOR_S3_BUCKET": lake.bucket_name,
                "COMPACTOR_REGION": region,
                # Glue's table optimizers expire the snapshots and delete orphan files; the task may delete nothing.
                "COMPACTOR_MAINTENANCE": "false",
                **aws_environment,
            },
        )
        self._grant_compaction(compactor_task.task_role)
        self.compactor = ecs_patterns.ScheduledFargateTask(
            self,
            "Compactor",
            cluster=self.cluster,
            scheduled_fargate_task_definition_options=ecs_patterns.ScheduledFargateTaskDefinitionOptions(
                task_definition=compactor_task
            ),
            schedule=appscaling.Schedule.rate(Duration.minutes(config.compact_every_minutes)),
            subnet_selection=self.subnets,
            security_groups=[self.security_group],
        )
        self.roles = {
            m.PRODUCER: producer_task.task_role,
            m.CONSUMER: consumer_task.task_role,
            m.COMPACTOR: compactor_task.task_role,
        }
        for task in (producer_task, consumer_task, compactor_task):
            self._explain_the_execution_role(task)

    # -- parts -----------------------------------------------------------------------------------------------------
    def _ecs_tasks(self) -> iam.ServicePrincipal:
        """ECS's tasks of this account and region (ECS sets aws:SourceArn to the task's ARN when it assumes a task
        or task execution role)."""
        stack = Stack.of(self)
        return trusted_service(
            stack,
            "ecs-tasks.amazonaws.com",
            source_arn=f"arn:{stack.partition}:ecs:{stack.region}:{stack.account}:*",
        )

    def _task_definition(self, service: str) -> ecs.FargateTaskDefinition:
        role = iam.Role(
            self,
            f"{service.capitalize()}TaskRole",
            description=f"The fitness pipeline's {service} on Fargate: only what the {service} does",
            assumed_by=self._ecs_tasks(),
        )
        # The execution role (ECS pulls the images and writes the logs with it) is made here for its trust policy;
        # CDK grants it the pulls and the log groups as it would its own.
        execution_role = iam.Role(
            self,
            f"{service.capitalize()}ExecutionRole",
            description=f"ECS for the fitness pipeline's {service}: pull its images, write its logs",
            assumed_by=self._ecs_tasks(),
        )
        acknowledge_compliance(
            role,
            "IAMNoInlinePolicy",
            "The policy is written for this one task role and lives and dies with it; a managed policy would only "
            "let the same rights be attached to other principals.",
        )
        return ecs.FargateTaskDefinition(
            self,
            f"{service.capitalize()}Task",
            cpu=512,
            memory_limit_mib=1024,
            task_role=role,
            execution_role=execution_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )

    def _log_driver(self, service: str) -> ecs.LogDriver:
        return ecs.LogDrivers.aws_logs(stream_prefix=service, log_group=self.log_groups[service])

    def _add_agent(self, task: ecs.FargateTaskDefinition, service: str) -> None:
        """The CloudWatch agent beside `service`: it scrapes the service's endpoint on the task's loopback and
        writes the metrics, in the embedded metric format, to the metrics log group."""
        scrape = json.loads(prometheus_scrape_config())
        scrape["scrape_configs"] = [job for job in scrape["scrape_configs"] if job["job_name"] == service]
        agent = {
            "agent": {"metrics_collection_interval": scrape["global"]["scrape_interval"].rstrip("s")},
            "logs": agent_config(self.log_groups[METRICS_LOG_GROUP].log_group_name)["logs"],
        }
        agent["agent"]["metrics_collection_interval"] = int(agent["agent"]["metrics_collection_interval"])
        agent["logs"]["metrics_collected"]["prometheus"]["prometheus_config_path"] = "env:PROMETHEUS_CONFIG_CONTENT"
        task.add_container(
            "cloudwatch-agent",
            image=ecs.ContainerImage.from_registry(CLOUDWATCH_AGENT_IMAGE),
            essential=False,
            logging=self._log_driver(METRICS_LOG_GROUP),
            environment={
                "CW_CONFIG_CONTENT": Stack.of(self).to_json_string(agent),
                "PROMETHEUS_CONFIG_CONTENT": json.dumps(scrape),
            },
        )
        metrics = self.log_groups[METRICS_LOG_GROUP]
        task.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTheMetrics",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[metrics.log_group_arn, f"{metrics.log_group_arn}:log-stream:*"],
            )
        )
        acknowledge(
            task.task_role,
            f"AwsSolutions-IAM5[Resource::{rendered(self, metrics.log_group_arn)}:log-stream:*]",
            "The CloudWatch agent names its log streams after the task it runs in; only in the metrics log group.",
        )

    def _grant_lake_writes(self, role: iam.IRole, prefix: str, *, writer: str) -> None:
        """Write (and read back) under `prefix` of the lake, with the lake's key through S3 only; no delete."""
        grant_lake_key_through_s3(role, self.lake_key_arn)
        grant_writes_under(
            role,
            self.lake,
            (prefix,),
            reason=f"The {writer} writes files with generated names under this one prefix of the lake, and nowhere "
            "else.",
            endpoint_id=self.endpoint_id,
        )

    def _grant_compaction(self, role: iam.IRole) -> None:
        """The compactor reads the raw prefix, writes new files under the curated table's prefix (never deletes:
        Glue's optimizers do that) and updates that one table in Glue."""
        raw = names.LAKE_DATA_PREFIX
        self._grant_lake_writes(role, names.LAKE_CURATED_PREFIX, writer="compactor")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheRawFiles",
                actions=["s3:GetObject"],
                resources=[self.lake.arn_for_objects(f"{raw}*")],
                conditions=through(self.endpoint_id),
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{rendered(self, self.lake.bucket_arn)}/{raw}*]",
            "The compactor reads the consumer's files, named by day and offsets, under the raw table's prefix only.",
        )
        role.add_to_principal_policy(
            list_under(self.lake, (raw,), sid="ListTheRawPrefix", endpoint_id=self.endpoint_id)
        )
        grant_curated_table_commit(role)

    def _explain_the_execution_role(self, task: ecs.FargateTaskDefinition) -> None:
        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "The environment holds names, addresses and numbers, no secret: the services sign in to MSK with the "
            "task role's IAM credentials, which ECS hands the task, so there is no password to keep elsewhere.",
        )
        role = task.execution_role
        if role is not None:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken, which ECS calls to pull the task's images, takes no resource; the "
                "image pulls themselves are limited to CDK's asset repository.",
            )
            acknowledge_compliance(
                role,
                "IAMNoInlinePolicy",
                "The execution role is made for this task alone, and CDK writes its policy for it: pull the task's "
                "images, write its log groups.",
            )
        events_role = task.node.try_find_child("EventsRole")
        if events_role is not None:
            # CDK's role for the schedule's target trusts EventBridge unconditionally: only this account's rules
            # (the rule's own ARN would be a cycle, since the rule names the role).
            stack = Stack.of(self)
            assert isinstance(events_role, iam.Role)
            cfn_role = events_role.node.default_child
            assert isinstance(cfn_role, iam.CfnRole)
            cfn_role.add_property_override(
                "AssumeRolePolicyDocument",
                trust_policy(
                    stack,
                    "events.amazonaws.com",
                    source_arn=stack.format_arn(service="events", resource="rule", resource_name="*"),
                ),
            )
            cluster = rendered(self, self.cluster.cluster_name)
            acknowledge(
                events_role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:*:task/{cluster}/*]",
                "EventBridge's role may tag the compactor's runs in this one cluster; ECS names each run's task.",
            )
            acknowledge_compliance(
                events_role,
                "IAMNoInlinePolicy",
                "CDK writes the schedule's role policy for this one task: run it, and pass it its two roles.",
            )
