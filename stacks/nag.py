"""cdk-nag acknowledgements: each one is made next to the resource it concerns, with the reason it is right."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one cdk-nag finding on `construct` (and its children) for the stated reason."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def rendered(scope: IConstruct, value: str) -> str:
    """A token the way cdk-nag writes it in a finding's id: `<LogicalId.Attr>`, `<Ref>`, or an import's name."""
    resolved = Stack.of(scope).resolve(value)
    if isinstance(resolved, str):
        return resolved
    if "Fn::GetAtt" in resolved:
        logical_id, attribute = resolved["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    if "Fn::ImportValue" in resolved:
        return str(resolved["Fn::ImportValue"])
    raise ValueError(f"no cdk-nag rendering for {resolved!r}")


#: The compliance packs run beside AwsSolutions; their rule ids are `<pack>-<rule>`, the rule names shared.
COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5")


def acknowledge_compliance(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one finding of the HIPAA Security and NIST 800-53 rev 5 packs (both raise the same rules)."""
    for pack in COMPLIANCE_PACKS:
        acknowledge(construct, f"{pack}-{rule}", reason)


def acknowledge_own_inline_policy(role: IConstruct) -> None:
    """The compliance packs' IAMNoInlinePolicy, for a role whose policy is written for it alone."""
    acknowledge_compliance(
        role,
        "IAMNoInlinePolicy",
        "The policy is written for this one role and lives and dies with it; a managed policy would only let the "
        "same rights be attached to other principals.",
    )


def acknowledge_single_region_bucket(bucket: IConstruct, *, unversioned: str | None = None) -> None:
    """A bucket of this app is not replicated: say why, beside it. An unversioned bucket needs its own reason why
    versioning would keep nothing worth keeping (`unversioned`)."""
    acknowledge_compliance(
        bucket,
        "S3BucketReplicationEnabled",
        "What this bucket holds (the lake's identifiable health data, or what is about it: query results, access "
        "logs, audit logs) stays in the one region the deployment chooses, a data-residency decision no replica "
        "should pre-empt; within it S3 stores every object redundantly across availability zones.",
    )
    resource = bucket.node.default_child
    versioning = getattr(resource, "versioning_configuration", None)
    if versioning is None or Stack.of(bucket).resolve(versioning).get("status") != "Enabled":
        if unversioned is None:
            raise ValueError(f"{bucket.node.path} is not versioned: say why versioning would keep nothing")
        acknowledge_compliance(bucket, "S3BucketVersioningEnabled", unversioned)
        skip_checkov(bucket, "CKV_AWS_21", unversioned)


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Skip one checkov check on the construct's CloudFormation resource, in the resource's template metadata (where
    checkov reads it), with the reason beside it."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CloudFormation resource"
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)
