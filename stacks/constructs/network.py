"""The streaming side's VPC, the same on the host and on MSK: a literal CIDR, S3 through a gateway endpoint on every
route table, flow logs encrypted with the stack's key, the default security group emptied, and public subnets that
admit nothing from the internet."""

from __future__ import annotations

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from stacks.defaults import trusted_service
from stacks.nag import acknowledge_compliance, acknowledge_own_inline_policy, skip_checkov

#: A literal CIDR, so the security group's rule is a literal too.
VPC_CIDR = "10.42.0.0/16"
FLOW_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def streaming_vpc(
    stack: Stack,
    *,
    max_azs: int,
    nat_gateways: int,
    subnets: list[ec2.SubnetConfiguration],
    key: kms.IKey,
    public_subnets: str,
) -> ec2.Vpc:
    """The stack's VPC (id `Vpc`) and its flow logs. `public_subnets` says why the public subnets may route to the
    internet gateway (cdk-nag's compliance packs ask)."""
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
        max_azs=max_azs,
        nat_gateways=nat_gateways,
        subnet_configuration=subnets,
        # S3 traffic (the lake, the source asset) stays on AWS's network, through every subnet's route table; the
        # lake refuses data writes that do not come through a VPC endpoint.
        gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
    )
    for subnet in vpc.public_subnets:
        acknowledge_compliance(subnet, "VPCSubnetAutoAssignPublicIpDisabled", public_subnets)
        acknowledge_compliance(subnet, "VPCNoUnrestrictedRouteToIGW", public_subnets)
    explain_the_default_security_group_handler(stack)
    flow_logs = logs.LogGroup(stack, "FlowLogs", retention=FLOW_LOG_RETENTION, encryption_key=key)
    flow_log_role = iam.Role(
        stack,
        "FlowLogRole",
        description="VPC flow logs: deliver this VPC's flow logs to their log group",
        assumed_by=trusted_service(
            stack,
            "vpc-flow-logs.amazonaws.com",
            source_arn=stack.format_arn(service="ec2", resource="vpc-flow-log", resource_name="*"),
        ),
    )
    acknowledge_own_inline_policy(flow_log_role)
    vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_log_role))
    return vpc


def s3_endpoint_id(vpc: ec2.IVpc) -> str:
    """The id of the VPC's S3 gateway endpoint (`streaming_vpc` makes it), which the lake's writers must come
    through."""
    endpoint = vpc.node.find_child("S3")
    assert isinstance(endpoint, ec2.GatewayVpcEndpoint), f"{vpc.node.path} has no S3 gateway endpoint"
    return endpoint.vpc_endpoint_id


def explain_the_default_security_group_handler(stack: Stack) -> None:
    """`@aws-cdk/aws-ec2:restrictDefaultSecurityGroup` removes the default security group's rules with a custom
    resource of CDK's: its Lambda both names its role and depends on it (cfn-lint's W3005, a redundant DependsOn,
    harmless), and checkov's Lambda checks do not fit a handler that runs once per deployment."""
    provider = stack.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
    handler = provider.node.try_find_child("Handler") if provider is not None else None
    if isinstance(handler, CfnResource):
        handler.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        for check, reason in {
            "CKV_AWS_115": "CDK's handler runs once per deployment, when the VPC is created or updated; no other "
            "invocation can compete with it for concurrency.",
            "CKV_AWS_116": "CloudFormation invokes CDK's handler synchronously and fails the deployment on an "
            "error; there is no asynchronous event for a dead-letter queue to keep.",
            "CKV_AWS_117": "CDK's handler calls only the EC2 API, on the public endpoint; placing it in the VPC it "
            "configures would need that VPC's egress before it exists.",
        }.items():
            skip_checkov(handler, check, reason)
