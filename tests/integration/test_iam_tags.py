"""Tags on users, roles and customer managed policies (Tag*/Untag*/List*Tags),
tag validation, aws:ResourceTag on them, and ListEntitiesForPolicy."""

from __future__ import annotations

import json

from rampart_testlib import new_user, raises_aws, uniq

DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def test_role_and_policy_tags(rampart):
    iam = rampart.client("iam")
    role = uniq("tagged")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "env", "Value": "dev"}])
    iam.tag_role(RoleName=role, Tags=[{"Key": "ENV", "Value": "prod"}, {"Key": "team", "Value": "red"}])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [
        {"Key": "ENV", "Value": "prod"}, {"Key": "team", "Value": "red"}]
    iam.untag_role(RoleName=role, TagKeys=["env"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "team", "Value": "red"}]
    with raises_aws("NoSuchEntity", 404):
        iam.list_role_tags(RoleName=uniq("nosuch"))

    created = iam.create_policy(PolicyName=uniq("pol"), PolicyDocument=DOC, Description="reads",
                                Tags=[{"Key": "a", "Value": "1"}])["Policy"]
    assert created["Tags"] == [{"Key": "a", "Value": "1"}]
    assert "Description" not in created
    arn = created["Arn"]
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Description"] == "reads" and got["Tags"] == [{"Key": "a", "Value": "1"}]
    listed = [p for p in iam.list_policies(Scope="Local")["Policies"] if p["Arn"] == arn][0]
    assert "Description" not in listed
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "b", "Value": "2"}])
    iam.untag_policy(PolicyArn=arn, TagKeys=["a"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_duplicate_tag_keys_are_refused(rampart):
    iam = rampart.client("iam")
    dup = [{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}]
    for call in (lambda: iam.create_user(UserName=uniq("u"), Tags=dup),
                 lambda: iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=TRUST, Tags=dup),
                 lambda: iam.create_policy(PolicyName=uniq("p"), PolicyDocument=DOC, Tags=dup)):
        with raises_aws("InvalidInput", 400) as e:
            call()
        assert e.message == "Duplicate tag keys found. Please note that Tag keys are case insensitive."


def test_resource_tags_of_roles_and_policies_in_conditions(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "tagcond")
    iam.put_user_policy(UserName=user["name"], PolicyName="by-tag", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["iam:GetRole", "iam:GetPolicy"], "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}}]}))
    mine, theirs = uniq("mine"), uniq("theirs")
    iam.create_role(RoleName=mine, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "owner", "Value": user["name"]}])
    iam.create_role(RoleName=theirs, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "owner", "Value": "bob"}])
    policy = iam.create_policy(PolicyName=uniq("owned"), PolicyDocument=DOC,
                               Tags=[{"Key": "owner", "Value": user["name"]}])["Policy"]["Arn"]
    as_user = rampart.client("iam", user["creds"])
    as_user.get_role(RoleName=mine)
    as_user.get_policy(PolicyArn=policy)
    with raises_aws("AccessDenied", 403):
        as_user.get_role(RoleName=theirs)
    iam.untag_policy(PolicyArn=policy, TagKeys=["owner"])
    with raises_aws("AccessDenied", 403):
        as_user.get_policy(PolicyArn=policy)


def test_list_entities_for_policy(rampart):
    iam = rampart.client("iam")
    arn = iam.create_policy(PolicyName=uniq("shared"), PolicyDocument=DOC)["Policy"]["Arn"]
    user, group, role, bounded = uniq("u"), uniq("g"), uniq("r"), uniq("b")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    iam.create_user(UserName=bounded, PermissionsBoundary=arn)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    out = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in out["PolicyUsers"]] == sorted([user, bounded])
    assert [g["GroupName"] for g in out["PolicyGroups"]] == [group]
    assert [r["RoleName"] for r in out["PolicyRoles"]] == [role]
    assert out["PolicyRoles"][0]["RoleId"].startswith("AROA")
    only_users = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User", PolicyUsageFilter="PermissionsPolicy")
    assert [u["UserName"] for u in only_users["PolicyUsers"]] == [user]
    assert only_users["PolicyGroups"] == [] and only_users["PolicyRoles"] == []
    boundaries = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert [u["UserName"] for u in boundaries["PolicyUsers"]] == [bounded]
    first = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=2)
    assert first["IsTruncated"]
    rest = iam.list_entities_for_policy(PolicyArn=arn, Marker=first["Marker"])
    seen = len(first["PolicyUsers"] + first["PolicyGroups"] + first["PolicyRoles"]) + len(
        rest["PolicyUsers"] + rest["PolicyGroups"] + rest["PolicyRoles"])
    assert seen == 4
    with raises_aws("NoSuchEntity", 404):
        iam.list_entities_for_policy(PolicyArn=f"arn:aws:iam::{rampart.account_id}:policy/{uniq('none')}")


def test_account_authorization_details(fresh_rampart):
    server = fresh_rampart
    iam = server.client("iam")
    acct = server.account_id
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "red"}])
    iam.create_group(GroupName="ops")
    iam.add_user_to_group(GroupName="ops", UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="inline", PolicyDocument=DOC)
    iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="app", PolicyName="r", PolicyDocument=DOC)
    arn = iam.create_policy(PolicyName="mine", PolicyDocument=DOC)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=DOC, SetAsDefault=True)
    iam.attach_group_policy(GroupName="ops", PolicyArn=arn)

    out = iam.get_account_authorization_details()
    [user] = out["UserDetailList"]
    assert user["UserName"] == "alice" and user["GroupList"] == ["ops"]
    assert user["UserPolicyList"][0]["PolicyName"] == "inline"
    assert user["UserPolicyList"][0]["PolicyDocument"] == json.loads(DOC)
    assert user["AttachedManagedPolicies"] == [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
    assert user["Tags"] == [{"Key": "team", "Value": "red"}]
    [group] = out["GroupDetailList"]
    assert group["AttachedManagedPolicies"][0]["PolicyArn"] == arn
    [role] = out["RoleDetailList"]
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST) and role["RolePolicyList"][0]["PolicyName"] == "r"
    policies = {p["Arn"]: p for p in out["Policies"]}
    assert set(policies) == {arn, "arn:aws:iam::aws:policy/ReadOnlyAccess"}
    assert [v["VersionId"] for v in policies[arn]["PolicyVersionList"]] == ["v1", "v2"]
    assert policies[arn]["DefaultVersionId"] == "v2" and policies[arn]["AttachmentCount"] == 1
    assert policies["arn:aws:iam::aws:policy/ReadOnlyAccess"]["PolicyVersionList"][0]["IsDefaultVersion"]

    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and len(only_roles["RoleDetailList"]) == 1
    seen, marker = 0, None
    while True:
        kw = {"MaxItems": 1, **({"Marker": marker} if marker else {})}
        page = iam.get_account_authorization_details(**kw)
        seen += sum(len(page[k]) for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"))
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == 5
    assert acct in user["Arn"]
