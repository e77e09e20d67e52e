"""EC2's encoded authorization failure messages and STS's DecodeAuthorizationMessage.

A denied EC2 call says why in an encoded message, as AWS's do; a caller of
the same account allowed `sts:DecodeAuthorizationMessage` reads the
decision, the deciding statement and the request's context from it.
"""
from __future__ import annotations

import json
import re

import pytest

from rampart_testlib import new_user, raises_aws

DECODE = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage", "Resource": "*"}]}


def encoded_message_of(error_message: str) -> str:
    found = re.search(r"Encoded authorization failure message: (\S+)$", error_message)
    assert found, error_message
    return found.group(1)


@pytest.fixture(scope="module")
def decoder(rampart):
    user = new_user(rampart, "decoder")
    rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="decode",
                                          PolicyDocument=json.dumps(DECODE))
    return rampart.client("sts", user["creds"])


def denied_ec2_message(rampart, user, region="us-east-1") -> str:
    with raises_aws("UnauthorizedOperation", 403) as error:
        rampart.client("ec2", user["creds"], region=region).describe_vpcs()
    assert error.message.startswith("You are not authorized to perform this operation.")
    return encoded_message_of(error.message)


def test_an_implicit_denial_decodes_to_its_context(rampart, decoder):
    user = new_user(rampart, "no-ec2")
    encoded = denied_ec2_message(rampart, user)
    decoded = json.loads(decoder.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False
    assert decoded["explicitDeny"] is False
    assert decoded["matchedStatements"]["items"] == []
    assert decoded["context"]["action"] == "ec2:DescribeVpcs"
    assert decoded["context"]["principal"] == {"id": user["id"], "arn": user["arn"], "name": user["name"]}


def test_an_explicit_deny_names_its_statement_and_the_keys_it_read(rampart, decoder):
    user = new_user(rampart, "deny-ec2")
    deny = {"Version": "2012-10-17", "Statement": [
        {"Sid": "NoEc2OutsideEurope", "Effect": "Deny", "Action": "ec2:*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}}]}
    rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="deny", PolicyDocument=json.dumps(deny))
    decoded = json.loads(decoder.decode_authorization_message(
        EncodedMessage=denied_ec2_message(rampart, user))["DecodedMessage"])
    assert decoded["explicitDeny"] is True
    [statement] = decoded["matchedStatements"]["items"]
    assert statement["statementId"] == "NoEc2OutsideEurope"
    assert statement["effect"] == "DENY"
    conditions = {c["key"]: [v["value"] for v in c["values"]["items"]]
                  for c in decoded["context"]["conditions"]["items"]}
    assert conditions["aws:requestedregion"] == ["us-east-1"]


def test_the_aws_cli_decodes(rampart):
    user = new_user(rampart, "cli-no-ec2")
    encoded = denied_ec2_message(rampart, user)
    result = rampart.cli("sts", "decode-authorization-message", "--encoded-message", encoded).check()
    assert json.loads(result.json["DecodedMessage"])["context"]["action"] == "ec2:DescribeVpcs"


def test_decoding_needs_the_permission(rampart):
    user = new_user(rampart, "nosy")
    encoded = denied_ec2_message(rampart, user)
    with raises_aws("AccessDenied", 403):
        rampart.client("sts", user["creds"]).decode_authorization_message(EncodedMessage=encoded)


def test_an_altered_or_foreign_message_is_refused(rampart, decoder, server_factory):
    user = new_user(rampart, "altered")
    encoded = denied_ec2_message(rampart, user)
    flipped = encoded[:30] + ("A" if encoded[30] != "A" else "B") + encoded[31:]
    for bad in (flipped, "not-a-message", encoded[:-8]):
        with raises_aws("InvalidAuthorizationMessageException", 400):
            decoder.decode_authorization_message(EncodedMessage=bad)
    # Another node (another wrapping key, another account) cannot open it.
    other = server_factory(name="other-account")
    with raises_aws("InvalidAuthorizationMessageException", 400):
        other.client("sts").decode_authorization_message(EncodedMessage=encoded)
