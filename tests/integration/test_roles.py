"""Roles: CRUD, trust policies checked as resource-based policies, role inline
and attached policies, boundaries, and the errors AWS gives."""

from __future__ import annotations

import json

import pytest

from rampart_testlib import raises_aws, uniq

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def test_role_lifecycle(rampart):
    iam = rampart.client("iam")
    name = uniq("app")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Description="app role",
                           Tags=[{"Key": "team", "Value": "blue"}])["Role"]
    assert role["RoleId"].startswith("AROA")
    assert role["Arn"] == f"arn:aws:iam::{rampart.account_id}:role/{name}"
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert role["MaxSessionDuration"] == 3600
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_role(RoleName=name.upper(), AssumeRolePolicyDocument=TRUST)
    got = iam.get_role(RoleName=name)["Role"]
    assert got["Description"] == "app role" and got["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert name in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    iam.update_role(RoleName=name, MaxSessionDuration=7200)
    assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 7200
    new_trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{rampart.account_id}:root"}, "Action": "sts:AssumeRole"}]})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)

    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}))
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["read"]
    assert iam.get_role_policy(RoleName=name, PolicyName="read")["RoleName"] == name
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]] == [
        "AdministratorAccess"]
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_role(RoleName=name)
    assert e.message == "Cannot delete entity, must detach all policies first."
    iam.detach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_role(RoleName=name)
    assert e.message == "Cannot delete entity, must delete policies first."
    iam.delete_role_policy(RoleName=name, PolicyName="read")
    iam.delete_role(RoleName=name)
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_role(RoleName=name)
    assert e.message == f"The role with name {name} cannot be found."


def test_trust_policies_are_validated(rampart):
    iam = rampart.client("iam")
    no_principal = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole"}]})
    with raises_aws("MalformedPolicyDocument", 400):
        iam.create_role(RoleName=uniq("bad"), AssumeRolePolicyDocument=no_principal)
    with raises_aws("MalformedPolicyDocument", 400):
        iam.create_role(RoleName=uniq("bad"), AssumeRolePolicyDocument="{nope")
    loose = rampart.client("iam", parameter_validation=False)
    with raises_aws("ValidationError", 400) as e:
        loose.create_role(RoleName=uniq("bad"), AssumeRolePolicyDocument=TRUST, MaxSessionDuration=60)
    assert "Member must have value greater than or equal to 3600" in e.message
    missing = f"arn:aws:iam::{rampart.account_id}:policy/none"
    with raises_aws("NoSuchEntity", 404):
        iam.create_role(RoleName=uniq("bad"), AssumeRolePolicyDocument=TRUST, PermissionsBoundary=missing)
    name = uniq("bounded")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary="arn:aws:iam::aws:policy/AdministratorAccess")
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith(
        "AdministratorAccess")
    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]


def test_trust_policy_principals_must_exist(rampart):
    iam = rampart.client("iam")
    acct = rampart.account_id
    ghost = f"arn:aws:iam::{acct}:user/{uniq('ghost')}"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}]})
    with raises_aws("MalformedPolicyDocument", 400) as e:
        iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=policy)
    assert e.message == f'Invalid principal in policy: "AWS":"{ghost}"'
    name = uniq("real")
    iam.create_user(UserName=name, Path="/team/")
    real = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{acct}:user/team/{name}", acct]},
         "Action": "sts:AssumeRole"}]})
    role = uniq("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=real)
    with raises_aws("MalformedPolicyDocument", 400):
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=policy)


def test_trust_and_managed_policy_grammar(rampart):
    iam = rampart.client("iam")
    acct = rampart.account_id
    statement = {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}
    with raises_aws("MalformedPolicyDocument", 400) as e:
        iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{**statement, "Resource": "*"}]}))
    assert e.message == "Has prohibited field Resource."
    with raises_aws("MalformedPolicyDocument", 400) as e:
        iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{**statement, "Action": "s3:GetObject"}]}))
    assert e.message.startswith("Trust Policy statement actions can only be sts:AssumeRole")
    with raises_aws("MalformedPolicyDocument", 400) as e:
        iam.create_policy(PolicyName=uniq("p"), PolicyDocument=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    assert e.message == "Policy document must be version 2012-10-17 or greater."
    # Inline policies may still omit the Version (2008-10-17 semantics).
    user = uniq("u")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="old", PolicyDocument=json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))


def test_update_role_description_answers_with_the_role(rampart):
    iam = rampart.client("iam")
    name = uniq("described")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    role = iam.update_role_description(RoleName=name, Description="runs the build")["Role"]
    assert role["RoleName"] == name and role["Description"] == "runs the build"
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "runs the build"
    with raises_aws("NoSuchEntity", 404):
        iam.update_role_description(RoleName=name + "-gone", Description="x")


def test_service_linked_roles(rampart):
    iam = rampart.client("iam")
    try:
        iam.delete_service_linked_role(RoleName="AWSServiceRoleForAutoScaling_ci")
    except iam.exceptions.NoSuchEntityException:
        pass
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="ci",
                                          Description="scaling")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAutoScaling_ci"
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"].endswith(":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_ci")
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    assert trust["Statement"][0]["Principal"] == {"Service": "autoscaling.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"]
    with raises_aws("InvalidInput", 400) as e:
        iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="ci")
    assert "has been taken in this account" in e.message
    with raises_aws("InvalidInput", 400):
        iam.create_service_linked_role(AWSServiceName="config.amazonaws.com", CustomSuffix="x")
    with raises_aws("InvalidInput", 400):
        iam.create_service_linked_role(AWSServiceName="nothing.example.com")
    # The account cannot change or delete it directly.
    for attempt in (
        lambda: iam.delete_role(RoleName=role["RoleName"]),
        lambda: iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=attached[0]["PolicyArn"]),
        lambda: iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=json.dumps(trust)),
        lambda: iam.put_role_policy(RoleName=role["RoleName"], PolicyName="extra", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})),
    ):
        with raises_aws("UnmodifiableEntity", 400) as e:
            attempt()
        assert "protected role" in e.message
    task = iam.delete_service_linked_role(RoleName=role["RoleName"])["DeletionTaskId"]
    assert task.startswith("task/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_ci/")
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    with raises_aws("NoSuchEntity", 404):
        iam.get_role(RoleName=role["RoleName"])
    with raises_aws("NoSuchEntity", 404):
        iam.get_service_linked_role_deletion_status(DeletionTaskId=task + "x")


@pytest.mark.parametrize("service,name,policy", [
    ("elasticbeanstalk.amazonaws.com", "AWSServiceRoleForElasticBeanstalk", "AWSElasticBeanstalkServiceRolePolicy"),
    ("custom-resource.application-autoscaling.amazonaws.com",
     "AWSServiceRoleForApplicationAutoScaling_CustomResource", "AWSApplicationAutoScalingCustomResourcePolicy"),
    ("eks-nodegroup.amazonaws.com", "AWSServiceRoleForAmazonEKSNodegroup", "AWSServiceRoleForAmazonEKSNodegroup"),
])
def test_service_linked_role_names_and_policies(fresh_rampart, service, name, policy):
    iam = fresh_rampart.client("iam")
    role = iam.create_service_linked_role(AWSServiceName=service)["Role"]
    assert role["RoleName"] == name
    assert role["Path"] == f"/aws-service-role/{service}/"
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": policy, "PolicyArn": f"arn:aws:iam::aws:policy/aws-service-role/{policy}"}]
    # The policy it carries is one IAM serves.
    assert iam.get_policy(PolicyArn=attached[0]["PolicyArn"])["Policy"]["Path"] == "/aws-service-role/"


def test_role_last_used_is_reported_and_kept(fresh_rampart):
    from rampart_testlib import Creds, new_user
    srv = fresh_rampart
    iam = srv.client("iam")
    caller = new_user(srv, "assumer")
    name = uniq("used")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": caller["arn"]}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    assert iam.get_role(RoleName=name)["Role"]["RoleLastUsed"] == {}
    out = srv.client("sts", caller["creds"]).assume_role(RoleArn=arn, RoleSessionName="s1")
    session = Creds.from_sts(out["Credentials"], srv.account_id)
    srv.client("sts", session, region="eu-west-1").get_caller_identity()
    used = iam.get_role(RoleName=name)["Role"]["RoleLastUsed"]
    assert used["Region"] == "eu-west-1" and used["LastUsedDate"]
    details = iam.get_account_authorization_details(Filter=["Role"])["RoleDetailList"]
    assert [r["RoleLastUsed"]["Region"] for r in details if r["RoleName"] == name] == ["eu-west-1"]
    srv.restart()
    assert srv.client("iam").get_role(RoleName=name)["Role"]["RoleLastUsed"]["Region"] == "eu-west-1"
