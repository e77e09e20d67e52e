"""STS temporary credentials: AssumeRole decided by the role's trust policy
and the caller's policies, role sessions limited by the role's policies and
by session policies, GetSessionToken, expiry, and what the audit trail shows."""

from __future__ import annotations

import json
import time

import pytest

from rampart_testlib import Creds, new_user, raises_aws, record, ua_marker, uniq, wait_for_events


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(principal: str, **condition) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return doc(statement)


@pytest.fixture
def role(rampart):
    """A role trusting one fresh user directly, allowed to list users."""
    caller = new_user(rampart, "caller")
    iam = rampart.client("iam")
    name = uniq("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(caller["arn"]))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetRole", "iam:GetUser"], "Resource": "*"}))
    return {"name": name, "arn": arn, "caller": caller}


def assume(rampart, creds, role_arn, **kw):
    return rampart.client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName=kw.pop("name", "s1"), **kw)


def test_assume_role_gives_a_session_with_the_roles_permissions(rampart, role):
    out = assume(rampart, role["caller"]["creds"], role["arn"], name="build-7")
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20
    assert len(c["SecretAccessKey"]) == 40 and c["SessionToken"]
    assert 3500 < (c["Expiration"].timestamp() - time.time()) <= 3600
    acct = rampart.account_id
    session_arn = f"arn:aws:sts::{acct}:assumed-role/{role['name']}/build-7"
    assert out["AssumedRoleUser"]["Arn"] == session_arn
    role_id = rampart.client("iam").get_role(RoleName=role["name"])["Role"]["RoleId"]
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role_id}:build-7"
    assert "PackedPolicySize" not in out

    session = Creds.from_sts(c, acct)
    who = rampart.client("sts", session).get_caller_identity()
    assert who["Arn"] == session_arn and who["UserId"] == f"{role_id}:build-7" and who["Account"] == acct
    iam = rampart.client("iam", session)
    iam.list_users()
    with raises_aws("AccessDenied", 403) as e:
        iam.create_user(UserName=uniq("nope"))
    assert e.message.startswith(f"User: {session_arn} is not authorized to perform: iam:CreateUser")
    # GetUser without a name needs a user: a role session has none.
    with raises_aws("ValidationError", 400) as e:
        rampart.client("iam", session).get_user()


def test_trust_policy_decides_who_may_assume(rampart, role):
    stranger = new_user(rampart, "stranger")
    with raises_aws("AccessDenied", 403) as e:
        assume(rampart, stranger["creds"], role["arn"])
    assert e.message.startswith(
        f"User: {stranger['arn']} is not authorized to perform: sts:AssumeRole on resource: {role['arn']}")
    # Even full identity permissions do not replace the trust policy.
    rampart.client("iam").put_user_policy(UserName=stranger["name"], PolicyName="all", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    with raises_aws("AccessDenied", 403):
        assume(rampart, stranger["creds"], role["arn"])
    # A role that does not exist is refused the same way, without saying so.
    missing = f"arn:aws:iam::{rampart.account_id}:role/{uniq('nosuch')}"
    with raises_aws("AccessDenied", 403):
        assume(rampart, stranger["creds"], missing)
    # The root user may never assume a role.
    with raises_aws("AccessDenied", 403) as e:
        assume(rampart, rampart.creds, role["arn"])
    assert e.message == "Roles may not be assumed by root accounts."


def test_account_principal_in_trust_needs_an_identity_policy_too(rampart):
    iam = rampart.client("iam")
    caller = new_user(rampart, "delegated")
    name = uniq("acct-role")
    arn = iam.create_role(RoleName=name,
                          AssumeRolePolicyDocument=trust(f"arn:aws:iam::{rampart.account_id}:root"))["Role"]["Arn"]
    # Trusting the account delegates the decision to the account's policies.
    with raises_aws("AccessDenied", 403):
        assume(rampart, caller["creds"], arn)
    iam.put_user_policy(UserName=caller["name"], PolicyName="assume", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}))
    assume(rampart, caller["creds"], arn)


def test_trust_conditions_external_id_and_session_name(rampart):
    iam = rampart.client("iam")
    caller = new_user(rampart, "ext")
    name = uniq("ext-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(
        caller["arn"],
        StringEquals={"sts:ExternalId": "secret-handshake"},
        StringLike={"sts:RoleSessionName": "${aws:username}*"}))["Role"]["Arn"]
    with raises_aws("AccessDenied", 403):
        assume(rampart, caller["creds"], arn, name=caller["name"])
    with raises_aws("AccessDenied", 403):
        assume(rampart, caller["creds"], arn, name="other", ExternalId="secret-handshake")
    assume(rampart, caller["creds"], arn, name=caller["name"] + "-ci", ExternalId="secret-handshake")


def test_session_tags_need_tag_session_and_become_principal_tags(rampart):
    iam = rampart.client("iam")
    caller = new_user(rampart, "tagger")
    name = uniq("tag-role")
    statement = {"Effect": "Allow", "Principal": {"AWS": caller["arn"]}, "Action": "sts:AssumeRole"}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(statement))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="by-tag", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}}}))
    tags = [{"Key": "team", "Value": "red"}]
    with raises_aws("AccessDenied", 403) as e:
        assume(rampart, caller["creds"], arn, Tags=tags)
    assert "sts:TagSession" in e.message
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=doc(
        {**statement, "Action": ["sts:AssumeRole", "sts:TagSession"]}))
    out = assume(rampart, caller["creds"], arn, Tags=tags)
    assert out["PackedPolicySize"] >= 0
    rampart.client("iam", Creds.from_sts(out["Credentials"])).list_users()
    untagged = assume(rampart, caller["creds"], arn)
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", Creds.from_sts(untagged["Credentials"])).list_users()


def test_session_policies_limit_and_never_grant(rampart, role):
    acct = rampart.account_id
    limited = assume(rampart, role["caller"]["creds"], role["arn"], Policy=doc(
        {"Effect": "Allow", "Action": ["iam:GetRole", "iam:CreateUser"], "Resource": "*"}))
    assert 0 < limited["PackedPolicySize"] <= 100
    iam = rampart.client("iam", Creds.from_sts(limited["Credentials"], acct))
    iam.get_role(RoleName=role["name"])
    with raises_aws("AccessDenied", 403) as e:
        iam.list_users()  # the role allows it, the session policy does not
    assert e.message.endswith("because no session policy allows the iam:ListUsers action")
    with raises_aws("AccessDenied", 403):
        iam.create_user(UserName=uniq("x"))  # the session policy allows it, the role does not

    managed = rampart.client("iam").create_policy(PolicyName=uniq("sp"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))["Policy"]["Arn"]
    by_arn = assume(rampart, role["caller"]["creds"], role["arn"], PolicyArns=[{"arn": managed}])
    iam = rampart.client("iam", Creds.from_sts(by_arn["Credentials"], acct))
    iam.list_users()
    with raises_aws("AccessDenied", 403):
        iam.get_role(RoleName=role["name"])

    with raises_aws("MalformedPolicyDocument", 400):
        assume(rampart, role["caller"]["creds"], role["arn"], Policy='{"Version": "2012-10-17"}')
    big = doc({"Effect": "Allow", "Action": [f"iam:Get{i:04d}" for i in range(100)], "Resource": "*"})
    assert len(big) < 2048
    arns = [{"arn": f"arn:aws:iam::{acct}:policy/{'p' * 100}{i}"} for i in range(10)]
    with raises_aws("PackedPolicyTooLarge", 400):
        assume(rampart, role["caller"]["creds"], role["arn"], Policy=big, PolicyArns=arns)


def test_session_credentials_are_checked(rampart, role):
    out = assume(rampart, role["caller"]["creds"], role["arn"])
    good = Creds.from_sts(out["Credentials"])
    sts = rampart.client("sts", good)
    sts.get_caller_identity()
    # Without the token, with another session's token, or with a forged one: refused.
    for creds in (Creds(good.access_key_id, good.secret_access_key),
                  Creds(good.access_key_id, good.secret_access_key, None,
                        assume(rampart, role["caller"]["creds"], role["arn"])["Credentials"]["SessionToken"]),
                  Creds(good.access_key_id, good.secret_access_key, None, good.session_token[:-4] + "AAAA")):
        with raises_aws("InvalidClientTokenId", 403):
            rampart.client("sts", creds).get_caller_identity()
    with raises_aws("SignatureDoesNotMatch", 403):
        rampart.client("sts", good.with_secret("x" * 40)).get_caller_identity()
    # The token is not valid with a long-term key either.
    caller = role["caller"]["creds"]
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", Creds(caller.access_key_id, caller.secret_access_key, None,
                                    good.session_token)).get_caller_identity()


def test_duration_limits(rampart, role):
    creds = role["caller"]["creds"]
    with raises_aws("ValidationError", 400) as e:
        assume(rampart, creds, role["arn"], DurationSeconds=7200)
    assert e.message == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    out = assume(rampart, creds, role["arn"], DurationSeconds=900)
    assert 800 < out["Credentials"]["Expiration"].timestamp() - time.time() <= 900


def test_role_chaining_and_deleted_roles(rampart, role):
    iam = rampart.client("iam")
    first = Creds.from_sts(assume(rampart, role["caller"]["creds"], role["arn"])["Credentials"])
    name = uniq("second")
    acct = rampart.account_id
    second_arn = iam.create_role(RoleName=name, MaxSessionDuration=7200, AssumeRolePolicyDocument=trust(
        f"arn:aws:iam::{acct}:role/{role['name']}"))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role["name"], PolicyName="chain", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": second_arn}))
    with raises_aws("ValidationError", 400) as e:
        assume(rampart, first, second_arn, DurationSeconds=7200)
    assert "role chaining" in e.message
    second = Creds.from_sts(assume(rampart, first, second_arn, name="hop")["Credentials"])
    assert rampart.client("sts", second).get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{acct}:assumed-role/{name}/hop")
    iam.delete_role(RoleName=name)
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", second).get_caller_identity()


def test_get_session_token(rampart):
    user = new_user(rampart, "gst")
    out = rampart.client("sts", user["creds"]).get_session_token(DurationSeconds=900)
    session = Creds.from_sts(out["Credentials"])
    assert session.access_key_id.startswith("ASIA")
    who = rampart.client("sts", session).get_caller_identity()
    assert who["Arn"] == user["arn"]
    # Without MFA, such credentials may not call IAM or get another session token.
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", session).list_users()
    with raises_aws("AccessDenied", 403) as e:
        rampart.client("sts", session).get_session_token()
    assert e.message == "Cannot call GetSessionToken with session credentials"
    root = rampart.client("sts").get_session_token(DurationSeconds=7200)["Credentials"]
    assert root["Expiration"].timestamp() - time.time() <= 3600


def test_sessions_survive_restart(fresh_rampart):
    server = fresh_rampart
    iam = server.client("iam")
    caller = new_user(server, "restart")
    name = uniq("r")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(caller["arn"]))["Role"]["Arn"]
    session = Creds.from_sts(assume(server, caller["creds"], arn)["Credentials"])
    server.restart()
    assert server.client("sts", session).get_caller_identity()["Arn"].endswith(f"assumed-role/{name}/s1")


def test_audit_records_show_the_session(rampart, role):
    marker = ua_marker()
    out = rampart.client("sts", role["caller"]["creds"], user_agent_extra=marker).assume_role(
        RoleArn=role["arn"], RoleSessionName="audited")
    session = Creds.from_sts(out["Credentials"])
    rampart.client("iam", session, user_agent_extra=marker).list_users()
    ct = rampart.client("cloudtrail")
    assumed = wait_for_events(ct, lambda e, r: marker in r.get("userAgent", "") and e["EventName"] == "AssumeRole")
    rec = json.loads(assumed[0]["CloudTrailEvent"])
    creds = rec["responseElements"]["credentials"]
    assert creds["accessKeyId"] == session.access_key_id
    assert "sessionToken" not in creds and "secretAccessKey" not in creds
    text = assumed[0]["CloudTrailEvent"]
    assert session.session_token not in text and session.secret_access_key not in text
    used = wait_for_events(ct, lambda e, r: marker in r.get("userAgent", "") and e["EventName"] == "ListUsers")
    identity = json.loads(used[0]["CloudTrailEvent"])["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["accessKeyId"] == session.access_key_id
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == role["arn"]
    assert identity["sessionContext"]["sessionIssuer"]["type"] == "Role"
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"


def test_simulator_knows_roles_and_resource_account(rampart, role):
    iam = rampart.client("iam")
    results = iam.simulate_principal_policy(PolicySourceArn=role["arn"],
                                            ActionNames=["iam:ListUsers", "iam:CreateUser"])["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {"iam:ListUsers": "allowed", "iam:CreateUser": "implicitDeny"}
    # Enforcement agrees, for the role's sessions.
    session = rampart.client("iam", Creds.from_sts(assume(rampart, role["caller"]["creds"], role["arn"])["Credentials"]))
    session.list_users()
    with raises_aws("AccessDenied", 403):
        session.create_user(UserName=uniq("no"))
    # aws:ResourceAccount is the account in the resource's ARN.
    iam.put_role_policy(RoleName=role["name"], PolicyName="own-account", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "iam:GetRole", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:ResourceAccount": rampart.account_id}}}))
    session.get_role(RoleName=role["name"])


def test_a_deleted_principal_is_not_trusted_in_its_namesake(rampart):
    iam = rampart.client("iam")
    name = uniq("temp")
    user = iam.create_user(UserName=name)["User"]
    role = uniq("trusting")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(user["Arn"]))
    iam.delete_user(UserName=name)
    # As IAM does, the trust policy now names the deleted user by its unique id.
    statement = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"]["AWS"] == user["UserId"]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = Creds(key["AccessKeyId"], key["SecretAccessKey"])
    arn = f"arn:aws:iam::{rampart.account_id}:role/{role}"
    with raises_aws("AccessDenied", 403):
        assume(rampart, creds, arn)


def test_review_fixes_tags_renames_deleted_users_and_paths(rampart):
    iam = rampart.client("iam")
    acct = rampart.account_id
    caller = new_user(rampart, "tagged")
    # A Deny on the role's tags applies to AssumeRole (aws:ResourceTag and iam:ResourceTag).
    admin = uniq("admin")
    arn = iam.create_role(RoleName=admin, AssumeRolePolicyDocument=trust(caller["arn"]),
                          Tags=[{"Key": "tier", "Value": "admin"}])["Role"]["Arn"]
    assume(rampart, caller["creds"], arn)
    for key in ("aws:ResourceTag/tier", "iam:ResourceTag/tier"):
        iam.put_user_policy(UserName=caller["name"], PolicyName="no-admin", PolicyDocument=doc(
            {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*",
             "Condition": {"StringEquals": {key: "admin"}}}))
        with raises_aws("AccessDenied", 403):
            assume(rampart, caller["creds"], arn)
    iam.delete_user_policy(UserName=caller["name"], PolicyName="no-admin")

    # Renaming a user carries the trust to its new name; the old name is not trusted.
    new_name = uniq("renamed")
    iam.update_user(UserName=caller["name"], NewUserName=new_name)
    statement = iam.get_role(RoleName=admin)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"]["AWS"] == f"arn:aws:iam::{acct}:user/{new_name}"
    assume(rampart, caller["creds"], arn)

    # Sessions from GetSessionToken end with their user.
    temp = new_user(rampart, "gone")
    session = Creds.from_sts(rampart.client("sts", temp["creds"]).get_session_token()["Credentials"])
    rampart.client("sts", session).get_caller_identity()
    iam.delete_access_key(UserName=temp["name"], AccessKeyId=temp["key"])
    iam.delete_user(UserName=temp["name"])
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", session).get_caller_identity()

    # A Deny on a role path matches roles under that path.
    pathed = uniq("pathed")
    iam.create_role(RoleName=pathed, Path="/restricted/", AssumeRolePolicyDocument=trust(acct))
    iam.put_user_policy(UserName=new_name, PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:GetRole", "Resource": f"arn:aws:iam::{acct}:role/restricted/*"}))
    as_user = rampart.client("iam", caller["creds"])
    as_user.get_role(RoleName=admin)
    with raises_aws("AccessDenied", 403):
        as_user.get_role(RoleName=pathed)


def test_role_chaining_carries_transitive_tags_and_source_identity(rampart):
    iam = rampart.client("iam")
    acct = rampart.account_id
    caller = new_user(rampart, "chain")
    actions = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    first, second = uniq("first"), uniq("second")
    first_arn = iam.create_role(RoleName=first, AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": caller["arn"]}, "Action": actions}))["Role"]["Arn"]
    second_arn = iam.create_role(RoleName=second, AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": first_arn}, "Action": actions}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=first, PolicyName="hop", PolicyDocument=doc(
        {"Effect": "Allow", "Action": actions, "Resource": second_arn}))
    iam.put_role_policy(RoleName=second, PolicyName="tagged", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red", "aws:SourceIdentity": "alice"}}}))
    one = Creds.from_sts(assume(rampart, caller["creds"], first_arn, SourceIdentity="alice",
                                Tags=[{"Key": "team", "Value": "red"}], TransitiveTagKeys=["team"])["Credentials"])
    with raises_aws("ValidationError", 400):
        assume(rampart, one, second_arn, Tags=[{"Key": "TEAM", "Value": "blue"}])
    with raises_aws("AccessDenied", 403):
        assume(rampart, one, second_arn, SourceIdentity="mallory")
    out = assume(rampart, one, second_arn, name="hop")
    assert out["SourceIdentity"] == "alice"
    rampart.client("iam", Creds.from_sts(out["Credentials"], acct)).list_users()


def test_get_access_key_info_names_the_keys_account(rampart):
    user = new_user(rampart, "keyinfo")
    sts = rampart.client("sts")
    assert sts.get_access_key_info(AccessKeyId=user["key"])["Account"] == rampart.account_id
    session = sts.get_session_token()["Credentials"]
    assert sts.get_access_key_info(AccessKeyId=session["AccessKeyId"])["Account"] == rampart.account_id
    # Keys of other accounts decode as AWS encodes them (AWS's documented example key).
    assert sts.get_access_key_info(AccessKeyId="AKIAIOSFODNN7EXAMPLE")["Account"] == "581039954779"
    with raises_aws("ValidationError", 400):
        sts.get_access_key_info(AccessKeyId="AKIA0000000000000000")
    # It is an STS action like any other: policies decide.
    with raises_aws("AccessDenied", 403):
        rampart.client("sts", user["creds"]).get_access_key_info(AccessKeyId=user["key"])


def test_federation_token_limits_the_user_and_calls_no_iam(rampart):
    user = new_user(rampart, "broker")
    iam = rampart.client("iam")
    iam.put_user_policy(UserName=user["name"], PolicyName="broker", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["sts:GetFederationToken", "cloudtrail:LookupEvents", "iam:ListUsers"],
         "Resource": "*"}))
    sts = rampart.client("sts", user["creds"])
    lookup_only = doc({"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"})
    out = sts.get_federation_token(Name="alice", Policy=lookup_only, DurationSeconds=900)
    acct = rampart.account_id
    assert out["FederatedUser"] == {"FederatedUserId": f"{acct}:alice",
                                    "Arn": f"arn:aws:sts::{acct}:federated-user/alice"}
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    session = Creds.from_sts(out["Credentials"], acct)
    marker = ua_marker()
    who = rampart.client("sts", session, user_agent_extra=marker).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{acct}:federated-user/alice" and who["UserId"] == f"{acct}:alice"
    rampart.client("cloudtrail", session).lookup_events(MaxResults=1)
    # No IAM operation at all, whatever the policies say; no STS but GetCallerIdentity.
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", session).list_users()
    with raises_aws("AccessDenied", 403):
        rampart.client("sts", session).get_session_token()
    # Without a session policy the federated user may do nothing.
    bare = Creds.from_sts(sts.get_federation_token(Name="bob")["Credentials"], acct)
    with raises_aws("AccessDeniedException") as e:
        rampart.client("cloudtrail", bare).lookup_events(MaxResults=1)
    assert "because no session policy allows the cloudtrail:LookupEvents action" in e.message
    # The session policy only limits: it cannot grant what the user lacks.
    wide = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    wide_creds = Creds.from_sts(sts.get_federation_token(Name="carol", Policy=wide)["Credentials"], acct)
    rampart.client("cloudtrail", wide_creds).lookup_events(MaxResults=1)
    with raises_aws("AccessDenied", 403):
        rampart.client("sts", wide_creds).get_federation_token(Name="nested")
    with raises_aws("ValidationError", 400):
        rampart.client("sts", user["creds"], parameter_validation=False).get_federation_token(
            Name="long", DurationSeconds=129_601)
    events = wait_for_events(rampart.client("cloudtrail"), lambda e, r: marker in r.get("userAgent", ""))
    identity = record(events[0])["userIdentity"]
    assert identity["type"] == "FederatedUser" and identity["arn"] == who["Arn"]
    assert identity["sessionContext"]["sessionIssuer"]["type"] == "IAMUser"
    assert identity["sessionContext"]["sessionIssuer"]["userName"] == user["name"]


ROOT_TASK = "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"
MEMBER = "111122223333"


def test_assume_root_is_authorized_then_refused_outside_an_organization(rampart):
    with raises_aws("AccessDenied", 403) as e:
        rampart.client("sts").assume_root(TargetPrincipal=MEMBER, TaskPolicyArn={"arn": ROOT_TASK})
    assert "root user credentials" in e.message
    user = new_user(rampart, "rootops")
    sts = rampart.client("sts", user["creds"])
    with raises_aws("AccessDenied", 403) as e:
        sts.assume_root(TargetPrincipal=MEMBER, TaskPolicyArn={"arn": ROOT_TASK})
    assert f"sts:AssumeRoot on resource: arn:aws:iam::{MEMBER}:root" in e.message
    # Allowed only for the bucket-unlock task (sts:TaskPolicyArn).
    rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="unlock", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRoot", "Resource": f"arn:aws:iam::{MEMBER}:root",
         "Condition": {"StringEquals": {"sts:TaskPolicyArn": ROOT_TASK}}}))
    with raises_aws("AccessDenied", 403) as e:
        sts.assume_root(TargetPrincipal=MEMBER,
                        TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"})
    assert "not authorized" in e.message
    with raises_aws("AccessDenied", 403) as e:
        sts.assume_root(TargetPrincipal=MEMBER, TaskPolicyArn={"arn": ROOT_TASK}, DurationSeconds=900)
    assert "not a member of an organization" in e.message


def test_assume_root_takes_only_root_task_policies(rampart):
    user = new_user(rampart, "rootops")
    rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="any", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRoot", "Resource": "*"}))
    with raises_aws("ValidationError", 400) as e:
        rampart.client("sts", user["creds"]).assume_root(
            TargetPrincipal=MEMBER, TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    assert "root-task" in e.message


def test_no_trade_in_token_is_valid_without_delegation_requests(rampart):
    token = "tradein-" + uniq("tok") * 4
    with raises_aws("ExpiredTradeInTokenException", 400):
        rampart.client("sts").get_delegated_access_token(TradeInToken=token)
    events = wait_for_events(rampart.client("cloudtrail"), lambda e, r: r.get("eventName") == "GetDelegatedAccessToken")
    assert token not in json.dumps([json.loads(e["CloudTrailEvent"]) for e in events])
