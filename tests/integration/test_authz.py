"""Authorization of a user without policies: root may do everything, an IAM user with no
policies may do nothing but sts:GetCallerIdentity (test_policies.py covers users with policies).

AWS: IAM/STS deny with AccessDenied 403 "User: ARN is not authorized to perform: ACTION on
resource: RES because no identity-based policy allows the ACTION action"; JSON services with
AccessDeniedException 400; EC2 with UnauthorizedOperation 403. Authorization happens before the
handler, so a denied caller learns nothing about whether the target exists.
"""

from __future__ import annotations

import pytest

from rampart_testlib import new_user, raises_aws, uniq


@pytest.fixture(scope="module")
def bob(rampart):
    return new_user(rampart, "bob")


@pytest.fixture(scope="module")
def bob_iam(rampart, bob):
    return rampart.client("iam", bob["creds"])


def denied_message(user_arn: str, action: str, resource: str | None) -> str:
    on = f" on resource: {resource}" if resource else ""
    return (f"User: {user_arn} is not authorized to perform: {action}{on} "
            f"because no identity-based policy allows the {action} action")


def test_user_may_get_caller_identity(rampart, bob):
    ident = rampart.client("sts", bob["creds"]).get_caller_identity()
    assert ident == {**ident, "Arn": bob["arn"], "UserId": bob["id"], "Account": rampart.account_id}


def test_user_list_users_denied(rampart, bob, bob_iam):
    with raises_aws("AccessDenied", 403) as e:
        bob_iam.list_users()
    assert e.message == denied_message(bob["arn"], "iam:ListUsers", f"arn:aws:iam::{rampart.account_id}:user/")


def test_user_create_user_denied_and_nothing_created(rampart, bob, bob_iam):
    name = uniq("escalate")
    with raises_aws("AccessDenied", 403) as e:
        bob_iam.create_user(UserName=name)
    assert e.message.startswith(f"User: {bob['arn']} is not authorized to perform: iam:CreateUser")
    assert f"arn:aws:iam::{rampart.account_id}:user/{name}" in e.message
    with raises_aws("NoSuchEntity", 404):
        rampart.client("iam").get_user(UserName=name)


def test_user_cannot_read_itself_without_policy(bob, bob_iam):
    with raises_aws("AccessDenied", 403) as e:
        bob_iam.get_user()
    assert "iam:GetUser" in e.message and bob["arn"] in e.message
    with raises_aws("AccessDenied", 403):
        bob_iam.get_user(UserName=bob["name"])


def test_denial_does_not_leak_existence(bob_iam):
    # a missing user must look exactly like an existing one to an unauthorized caller
    with raises_aws("AccessDenied", 403):
        bob_iam.get_user(UserName=uniq("doesnotexist"))
    with raises_aws("AccessDenied", 403):
        bob_iam.delete_user(UserName=uniq("doesnotexist"))


def test_user_cannot_manage_keys(rampart, bob, bob_iam):
    with raises_aws("AccessDenied", 403):
        bob_iam.create_access_key()
    with raises_aws("AccessDenied", 403):
        bob_iam.create_access_key(UserName=bob["name"])
    with raises_aws("AccessDenied", 403):
        bob_iam.list_access_keys()
    with raises_aws("AccessDenied", 403):
        bob_iam.update_access_key(UserName=bob["name"], AccessKeyId=bob["key"], Status="Inactive")
    with raises_aws("AccessDenied", 403):
        bob_iam.delete_access_key(UserName=bob["name"], AccessKeyId=bob["key"])
    with raises_aws("AccessDenied", 403):
        bob_iam.get_access_key_last_used(AccessKeyId=bob["key"])
    md = rampart.client("iam").list_access_keys(UserName=bob["name"])["AccessKeyMetadata"]
    assert [(m["AccessKeyId"], m["Status"]) for m in md] == [(bob["key"], "Active")]


def test_user_cannot_touch_other_users(rampart, bob_iam):
    iam = rampart.client("iam")
    victim = uniq("victim")
    iam.create_user(UserName=victim)
    with raises_aws("AccessDenied", 403):
        bob_iam.create_access_key(UserName=victim)
    with raises_aws("AccessDenied", 403):
        bob_iam.update_user(UserName=victim, NewUserName=uniq("renamed"))
    with raises_aws("AccessDenied", 403):
        bob_iam.delete_user(UserName=victim)
    assert iam.get_user(UserName=victim)["User"]["UserName"] == victim
    assert iam.list_access_keys(UserName=victim)["AccessKeyMetadata"] == []


def test_user_cannot_delete_itself(rampart, bob, bob_iam):
    with raises_aws("AccessDenied", 403):
        bob_iam.delete_user(UserName=bob["name"])
    assert rampart.client("iam").get_user(UserName=bob["name"])["User"]["UserId"] == bob["id"]


def test_user_lookup_events_denied(rampart, bob):
    with raises_aws("AccessDeniedException", 400) as e:
        rampart.client("cloudtrail", bob["creds"]).lookup_events(MaxResults=1)
    assert bob["arn"] in e.message and "cloudtrail:LookupEvents" in e.message


@pytest.mark.parametrize(
    "service,call",
    [
        ("kms", lambda c: c.list_keys()),
        ("kms", lambda c: c.create_key()),
        ("logs", lambda c: c.describe_log_groups()),
        ("config", lambda c: c.describe_config_rules()),
        ("cloudtrail", lambda c: c.describe_trails()),
    ],
    ids=["kms-ListKeys", "kms-CreateKey", "logs-DescribeLogGroups", "config-DescribeConfigRules",
         "cloudtrail-DescribeTrails"],
)
def test_user_denied_on_json_services(rampart, bob, service, call):
    with raises_aws("AccessDeniedException", 400) as e:
        call(rampart.client(service, bob["creds"]))
    assert bob["arn"] in e.message


def test_user_denied_on_ec2(rampart, bob):
    with raises_aws("UnauthorizedOperation", 403):
        rampart.client("ec2", bob["creds"]).describe_vpcs()


def test_user_denied_on_cloudwatch(rampart, bob):
    with raises_aws({"AccessDenied", "AccessDeniedException"}) as e:
        rampart.client("cloudwatch", bob["creds"]).list_metrics()
    assert 400 <= e.status < 500


def test_root_may_do_everything_implemented(rampart):
    iam = rampart.client("iam")
    name = uniq("rootdoes")
    iam.create_user(UserName=name)
    iam.get_user(UserName=name)
    iam.list_users(MaxItems=1)
    iam.update_user(UserName=name, NewPath="/r/")
    k = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.list_access_keys(UserName=name)
    iam.update_access_key(UserName=name, AccessKeyId=k, Status="Inactive")
    iam.get_access_key_last_used(AccessKeyId=k)
    iam.delete_access_key(UserName=name, AccessKeyId=k)
    iam.delete_user(UserName=name)
    rampart.client("sts").get_caller_identity()
    rampart.client("cloudtrail").lookup_events(MaxResults=1)


def test_denials_leave_bob_functional(rampart, bob):
    # a string of denials must not lock the key or the user
    assert rampart.client("sts", bob["creds"]).get_caller_identity()["Arn"] == bob["arn"]
