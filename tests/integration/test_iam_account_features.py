"""Account-level IAM features of a standalone account: the organizations
operations answer as AWS answers an account in no organization, outbound web
identity federation is a setting, and ListPoliciesGrantingServiceAccess reads
an entity's own and its groups' policies."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from rampart_testlib import new_user, raises_aws, uniq


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize("operation", [
    "list_organizations_features",
    "enable_organizations_root_credentials_management",
    "disable_organizations_root_credentials_management",
    "enable_organizations_root_sessions",
    "disable_organizations_root_sessions",
])
def test_organizations_root_operations_say_no_organization(rampart, operation):
    with raises_aws("OrganizationNotFoundException") as e:
        getattr(rampart.client("iam"), operation)()
    assert "not a member of an organization" in e.message


def test_organizations_access_report_fails_as_for_an_account_outside_one(rampart):
    iam = rampart.client("iam")
    job = iam.generate_organizations_access_report(EntityPath="o-a1b2c3d4e5/r-f6g7h8i9j0example")["JobId"]
    assert len(job) == 36
    report = iam.get_organizations_access_report(JobId=job)
    assert report["JobStatus"] == "FAILED" and report["ErrorDetails"]["Code"] == "OrganizationNotFoundException"
    with raises_aws("NoSuchEntity", 404):
        iam.get_organizations_access_report(JobId="00000000-0000-0000-0000-000000000000")


def test_outbound_web_identity_federation_setting(fresh_rampart):
    iam = fresh_rampart.client("iam")
    with raises_aws("FeatureDisabled", 404):
        iam.get_outbound_web_identity_federation_info()
    issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    assert issuer.startswith("https://") and issuer.endswith(".tokens.sts.global.api.aws")
    with raises_aws("FeatureEnabled", 409):
        iam.enable_outbound_web_identity_federation()
    info = iam.get_outbound_web_identity_federation_info()
    assert info["IssuerIdentifier"] == issuer and info["JwtVendingEnabled"] is True
    iam.disable_outbound_web_identity_federation()
    with raises_aws("FeatureDisabled", 404):
        iam.disable_outbound_web_identity_federation()


def test_list_policies_granting_service_access(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "granted")
    group = uniq("readers")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user["name"])
    iam.put_user_policy(UserName=user["name"], PolicyName="s3-read", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
    iam.put_group_policy(GroupName=group, PolicyName="iam-list", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}))
    iam.attach_user_policy(UserName=user["name"], PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    out = iam.list_policies_granting_service_access(Arn=user["arn"], ServiceNamespaces=["s3", "iam", "ec2", "kms"])
    by_service = {e["ServiceNamespace"]: e["Policies"] for e in out["PoliciesGrantingServiceAccess"]}
    assert [(p["PolicyName"], p["PolicyType"], p.get("EntityType")) for p in by_service["s3"]] == [
        ("s3-read", "INLINE", "USER")]
    assert [(p["PolicyName"], p["EntityType"], p["EntityName"]) for p in by_service["iam"]] == [
        ("iam-list", "GROUP", group)]
    assert [p["PolicyArn"] for p in by_service["ec2"]] == ["arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"]
    assert by_service["kms"] == []
    with raises_aws("NoSuchEntity", 404):
        iam.list_policies_granting_service_access(Arn=user["arn"] + "-gone", ServiceNamespaces=["s3"])


def test_groups_per_account_quota(fresh_rampart):
    iam = fresh_rampart.client("iam")
    for i in range(300):
        iam.create_group(GroupName=f"quota-{i}")
    with raises_aws("LimitExceeded", 409) as e:
        iam.create_group(GroupName="quota-300")
    assert e.message == "Cannot exceed quota for GroupsPerAccount: 300"
    summary = iam.get_account_summary()["SummaryMap"]
    assert (summary["Groups"], summary["GroupsQuota"]) == (300, 300)


def test_service_last_accessed_details(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "advised")
    group = uniq("advised")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user["name"])
    iam.put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:List*", "s3:GetObject"], "Resource": "*"}))
    iam.put_group_policy(GroupName=group, PolicyName="g", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}))
    rampart.client("iam", user["creds"]).list_users()
    rampart.client("sts", user["creds"], region="eu-west-1").get_caller_identity()

    job = iam.generate_service_last_accessed_details(Arn=user["arn"])["JobId"]
    assert len(job) == 36
    report = iam.get_service_last_accessed_details(JobId=job)
    assert report["JobStatus"] == "COMPLETED" and report["JobType"] == "SERVICE_LEVEL"
    services = {s["ServiceNamespace"]: s for s in report["ServicesLastAccessed"]}
    assert set(services) == {"iam", "s3", "kms"}, "the services the user's and its groups' policies grant"
    assert services["iam"]["LastAuthenticatedEntity"] == user["arn"]
    assert services["iam"]["LastAuthenticatedRegion"] == "us-east-1"
    assert services["iam"]["TotalAuthenticatedEntities"] == 1
    assert "LastAuthenticated" not in services["s3"] and services["s3"]["TotalAuthenticatedEntities"] == 0

    group_job = iam.generate_service_last_accessed_details(
        Arn=f"arn:aws:iam::{rampart.account_id}:group/{group}")["JobId"]
    entities = iam.get_service_last_accessed_details_with_entities(
        JobId=group_job, ServiceNamespace="kms")["EntityDetailsList"]
    assert [(e["EntityInfo"]["Name"], e["EntityInfo"]["Type"]) for e in entities] == [(user["name"], "USER")]
    assert "LastAuthenticated" not in entities[0]
    with raises_aws("NoSuchEntity", 404):
        iam.get_service_last_accessed_details(JobId="00000000-0000-0000-0000-000000000000")
    with raises_aws("NoSuchEntity", 404):
        iam.generate_service_last_accessed_details(Arn=user["arn"] + "-gone")


def test_action_level_last_accessed_details(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "actions")
    iam.put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser", "s3:GetObject"], "Resource": "*"}))
    own = rampart.client("iam", user["creds"])
    own.list_users()
    own.get_user(UserName=user["name"])
    with raises_aws("AccessDenied", 403):
        own.list_roles()  # an attempt counts, allowed or not, as AWS counts it

    service_job = iam.generate_service_last_accessed_details(Arn=user["arn"])["JobId"]
    plain = {s["ServiceNamespace"]: s for s in
             iam.get_service_last_accessed_details(JobId=service_job)["ServicesLastAccessed"]}
    assert "TrackedActionsLastAccessed" not in plain["iam"]

    job = iam.generate_service_last_accessed_details(Arn=user["arn"], Granularity="ACTION_LEVEL")["JobId"]
    report = iam.get_service_last_accessed_details(JobId=job)
    assert report["JobType"] == "ACTION_LEVEL"
    services = {s["ServiceNamespace"]: s for s in report["ServicesLastAccessed"]}
    tracked = {a["ActionName"]: a for a in services["iam"]["TrackedActionsLastAccessed"]}
    assert set(tracked) == {"ListUsers", "GetUser", "ListRoles"}
    assert all(a["LastAccessedEntity"] == user["arn"] and a["LastAccessedRegion"] == "us-east-1"
               for a in tracked.values())
    assert tracked["ListRoles"]["LastAccessedTime"] <= services["iam"]["LastAuthenticated"] + dt.timedelta(minutes=1)
    assert "TrackedActionsLastAccessed" not in services["s3"]


DELEGATION_ID = "a1b2c3d4e5f6a7b8c9d0"


def test_no_delegation_request_exists_without_an_onboarded_partner(rampart):
    iam = rampart.client("iam")
    with raises_aws("AccessDenied", 403) as e:
        iam.create_delegation_request(
            Description="audit", Permissions={"PolicyTemplateArn": "arn:aws:iam::aws:policy-template/x"},
            RequestorWorkflowId="wf-0001", NotificationChannel="arn:aws:sns:us-east-1:111122223333:partner",
            SessionDuration=3600)
    assert "onboarded" in e.message
    for operation in ("get_delegation_request", "accept_delegation_request", "associate_delegation_request",
                      "reject_delegation_request", "update_delegation_request", "send_delegation_token"):
        with raises_aws("NoSuchEntity", 404) as e:
            getattr(iam, operation)(DelegationRequestId=DELEGATION_ID)
        assert DELEGATION_ID in e.message
    listing = iam.list_delegation_requests()
    assert listing["DelegationRequests"] == [] and listing["isTruncated"] is False
    arn = f"arn:aws:iam::{rampart.account_id}:delegation-request/{DELEGATION_ID}"
    with raises_aws("NoSuchEntity", 404):
        iam.get_human_readable_summary(EntityArn=arn)
    with raises_aws("InvalidInput", 400) as e:
        iam.get_human_readable_summary(EntityArn=f"arn:aws:iam::{rampart.account_id}:role/some-role")
    assert "delegation-request" in e.message


def test_delegation_requests_are_authorized_on_the_request(rampart):
    user = new_user(rampart, "delegate")
    iam = rampart.client("iam", user["creds"])
    with raises_aws("AccessDenied", 403) as e:
        iam.get_delegation_request(DelegationRequestId=DELEGATION_ID)
    assert e.message.endswith(
        f"iam:GetDelegationRequest on resource: arn:aws:iam::{rampart.account_id}:delegation-request/{DELEGATION_ID}"
        " because no identity-based policy allows the iam:GetDelegationRequest action")
    rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="read", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetDelegationRequest",
         "Resource": f"arn:aws:iam::{rampart.account_id}:delegation-request/*"}))
    with raises_aws("NoSuchEntity", 404):
        iam.get_delegation_request(DelegationRequestId=DELEGATION_ID)
