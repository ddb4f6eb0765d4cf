"""The IAM policies in docs/aws-roles.md and the spoke-role templates (CloudFormation StackSet,
Terraform module) grant exactly the EC2 calls remediation/ makes, and trust with the
ExternalId and SourceIdentity sgportal passes. The EC2 calls are read from the code (its AST),
so a new call without a policy update fails here."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import botocore.session
import pytest
from cfnlint.api import lint_all
from cfnlint.decode import decode_str

from ingestion.models import EventName
from sgportal.aws_roles import trust_policy
from sgportal.models import Tenant

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "aws-roles.md"
CFN = ROOT / "deploy" / "cloudformation" / "spoke-role-stackset.yaml"
TF = ROOT / "deploy" / "terraform" / "spoke-role"
EC2_OPERATIONS = set(botocore.session.get_session().get_service_model("ec2").operation_names)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def camel(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


def _operations_of(node: ast.AST, module: ast.Module) -> set[str]:
    """Operation names an expression may hold: a string, ``EventName.X``, an f-string
    'XSecurityGroup{direction}' (both directions), or a name assigned any of those in the
    module (all its assignments)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "EventName"
    ):
        return {EventName[node.attr].value}
    if isinstance(node, ast.JoinedStr):
        parts = node.values
        if (
            len(parts) == 2
            and isinstance(parts[0], ast.Constant)
            and isinstance(parts[1], ast.FormattedValue)
        ):
            return {f"{parts[0].value}{d}" for d in ("Ingress", "Egress")}
    if isinstance(node, ast.Name):
        values = [
            stmt.value
            for stmt in ast.walk(module)
            if isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets)
        ]
        if values:
            return set().union(*(_operations_of(value, module) for value in values))
    raise AssertionError(f"cannot read the operation of {ast.unparse(node)}")


def ec2_calls_in_code(folder: Path = ROOT / "remediation") -> set[str]:
    """Every EC2 operation remediation/ makes: direct ``ec2.<method>()`` calls, paginators,
    and the operations its revert plans name (``call(<operation>, …)``)."""
    found: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and "ec2" in func.value.id
            ):
                if func.attr == "get_paginator":
                    found.add(camel(node.args[0].value))
                else:
                    found.add(camel(func.attr))
            elif isinstance(func, ast.Name) and func.id == "call" and path.name == "planner.py":
                found |= _operations_of(node.args[0], module)
            elif (
                isinstance(func, ast.Name)
                and func.id == "classify"
                and isinstance(node.args[1], ast.Constant)
            ):
                # classify(exc, "Operation", …) names a call made just before; a plan's
                # operation (planned["operation"]) comes from the planner, read above.
                found.add(node.args[1].value)
    return found


CODE_EC2 = ec2_calls_in_code()


def test_the_code_scan_finds_real_ec2_operations():
    assert {
        "DescribeSecurityGroupRules",
        "RevokeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "ModifySecurityGroupRules",
    } <= CODE_EC2
    assert CODE_EC2 <= EC2_OPERATIONS, CODE_EC2 - EC2_OPERATIONS


def test_the_scan_catches_a_new_call_or_plan_operation(tmp_path):
    (tmp_path / "executor.py").write_text(
        'def drop(ec2):\n    ec2.delete_security_group(GroupId="sg-1")\n'
    )
    (tmp_path / "planner.py").write_text(
        'MOVE = "CreateSecurityGroup"\n'
        "def plan(kind):\n"
        "    call(MOVE, {}, '')\n"
        '    operation = f"UpdateSecurityGroupRuleDescriptions{kind}"\n'
        "    call(operation, {}, '')\n"
    )
    assert ec2_calls_in_code(tmp_path) == {
        "DeleteSecurityGroup",
        "CreateSecurityGroup",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsEgress",
    }
    (tmp_path / "planner.py").write_text("def plan(p):\n    call(p['op'], {}, '')\n")
    with pytest.raises(AssertionError, match="cannot read"):
        ec2_calls_in_code(tmp_path)


def ec2_actions(policy: dict) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        for action in [listed] if isinstance(listed, str) else listed:
            if action.startswith("ec2:"):
                actions.add(action.removeprefix("ec2:"))
    return actions


def doc_policies() -> list[dict]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert blocks, "docs/aws-roles.md holds no JSON policy"
    policies = []
    for block in blocks:
        policy = json.loads(block)  # every embedded document parses
        assert policy["Version"] == "2012-10-17"
        assert policy["Statement"]
        policies.append(policy)
    return policies


def is_trust(policy: dict) -> bool:
    return all("Principal" in s for s in policy["Statement"])


def test_the_doc_spoke_policy_grants_exactly_the_ec2_calls_of_the_code():
    with_ec2 = [p for p in doc_policies() if ec2_actions(p)]
    assert len(with_ec2) == 1, "one spoke permission policy expected"
    assert ec2_actions(with_ec2[0]) == CODE_EC2


def test_the_doc_policies_name_the_calls_the_readers_make():
    text = json.dumps(doc_policies())
    lake = {"StartQuery", "DescribeQuery", "GetQueryResults", "CancelQuery"}
    lake_source = (ROOT / "ingestion" / "lake.py").read_text()
    for operation in lake:
        assert f'"{snake(operation)}"' in lake_source, operation
        assert f"cloudtrail:{operation}" in text
    for action in (
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "s3:GetObject",
        "s3:ListBucket",
        "kms:Decrypt",
    ):
        assert action in text, action


def test_the_doc_trust_policies_match_what_sgportal_passes():
    expected = json.loads(trust_policy(Tenant(external_id="EXAMPLE-EXTERNAL-ID")))["Statement"][0]
    trusts = [p for p in doc_policies() if is_trust(p)]
    assert len(trusts) == 2  # read roles + hub, and spoke
    for policy in trusts:
        (statement,) = policy["Statement"]
        assert sorted(statement["Action"]) == sorted(expected["Action"])
        assert "sts:SetSourceIdentity" in statement["Action"]
        assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "EXAMPLE-EXTERNAL-ID"}}


# --- CloudFormation -------------------------------------------------------------------------
def cfn_template() -> dict:
    template, errors = decode_str(CFN.read_text())
    assert not errors, errors
    return template


def lint(text: str) -> list:
    """cfn-lint's errors and warnings (what its command line reports by default; its
    informational suggestions are left out)."""
    return [m for m in lint_all(text) if not m.rule.id.startswith("I")]


def test_the_stackset_template_passes_cfn_lint():
    matches = lint(CFN.read_text())
    assert not matches, "\n".join(str(m) for m in matches)


def test_cfn_lint_is_not_a_rubber_stamp():
    broken = CFN.read_text().replace("Type: AWS::IAM::Role", "Type: AWS::IAM::Rolle")
    assert lint(broken)


def test_the_stackset_grants_exactly_the_ec2_calls_and_trusts_with_the_external_id():
    template = cfn_template()
    assert set(template["Parameters"]) == {"HubRoleArn", "ExternalId", "RoleName"}
    role = template["Resources"]["SpokeRole"]["Properties"]
    (policy,) = role["Policies"]
    assert ec2_actions(policy["PolicyDocument"]) == CODE_EC2
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "HubRoleArn"}}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert template["Parameters"]["ExternalId"].get("NoEcho") is True
    assert "SpokeRoleArn" in template["Outputs"]


# --- Terraform (cannot run here: no providers offline) --------------------------------------
def test_the_terraform_module_matches_the_stackset_and_the_doc():
    variables = set(re.findall(r'^variable "(\w+)"', (TF / "variables.tf").read_text(), re.M))
    assert variables == {snake(p) for p in cfn_template()["Parameters"]}
    main = (TF / "main.tf").read_text()
    assert set(re.findall(r"\bvar\.(\w+)", main)) == variables
    assert set(re.findall(r'"ec2:(\w+)"', main)) == CODE_EC2
    assert re.search(r'"sts:ExternalId"\s*=\s*var\.external_id', main)
    assert re.search(r'Action\s*=\s*\["sts:AssumeRole", "sts:SetSourceIdentity"\]', main)
    assert 'output "spoke_role_arn"' in (TF / "outputs.tf").read_text()
    doc = DOC.read_text()
    for name in variables | set(cfn_template()["Parameters"]):
        assert f"`{name}`" in doc or f"{name} " in doc or f"{name}=" in doc, name


def assume_role_parameters() -> set[str]:
    """Every AssumeRole parameter the code passes (keywords, and keys of a params dict)."""
    found: set[str] = set()
    for path in (ROOT / "remediation" / "aws.py", ROOT / "sgportal" / "aws_roles.py"):
        module = ast.parse(path.read_text())
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("assume_role"):
                found |= {k.arg for k in node.keywords if k.arg}
            if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == "RoleArn" for k in node.keys
            ):
                found |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Subscript)
                and ast.unparse(node.targets[0].value) == "params"
            ):
                found.add(node.targets[0].slice.value)
    return found


def test_the_trust_policies_allow_what_assume_role_passes_and_nothing_more():
    passed = assume_role_parameters()
    assert {"RoleArn", "ExternalId", "SourceIdentity", "RoleSessionName"} <= passed
    # No session tags: the roles need no sts:TagSession.
    assert not passed & {"Tags", "TransitiveTagKeys"}
    for policy in doc_policies():
        actions = json.dumps(policy)
        assert "sts:TagSession" not in actions
    assert "sts:TagSession" in DOC.read_text()  # the doc says why it is not needed
