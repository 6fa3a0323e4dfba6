"""cdk-nag acknowledgements: each one is made next to the resource it concerns, with the reason it is right."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
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
