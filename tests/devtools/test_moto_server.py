"""The demo's emulator (devtools/moto_server.py, its own process as in `make demo`): the
demo's spoke and trail read roles are refused without an ExternalId, as their trust policy
would refuse it in AWS, so sgportal's role check passes and verifies the demo's accounts
instead of finding every role unsafe (plain moto lets anyone assume anything)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from sgportal import aws_roles
from sgportal.models import AwsAccount
from tests.e2e.worker import FAKE_CREDENTIALS, free_port
from tests.factories import AwsAccountFactory

ACCOUNT = "111111111111"
SPOKE = f"arn:aws:iam::{ACCOUNT}:role/SgGuardSpoke"


@pytest.fixture
def demo_emulator(monkeypatch):
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "devtools.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        for key, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def assume(role_arn: str, external_id: str = "") -> str:
    params = {"RoleArn": role_arn, "RoleSessionName": "demo-test"}
    if external_id:
        params["ExternalId"] = external_id
    return boto3.client("sts").assume_role(**params)["Credentials"]["AccessKeyId"]


def test_the_demo_roles_need_an_external_id_other_roles_do_not(demo_emulator):
    assert assume(SPOKE, "any-external-id")
    assert assume("arn:aws:iam::333333333333:role/SgPortalTrailRead", "another-id")
    for role in (SPOKE, "arn:aws:iam::333333333333:role/SgPortalTrailRead"):
        with pytest.raises(ClientError) as refused:
            assume(role)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert assume(f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole")


@pytest.mark.django_db
def test_the_role_check_verifies_a_demo_account_on_it(demo_emulator, tenant, other_tenant):
    account = AwsAccountFactory(
        tenant=tenant, account_id=ACCOUNT, spoke_role_arn=SPOKE, verified_at=None
    )
    outsider = AwsAccountFactory(tenant=other_tenant, account_id="222222222222", verified_at=None)
    (check,) = aws_roles.check_tenant_roles(tenant)
    assert (check.role_arn, check.status) == (SPOKE, "enforced")
    account.refresh_from_db()
    assert account.verified_at is not None
    assert AwsAccount.objects.get(pk=outsider.pk).verified_at is None
