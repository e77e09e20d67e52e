"""Identity-based policies enforced on every request (issue 4's first slice).

Inline user policies (Put/Get/List/DeleteUserPolicy) are evaluated by the policy
engine for every call an IAM user makes: ${aws:username} variables, explicit
deny over allow, conditions on aws:RequestedRegion and aws:SourceIp. Denials
carry AWS's message; the audit record names the deciding statement, the
response never does.
"""

from __future__ import annotations

import json

import pytest

from rampart_testlib import create_user_with_key, raises_aws, record, ua_marker, uniq, wait_for_events


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def user(rampart):
    """A fresh user with a key, and a helper to give it an inline policy."""
    u, creds = create_user_with_key(rampart)
    iam = rampart.client("iam")

    def allow(*statements: dict, name: str = "p") -> None:
        iam.put_user_policy(UserName=u["UserName"], PolicyName=name, PolicyDocument=doc(*statements))

    return {"user": u, "creds": creds, "allow": allow, "name": u["UserName"]}


def test_username_variable_reads_itself_and_nobody_else(rampart, user):
    other, _ = create_user_with_key(rampart)
    acct = rampart.account_id
    user["allow"]({"Effect": "Allow", "Action": "iam:GetUser",
                   "Resource": f"arn:aws:iam::{acct}:user/${{aws:username}}"})
    iam = rampart.client("iam", user["creds"])
    assert iam.get_user(UserName=user["name"])["User"]["UserName"] == user["name"]
    assert iam.get_user()["User"]["UserName"] == user["name"]
    with raises_aws("AccessDenied", 403) as e:
        iam.get_user(UserName=other["UserName"])
    assert e.message == (
        f"User: {user['user']['Arn']} is not authorized to perform: iam:GetUser on resource: "
        f"arn:aws:iam::{acct}:user/{other['UserName']} because no identity-based policy allows the iam:GetUser action"
    )


def test_explicit_deny_beats_every_allow(rampart, user):
    user["allow"]({"Sid": "All", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                  {"Sid": "NoDeletes", "Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"})
    iam = rampart.client("iam", user["creds"])
    iam.list_users()
    victim = uniq("victim")
    iam.create_user(UserName=victim)
    marker = ua_marker()
    denied = rampart.client("iam", user["creds"], user_agent_extra=marker)
    with raises_aws("AccessDenied", 403) as e:
        denied.delete_user(UserName=victim)
    assert "with an explicit deny in an identity-based policy" in e.message
    assert "NoDeletes" not in e.message, "a denial must not reveal the deciding statement"
    rampart.client("iam").get_user(UserName=victim)  # still there
    [ev] = wait_for_events(rampart.client("cloudtrail"), lambda e, r: marker in r.get("userAgent", ""))
    auth = record(ev)["additionalEventData"]["authorization"]
    assert auth["decision"] == "ExplicitDeny"
    assert auth["statement"]["sid"] == "NoDeletes"


def test_requested_region_condition(rampart, user):
    user["allow"]({"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}})
    rampart.client("cloudtrail", user["creds"], region="eu-west-1").lookup_events(MaxResults=1)
    with raises_aws("AccessDeniedException", 400) as e:
        rampart.client("cloudtrail", user["creds"], region="us-east-1").lookup_events(MaxResults=1)
    assert "cloudtrail:LookupEvents" in e.message


@pytest.mark.parametrize("cidr,allowed", [("127.0.0.0/8", True), ("10.0.0.0/8", False)])
def test_source_ip_condition(rampart, user, cidr, allowed):
    user["allow"]({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                   "Condition": {"IpAddress": {"aws:SourceIp": cidr}}})
    iam = rampart.client("iam", user["creds"])
    if allowed:
        iam.list_users()
    else:
        with raises_aws("AccessDenied", 403):
            iam.list_users()


def test_not_secure_transport_deny(rampart, user):
    user["allow"]({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
                  {"Effect": "Deny", "Action": "*", "Resource": "*",
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", user["creds"]).list_users()


def test_policy_document_round_trip_and_listing(rampart, user):
    iam = rampart.client("iam")
    statement = {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListUsers"], "Resource": "*"}
    user["allow"](statement, name="ReadUsers")
    got = iam.get_user_policy(UserName=user["name"], PolicyName="ReadUsers")
    assert got["PolicyDocument"] == json.loads(doc(statement))
    assert iam.list_user_policies(UserName=user["name"])["PolicyNames"] == ["ReadUsers"]
    for key in iam.list_access_keys(UserName=user["name"])["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user["name"], AccessKeyId=key["AccessKeyId"])
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_user(UserName=user["name"])
    assert e.message == "Cannot delete entity, must delete policies first."
    iam.delete_user_policy(UserName=user["name"], PolicyName="ReadUsers")
    assert iam.list_user_policies(UserName=user["name"])["PolicyNames"] == []
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_user_policy(UserName=user["name"], PolicyName="ReadUsers")
    assert e.message == "The user policy with name ReadUsers cannot be found."


def test_policy_change_takes_effect_on_the_next_request(rampart, user):
    iam = rampart.client("iam", user["creds"])
    with raises_aws("AccessDenied", 403):
        iam.list_users()
    user["allow"]({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"})
    iam.list_users()
    rampart.client("iam").delete_user_policy(UserName=user["name"], PolicyName="p")
    with raises_aws("AccessDenied", 403):
        iam.list_users()


@pytest.mark.parametrize("document,fragment", [
    ("{not json", "Syntax errors in policy."),
    (doc({"Effect": "Allow", "Action": "iam:*"}), "Policy statement must contain resources."),
    (doc({"Effect": "Allow", "Principal": "*", "Action": "iam:*", "Resource": "*"}), "should not specify a principal"),
    (doc({"Effect": "Allow", "Action": "GetUser", "Resource": "*"}), "prefaced by a vendor"),
])
def test_malformed_policies_are_refused(rampart, user, document, fragment):
    with raises_aws("MalformedPolicyDocument", 400) as e:
        rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="bad", PolicyDocument=document)
    assert fragment in e.message


def test_inline_policy_size_quota(rampart, user):
    big = doc(*[{"Effect": "Allow", "Action": f"iam:Get{'X' * 40}{i}", "Resource": "*"} for i in range(40)])
    with raises_aws("LimitExceeded", 409) as e:
        rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="big", PolicyDocument=big)
    assert e.message == f"Maximum policy size of 2048 bytes exceeded for user {user['name']}"


def test_policies_survive_restart(fresh_rampart):
    u, creds = create_user_with_key(fresh_rampart)
    fresh_rampart.client("iam").put_user_policy(
        UserName=u["UserName"], PolicyName="list",
        PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))
    fresh_rampart.restart()
    fresh_rampart.client("iam", creds).list_users()


def test_managed_policy_attach_and_permissions_boundary_limit_an_admin(rampart, user):
    iam = rampart.client("iam")
    acct = rampart.account_id
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert iam.get_policy(PolicyArn=admin)["Policy"]["PolicyName"] == "AdministratorAccess"
    iam.attach_user_policy(UserName=user["name"], PolicyArn=admin)
    assert iam.list_attached_user_policies(UserName=user["name"])["AttachedPolicies"] == [
        {"PolicyName": "AdministratorAccess", "PolicyArn": admin}]
    as_user = rampart.client("iam", user["creds"])
    victim = uniq("v")
    as_user.create_user(UserName=victim)  # an admin may

    boundary_name = uniq("ReadOnlyBoundary")
    created = iam.create_policy(PolicyName=boundary_name, PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}))["Policy"]
    assert created["Arn"] == f"arn:aws:iam::{acct}:policy/{boundary_name}"
    assert created["PolicyId"].startswith("ANPA")
    iam.put_user_permissions_boundary(UserName=user["name"], PermissionsBoundary=created["Arn"])
    assert iam.get_user(UserName=user["name"])["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": created["Arn"]}
    as_user.list_users()
    with raises_aws("AccessDenied", 403) as e:
        as_user.delete_user(UserName=victim)
    assert "because no permissions boundary allows the iam:DeleteUser action" in e.message

    with raises_aws("DeleteConflict", 409):
        iam.delete_policy(PolicyArn=created["Arn"])
    iam.delete_user_permissions_boundary(UserName=user["name"])
    as_user.delete_user(UserName=victim)
    iam.delete_policy(PolicyArn=created["Arn"])
    with raises_aws("NoSuchEntity", 404):
        iam.get_policy(PolicyArn=created["Arn"])


def test_attach_errors(rampart, user):
    iam = rampart.client("iam")
    missing = f"arn:aws:iam::{rampart.account_id}:policy/nope"
    with raises_aws("NoSuchEntity", 404) as e:
        iam.attach_user_policy(UserName=user["name"], PolicyArn=missing)
    assert e.message == f"Policy {missing} does not exist or is not attachable."
    with raises_aws("NoSuchEntity", 404):
        iam.put_user_permissions_boundary(UserName=user["name"], PermissionsBoundary=missing)
    arns = []
    for i in range(11):
        arns.append(iam.create_policy(PolicyName=uniq(f"q{i}"), PolicyDocument=doc(
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))["Policy"]["Arn"])
    for arn in arns[:10]:
        iam.attach_user_policy(UserName=user["name"], PolicyArn=arn)
    with raises_aws("LimitExceeded", 409) as e:
        iam.attach_user_policy(UserName=user["name"], PolicyArn=arns[10])
    assert e.message == "Cannot exceed quota for PoliciesPerUser: 10"
    listed = {p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]}
    assert set(arns[:10]) <= listed and arns[10] not in listed


def test_aws_managed_policies_are_listed_read_and_enforced(rampart, user):
    iam = rampart.client("iam")
    first = iam.list_policies(Scope="AWS")
    assert first["IsTruncated"] and len(first["Policies"]) == 100, "pages of IAM's default 100"
    pages = list(iam.get_paginator("list_policies").paginate(Scope="AWS"))
    listed = {p["PolicyName"]: p for page in pages for p in page["Policies"]}
    assert len(listed) == sum(len(page["Policies"]) for page in pages) >= 1400, "AWS's whole set, once each"
    assert {"AdministratorAccess", "ReadOnlyAccess", "SecurityAudit", "AWSCloudShellFullAccess"} <= set(listed)
    shell = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AWSCloudShellFullAccess")["Policy"]
    assert shell["PolicyName"] == "AWSCloudShellFullAccess"
    assert all(p["Arn"] == f"arn:aws:iam::aws:policy{p['Path']}{p['PolicyName']}" for p in listed.values())
    job_functions = iam.list_policies(Scope="AWS", PathPrefix="/job-function/")["Policies"]
    assert "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess" in {p["Arn"] for p in job_functions}

    arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    before = iam.get_policy(PolicyArn=arn)["Policy"]
    assert before["PolicyId"].startswith("ANPA") and len(before["PolicyId"]) == 21
    assert before["DefaultVersionId"] != "v1" and before["UpdateDate"] > before["CreateDate"]
    assert {k: v for k, v in before.items() if k != "AttachmentCount"} == {
        k: v for k, v in listed["ReadOnlyAccess"].items() if k != "AttachmentCount"}
    version = iam.get_policy_version(PolicyArn=arn, VersionId=before["DefaultVersionId"])["PolicyVersion"]
    assert version["IsDefaultVersion"] and "iam:Get*" in version["Document"]["Statement"][0]["Action"]
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [
        before["DefaultVersionId"]]

    iam.attach_user_policy(UserName=user["name"], PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == before["AttachmentCount"] + 1
    as_user = rampart.client("iam", user["creds"])
    assert as_user.get_user(UserName=user["name"])["User"]["UserName"] == user["name"]
    with raises_aws("AccessDenied", 403) as e:
        as_user.create_user(UserName=uniq("nope"))
    assert "because no identity-based policy allows the iam:CreateUser action" in e.message
    iam.detach_user_policy(UserName=user["name"], PolicyArn=arn)
    with raises_aws("AccessDenied", 403):
        as_user.get_user(UserName=user["name"])


def enforced(call) -> bool:
    try:
        call()
        return True
    except Exception as exc:  # noqa: BLE001 - the AccessDenied check below
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        assert code in ("AccessDenied", "AccessDeniedException"), exc
        return False


@pytest.mark.parametrize("statements,action,target,region", [
    ([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::{acct}:user/${aws:username}"}],
     "iam:GetUser", "self", "us-east-1"),
    ([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::{acct}:user/${aws:username}"}],
     "iam:GetUser", "other", "us-east-1"),
    ([{"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
      {"Effect": "Deny", "Action": "iam:GetUser", "Resource": "*"}], "iam:GetUser", "other", "us-east-1"),
    ([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*",
       "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}], "iam:GetUser", "other", "us-east-1"),
    ([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*",
       "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}], "iam:GetUser", "other", "us-east-1"),
    ([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*",
       "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], "iam:GetUser", "other", "us-east-1"),
    ([{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"},
      {"Effect": "Deny", "NotAction": "iam:ListUsers", "Resource": "*",
       "Condition": {"StringNotEquals": {"aws:username": "nobody"}}}], "iam:GetUser", "other", "us-east-1"),
])
def test_simulator_agrees_with_enforcement(rampart, user, statements, action, target, region):
    acct = rampart.account_id
    other, _ = create_user_with_key(rampart)
    resolved = json.loads(json.dumps(statements).replace("{acct}", acct))
    user["allow"](*resolved)
    name = user["name"] if target == "self" else other["UserName"]
    as_user = rampart.client("iam", user["creds"], region=region)
    live = enforced(lambda: as_user.get_user(UserName=name))
    context = [
        {"ContextKeyName": "aws:username", "ContextKeyValues": [user["name"]], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["127.0.0.1"], "ContextKeyType": "ip"},
        {"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": ["us-east-1"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:SecureTransport", "ContextKeyValues": ["false"], "ContextKeyType": "boolean"},
    ]
    sim = rampart.client("iam").simulate_principal_policy(
        PolicySourceArn=user["user"]["Arn"], ActionNames=[action],
        ResourceArns=[f"arn:aws:iam::{acct}:user/{name}"], ContextEntries=context)
    [result] = sim["EvaluationResults"]
    assert (result["EvalDecision"] == "allowed") == live, result


def test_simulate_custom_policy_and_context_keys(rampart, user):
    iam = rampart.client("iam")
    policy = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}/*",
                  "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    out = iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:GetObject", "s3:PutObject"],
                                     ResourceArns=["arn:aws:s3:::b/bob/k"],
                                     ContextEntries=[{"ContextKeyName": "aws:username", "ContextKeyValues": ["bob"],
                                                      "ContextKeyType": "string"}])
    by_action = {r["EvalActionName"]: r for r in out["EvaluationResults"]}
    assert by_action["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:GetObject"]["MissingContextValues"] == ["aws:SourceIp"]
    assert by_action["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[policy])["ContextKeyNames"]
    assert sorted(k.lower() for k in keys) == ["aws:sourceip", "aws:username"]
    user["allow"]({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=user["user"]["Arn"])["ContextKeyNames"]
    assert [k.lower() for k in keys] == ["aws:requestedregion"]


def test_group_policies_apply_to_members(rampart, user):
    iam = rampart.client("iam")
    group = uniq("readers")
    created = iam.create_group(GroupName=group)["Group"]
    assert created["GroupId"].startswith("AGPA") and created["Arn"].endswith(f":group/{group}")
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_group(GroupName=group.upper())
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))
    as_user = rampart.client("iam", user["creds"])
    with raises_aws("AccessDenied", 403):
        as_user.list_users()
    iam.add_user_to_group(GroupName=group, UserName=user["name"])
    as_user.list_users()
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user["name"])["Groups"]] == [group]
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user["name"]]
    assert iam.get_group_policy(GroupName=group, PolicyName="list")["PolicyDocument"]["Statement"][0]["Action"] == "iam:ListUsers"
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    as_user.create_group(GroupName=uniq("made-by-member"))
    iam.detach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_group(GroupName=group)
    assert e.message == "Cannot delete entity, must remove users from group first."
    iam.remove_user_from_group(GroupName=group, UserName=user["name"])
    with raises_aws("AccessDenied", 403):
        as_user.list_users()
    with raises_aws("DeleteConflict", 409):
        iam.delete_group(GroupName=group)
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    iam.delete_group(GroupName=group)
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_group(GroupName=group)
    assert e.message == f"The group with name {group} cannot be found."


def test_principal_tag_conditions_follow_user_tags(rampart, user):
    iam = rampart.client("iam")
    user["allow"]({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}})
    as_user = rampart.client("iam", user["creds"])
    with raises_aws("AccessDenied", 403):
        as_user.list_users()
    iam.tag_user(UserName=user["name"], Tags=[{"Key": "team", "Value": "blue"}])
    as_user.list_users()
    assert iam.list_user_tags(UserName=user["name"])["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.tag_user(UserName=user["name"], Tags=[{"Key": "Team", "Value": "red"}])
    assert iam.list_user_tags(UserName=user["name"])["Tags"] == [{"Key": "Team", "Value": "red"}]
    with raises_aws("AccessDenied", 403):
        as_user.list_users()
    iam.untag_user(UserName=user["name"], TagKeys=["team"])
    assert iam.list_user_tags(UserName=user["name"])["Tags"] == []


def test_policy_versions_change_what_attached_users_may_do(rampart, user):
    iam = rampart.client("iam")
    arn = iam.create_policy(PolicyName=uniq("versioned"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user["name"], PolicyArn=arn)
    as_user = rampart.client("iam", user["creds"])
    with raises_aws("AccessDenied", 403):
        as_user.list_users()
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListUsers"], "Resource": "*"}))["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is False
    with raises_aws("AccessDenied", 403):
        as_user.list_users()
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    as_user.list_users()
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert got["Document"]["Statement"][0]["Action"] == "iam:GetUser" and got["IsDefaultVersion"] is False
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v2", "v1"]
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert e.message == "Cannot delete the default version of a policy."
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    with raises_aws("LimitExceeded", 409):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    # Version ids are never reused: v1 was deleted, v2..v6 remain.
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]][0] == "v6"


def test_tag_based_access_control(rampart, user):
    """aws:ResourceTag from the target user's tags, aws:RequestTag and aws:TagKeys from the request."""
    iam = rampart.client("iam")
    blue, red = uniq("blue"), uniq("red")
    iam.create_user(UserName=blue, Tags=[{"Key": "team", "Value": "blue"}])
    iam.create_user(UserName=red, Tags=[{"Key": "team", "Value": "red"}])
    user["allow"](
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}},
        {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}})
    as_user = rampart.client("iam", user["creds"])
    as_user.get_user(UserName=blue)
    with raises_aws("AccessDenied", 403):
        as_user.get_user(UserName=red)
    as_user.create_user(UserName=uniq("ok"), Tags=[{"Key": "team", "Value": "blue"}])
    with raises_aws("AccessDenied", 403):
        as_user.create_user(UserName=uniq("no"), Tags=[{"Key": "team", "Value": "red"}])
    with raises_aws("AccessDenied", 403):
        as_user.create_user(UserName=uniq("no"), Tags=[{"Key": "team", "Value": "blue"}, {"Key": "cost", "Value": "1"}])
    with raises_aws("AccessDenied", 403):
        as_user.create_user(UserName=uniq("no"))


def test_service_condition_keys_only_where_aws_sets_them(rampart, user):
    # iam:PolicyARN is carried by AttachUserPolicy, not by GetPolicy.
    iam = rampart.client("iam")
    allowed = iam.create_policy(PolicyName=uniq("ok"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))["Policy"]["Arn"]
    other = iam.create_policy(PolicyName=uniq("no"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))["Policy"]["Arn"]
    user["allow"]({"Effect": "Allow", "Action": ["iam:AttachUserPolicy", "iam:GetPolicy"], "Resource": "*",
                   "Condition": {"ArnEquals": {"iam:PolicyARN": allowed}}})
    as_user = rampart.client("iam", user["creds"])
    as_user.attach_user_policy(UserName=user["name"], PolicyArn=allowed)
    with raises_aws("AccessDenied", 403):
        as_user.attach_user_policy(UserName=user["name"], PolicyArn=other)
    with raises_aws("AccessDenied", 403):
        as_user.get_policy(PolicyArn=allowed)


def test_permissions_boundary_key_is_the_targets_boundary(rampart, user):
    iam = rampart.client("iam")
    guard = iam.create_policy(PolicyName=uniq("guard"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"}))["Policy"]["Arn"]
    protected, plain = uniq("protected"), uniq("plain")
    iam.create_user(UserName=protected, PermissionsBoundary=guard)
    iam.create_user(UserName=plain)
    # Users with the guard boundary may not be given more policies.
    user["allow"]({"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": "*"},
                  {"Effect": "Deny", "Action": "iam:AttachUserPolicy", "Resource": "*",
                   "Condition": {"StringEquals": {"iam:PermissionsBoundary": guard}}})
    as_user = rampart.client("iam", user["creds"])
    readonly = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    as_user.attach_user_policy(UserName=plain, PolicyArn=readonly)
    with raises_aws("AccessDenied", 403):
        as_user.attach_user_policy(UserName=protected, PolicyArn=readonly)
