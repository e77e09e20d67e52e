"""Instance profiles: the first IAM operations added through the registry (one handler
module, its registry entries and access rules, these tests). AWS's behaviour: one role per
profile, a role in a profile cannot be deleted, a profile with a role cannot be deleted,
and adding a role needs iam:PassRole on it as well as iam:AddRoleToInstanceProfile."""

from __future__ import annotations

import json
import re

from rampart_testlib import attr, new_user, raises_aws, uniq, wait_for_events, ua_marker

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_create_get_list_delete(rampart):
    iam = rampart.client("iam")
    name = uniq("prof")
    created = iam.create_instance_profile(InstanceProfileName=name, Path="/web/",
                                          Tags=[{"Key": "team", "Value": "red"}])["InstanceProfile"]
    assert created["InstanceProfileName"] == name and created["Path"] == "/web/"
    assert created["Arn"] == f"arn:aws:iam::{rampart.account_id}:instance-profile/web/{name}"
    assert re.fullmatch(r"AIPA[A-Z0-9]{17}", created["InstanceProfileId"]), created["InstanceProfileId"]
    assert created["Roles"] == [] and created["Tags"] == [{"Key": "team", "Value": "red"}]
    got = iam.get_instance_profile(InstanceProfileName=name.upper())["InstanceProfile"]
    assert got["InstanceProfileId"] == created["InstanceProfileId"] and got["InstanceProfileName"] == name
    listed = iam.list_instance_profiles(PathPrefix="/web/")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == [name]
    assert name not in [p["InstanceProfileName"] for p in iam.list_instance_profiles(PathPrefix="/db/")
                        ["InstanceProfiles"]]
    with raises_aws("EntityAlreadyExists", 409) as e:
        iam.create_instance_profile(InstanceProfileName=name)
    assert e.message == f"Instance Profile {name} already exists."
    iam.delete_instance_profile(InstanceProfileName=name)
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_instance_profile(InstanceProfileName=name)
    assert e.message == f"Instance Profile {name} cannot be found."
    with raises_aws("NoSuchEntity", 404):
        iam.delete_instance_profile(InstanceProfileName=name)


def test_listing_pages(rampart):
    iam = rampart.client("iam")
    path = f"/{uniq('page')}/"
    names = sorted(uniq("p") for _ in range(3))
    for n in names:
        iam.create_instance_profile(InstanceProfileName=n, Path=path)
    first = iam.list_instance_profiles(PathPrefix=path, MaxItems=2)
    assert first["IsTruncated"] is True and len(first["InstanceProfiles"]) == 2
    rest = iam.list_instance_profiles(PathPrefix=path, Marker=first["Marker"])
    assert rest["IsTruncated"] is False
    assert [p["InstanceProfileName"] for p in first["InstanceProfiles"] + rest["InstanceProfiles"]] == names


def test_one_role_per_profile_and_deletion_conflicts(rampart):
    iam = rampart.client("iam")
    profile, role, other = uniq("prof"), uniq("role"), uniq("role")
    iam.create_instance_profile(InstanceProfileName=profile)
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.create_role(RoleName=other, AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    with raises_aws("LimitExceeded", 409) as e:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=other)
    assert e.message == "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"
    got = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    assert [r["Arn"] for r in got["Roles"]] == [role_arn]
    for_role = iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in for_role] == [profile]
    assert iam.list_instance_profiles_for_role(RoleName=other)["InstanceProfiles"] == []
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_role(RoleName=role)
    assert e.message == "Cannot delete entity, must remove roles from instance profile first."
    with raises_aws("DeleteConflict", 409):
        iam.delete_instance_profile(InstanceProfileName=profile)
    details = iam.get_account_authorization_details(Filter=["Role"])["RoleDetailList"]
    [detail] = [d for d in details if d["RoleName"] == role]
    assert [p["InstanceProfileName"] for p in detail["InstanceProfileList"]] == [profile]
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    with raises_aws("NoSuchEntity", 404):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    with raises_aws("NoSuchEntity", 404) as e:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=uniq("absent"))
    assert "cannot be found" in e.message
    iam.delete_role(RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=profile)
    with raises_aws("NoSuchEntity", 404):
        iam.list_instance_profiles_for_role(RoleName=role)


def test_adding_a_role_needs_pass_role_on_it(rampart):
    iam = rampart.client("iam")
    profile, role = uniq("prof"), uniq("role")
    profile_arn = iam.create_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    user = new_user(rampart, "ipuser")
    iam.put_user_policy(UserName=user["name"], PolicyName="add", PolicyDocument=policy(
        {"Effect": "Allow", "Action": "iam:AddRoleToInstanceProfile", "Resource": profile_arn}))
    as_user = rampart.client("iam", user["creds"])
    with raises_aws("AccessDenied", 403) as e:
        as_user.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    assert e.message == (f"User: {user['arn']} is not authorized to perform: iam:PassRole on resource: "
                         f"{role_arn} because no identity-based policy allows the iam:PassRole action")
    assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"] == []
    iam.put_user_policy(UserName=user["name"], PolicyName="pass", PolicyDocument=policy(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn}))
    as_user.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    assert len(iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]) == 1
    # Access to one profile is not access to another, however the name is spelt.
    other = uniq("prof")
    iam.create_instance_profile(InstanceProfileName=other)
    with raises_aws("AccessDenied", 403):
        as_user.get_instance_profile(InstanceProfileName=other.upper())


def test_records_and_cli(rampart):
    marker = ua_marker()
    name = uniq("cliprof")
    out = rampart.cli("iam", "create-instance-profile", "--instance-profile-name", name).check().json
    assert out["InstanceProfile"]["InstanceProfileName"] == name
    iam = rampart.client("iam", user_agent_extra=marker)
    iam.delete_instance_profile(InstanceProfileName=name)
    ct = rampart.client("cloudtrail")
    [event] = wait_for_events(ct, lambda e, r: marker in r.get("userAgent", ""),
                              LookupAttributes=attr("EventName", "DeleteInstanceProfile"))
    assert event["Resources"] == [{"ResourceType": "AWS::IAM::InstanceProfile", "ResourceName": name}]
    assert json.loads(event["CloudTrailEvent"])["readOnly"] is False


def test_profiles_survive_a_restart(fresh_rampart):
    srv = fresh_rampart
    iam = srv.client("iam")
    profile, role = uniq("keep"), uniq("role")
    iam.create_instance_profile(InstanceProfileName=profile, Path="/kept/")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    srv.restart()
    got = srv.client("iam").get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    assert got["Path"] == "/kept/" and [r["RoleName"] for r in got["Roles"]] == [role]


def test_tags(rampart):
    iam = rampart.client("iam")
    name = uniq("tagged")
    iam.create_instance_profile(InstanceProfileName=name, Tags=[{"Key": "team", "Value": "red"}])
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "TEAM", "Value": "blue"},
                                                             {"Key": "env", "Value": "prod"}])
    tags = iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("TEAM", "blue"), ("env", "prod")]
    with raises_aws("InvalidInput", 400):
        iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "a", "Value": "1"},
                                                                 {"Key": "A", "Value": "2"}])
    iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["team"])
    assert [t["Key"] for t in iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"]] == ["env"]
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Tags"] == [
        {"Key": "env", "Value": "prod"}]
    with raises_aws("NoSuchEntity", 404):
        iam.list_instance_profile_tags(InstanceProfileName=uniq("absent"))


def test_resource_tags_decide_access_to_a_profile(rampart):
    iam = rampart.client("iam")
    mine, theirs = uniq("mine"), uniq("theirs")
    iam.create_instance_profile(InstanceProfileName=mine, Tags=[{"Key": "owner", "Value": "me"}])
    iam.create_instance_profile(InstanceProfileName=theirs, Tags=[{"Key": "owner", "Value": "them"}])
    user = new_user(rampart, "tagcond")
    iam.put_user_policy(UserName=user["name"], PolicyName="own", PolicyDocument=policy(
        {"Effect": "Allow", "Action": "iam:GetInstanceProfile", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/owner": "me"}}}))
    as_user = rampart.client("iam", user["creds"])
    assert as_user.get_instance_profile(InstanceProfileName=mine)["InstanceProfile"]["InstanceProfileName"] == mine
    with raises_aws("AccessDenied", 403):
        as_user.get_instance_profile(InstanceProfileName=theirs)
