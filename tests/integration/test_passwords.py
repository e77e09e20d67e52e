"""Console passwords: login profiles kept only as argon2id hashes, the account
password policy with UpdateAccountPasswordPolicy's semantics, enforced on
CreateLoginProfile, UpdateLoginProfile and ChangePassword (length, kinds of
character, reuse); the account alias and GetAccountSummary's counts."""

from __future__ import annotations

import json
import sqlite3

import pytest

from rampart_testlib import lookup_all, new_user, raises_aws, record, ua_marker, uniq

VIOLATION = "Password does not conform to the account password policy."


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def no_policy(rampart):
    iam = rampart.client("iam")
    try:
        iam.delete_account_password_policy()
    except iam.exceptions.NoSuchEntityException:
        pass
    yield iam
    try:
        iam.delete_account_password_policy()
    except iam.exceptions.NoSuchEntityException:
        pass


def test_login_profile_lifecycle_under_the_default_policy(rampart, no_policy):
    iam = no_policy
    name = new_user(rampart, "console")["name"]
    for weak in ("short1A", "alllowercase", "lowercase123", rampart.account_id):
        with raises_aws("PasswordPolicyViolation", 400) as e:
            iam.create_login_profile(UserName=name, Password=weak)
        assert e.message == VIOLATION
    with raises_aws("NoSuchEntity", 404):
        iam.get_login_profile(UserName=name)
    profile = iam.create_login_profile(UserName=name, Password="Correct-Horse-9", PasswordResetRequired=True)
    assert profile["LoginProfile"]["UserName"] == name
    assert profile["LoginProfile"]["PasswordResetRequired"] is True
    got = iam.get_login_profile(UserName=name)["LoginProfile"]
    assert got["PasswordResetRequired"] is True and got["CreateDate"]
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_login_profile(UserName=name, Password="Another-Horse-9")
    iam.update_login_profile(UserName=name, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName=name, Password="weak")
    with raises_aws("DeleteConflict", 409):
        iam.delete_user(UserName=name)
    iam.delete_login_profile(UserName=name)
    with raises_aws("NoSuchEntity", 404):
        iam.delete_login_profile(UserName=name)
    with raises_aws("NoSuchEntity", 404):
        iam.create_login_profile(UserName=uniq("nobody"), Password="Correct-Horse-9")


def test_password_policy_update_reverts_omitted_parameters(rampart, no_policy):
    iam = no_policy
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_account_password_policy()
    assert e.message == f"The Password Policy with domain name {rampart.account_id} cannot be found."
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
                                       AllowUsersToChangePassword=True, MaxPasswordAge=90,
                                       PasswordReusePrevention=3, HardExpiry=False)
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy == {
        "MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": True,
        "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True, "ExpirePasswords": True, "MaxPasswordAge": 90,
        "PasswordReusePrevention": 3, "HardExpiry": False,
    }
    iam.update_account_password_policy(RequireNumbers=True)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 6, "RequireSymbols": False, "RequireNumbers": True,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": False, "MaxPasswordAge": 0,
        "HardExpiry": False,
    }
    unchecked = rampart.client("iam", parameter_validation=False)
    for bad in ({"MinimumPasswordLength": 5}, {"MaxPasswordAge": 1096}, {"PasswordReusePrevention": 25}):
        with raises_aws("ValidationError", 400):
            unchecked.update_account_password_policy(**bad)
    iam.delete_account_password_policy()
    with raises_aws("NoSuchEntity", 404):
        iam.delete_account_password_policy()


def test_change_password_checks_old_policy_and_reuse(rampart, no_policy):
    iam = no_policy
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True,
                                       PasswordReusePrevention=2, AllowUsersToChangePassword=False)
    user = new_user(rampart, "changer")
    iam.create_login_profile(UserName=user["name"], Password="first-pass-1", PasswordResetRequired=True)
    own = rampart.client("iam", user["creds"])
    # Without AllowUsersToChangePassword and without a policy allowing it: denied.
    with raises_aws("AccessDenied", 403):
        own.change_password(OldPassword="first-pass-1", NewPassword="second-pass-2")
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True,
                                       PasswordReusePrevention=2, AllowUsersToChangePassword=True)
    with raises_aws("AccessDenied", 403):
        own.change_password(OldPassword="wrong-pass-1", NewPassword="second-pass-2")
    with raises_aws("PasswordPolicyViolation", 400):
        own.change_password(OldPassword="first-pass-1", NewPassword="no-digits-here")
    with raises_aws("PasswordPolicyViolation", 400):
        own.change_password(OldPassword="first-pass-1", NewPassword="short-1")
    own.change_password(OldPassword="first-pass-1", NewPassword="second-pass-2")
    assert iam.get_login_profile(UserName=user["name"])["LoginProfile"]["PasswordResetRequired"] is False
    # The last two passwords may not come back.
    with raises_aws("PasswordPolicyViolation", 400):
        own.change_password(OldPassword="second-pass-2", NewPassword="second-pass-2")
    with raises_aws("PasswordPolicyViolation", 400):
        own.change_password(OldPassword="second-pass-2", NewPassword="first-pass-1")
    own.change_password(OldPassword="second-pass-2", NewPassword="third-pass-3")
    own.change_password(OldPassword="third-pass-3", NewPassword="fourth-pass-4")
    own.change_password(OldPassword="fourth-pass-4", NewPassword="first-pass-1")
    # An explicit deny still wins over the policy's allowance.
    iam.put_user_policy(UserName=user["name"], PolicyName="no", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}))
    with raises_aws("AccessDenied", 403):
        own.change_password(OldPassword="first-pass-1", NewPassword="fifth-pass-5")
    # The root is not an IAM user.
    with raises_aws("InvalidUserType", 400):
        iam.change_password(OldPassword="x", NewPassword="y")


def test_passwords_are_stored_hashed_and_never_recorded(fresh_rampart):
    srv = fresh_rampart
    iam = srv.client("iam", user_agent_extra=(marker := ua_marker()))
    name = new_user(srv, "hashed")["name"]
    password = "Unguessable-Secret-77"
    iam.create_login_profile(UserName=name, Password=password)
    iam.update_login_profile(UserName=name, Password="Unguessable-Secret-78")
    db = sqlite3.connect(srv.data_dir / "rampart.db")
    try:
        rows = [json.loads(v) for (v,) in db.execute("SELECT value FROM records WHERE kind = 'iam-login-profile'")]
    finally:
        db.close()
    assert len(rows) == 1
    assert rows[0]["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert all(h.startswith("$argon2id$") for h in rows[0]["history"])
    assert "Unguessable" not in json.dumps(rows)
    events = [record(e) for e in lookup_all(srv.client("cloudtrail"))]
    mine = [r for r in events if marker in r.get("userAgent", "")]
    assert {r["eventName"] for r in mine} >= {"CreateLoginProfile", "UpdateLoginProfile"}
    assert "Unguessable" not in json.dumps(mine)
    assert "Unguessable" not in srv.log_tail(10_000)
    srv.restart()
    assert srv.client("iam").get_login_profile(UserName=name)["LoginProfile"]["UserName"] == name


def test_account_alias_and_summary(rampart):
    iam = rampart.client("iam")
    before = iam.get_account_summary()["SummaryMap"]
    assert before["UsersQuota"] == 5000 and before["RolesQuota"] == 1000 and before["AccessKeysPerUserQuota"] == 2
    new_user(rampart, "counted")
    iam.create_virtual_mfa_device(VirtualMFADeviceName=uniq("counted"))
    after = iam.get_account_summary()["SummaryMap"]
    assert after["Users"] == before["Users"] + 1
    assert after["MFADevices"] == before["MFADevices"] + 1
    assert after["AccountAccessKeysPresent"] == 1

    assert after["GlobalEndpointTokenVersion"] == 1
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v2Token")
    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 2
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v1Token")

    alias = uniq("corp").lower()
    iam.create_account_alias(AccountAlias=alias)
    assert iam.list_account_aliases()["AccountAliases"] == [alias]
    unchecked = rampart.client("iam", parameter_validation=False)
    for bad in ("Upper-Case", "double--dash", "-leading", "x"):
        with raises_aws("ValidationError", 400):
            unchecked.create_account_alias(AccountAlias=bad)
    with raises_aws("NoSuchEntity", 404):
        iam.delete_account_alias(AccountAlias=alias + "x")
    iam.delete_account_alias(AccountAlias=alias)
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_credential_report_tells_the_truth(fresh_rampart):
    import csv
    import io
    import time

    import pyotp

    srv = fresh_rampart
    iam = srv.client("iam")
    with raises_aws("ReportNotPresent", 410):
        iam.get_credential_report()
    iam.update_account_password_policy(MaxPasswordAge=30)
    full = new_user(srv, "full")
    iam.create_login_profile(UserName=full["name"], Password="Report-Pass-1")
    second = iam.create_access_key(UserName=full["name"])["AccessKey"]
    iam.update_access_key(UserName=full["name"], AccessKeyId=second["AccessKeyId"], Status="Inactive")
    srv.client("sts", full["creds"], region="eu-west-1").get_caller_identity()
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=uniq("full"))["VirtualMFADevice"]
    totp, now = pyotp.TOTP(device["Base32StringSeed"].decode()), time.time()
    iam.enable_mfa_device(UserName=full["name"], SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
    bare = iam.create_user(UserName=uniq("bare"))["User"]

    assert iam.generate_credential_report()["State"] == "STARTED"
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    text = report["Content"].decode()
    header = text.splitlines()[0]
    assert header == (
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
        "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
        "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
        "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
        "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
        "cert_2_active,cert_2_last_rotated")
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(text))}
    root = rows["<root_account>"]
    assert root["arn"] == f"arn:aws:iam::{srv.account_id}:root"
    assert root["password_enabled"] == "not_supported" and root["access_key_1_active"] == "true"

    f = rows[full["name"]]
    assert f["arn"] == full["arn"] and f["password_enabled"] == "true" and f["mfa_active"] == "true"
    assert f["password_last_used"] == "no_information"
    changed = f["password_last_changed"]
    assert changed.endswith("+00:00") and len(changed) == 25
    rotation = _dt(f["password_next_rotation"]) - _dt(changed)
    assert rotation.days == 30
    assert f["access_key_1_active"] == "true" and f["access_key_1_last_used_region"] == "eu-west-1"
    assert f["access_key_1_last_used_service"] == "sts" and f["access_key_1_last_used_date"].endswith("+00:00")
    assert f["access_key_2_active"] == "false" and f["access_key_2_last_rotated"].endswith("+00:00")
    assert f["access_key_2_last_used_date"] == "N/A"

    b = rows[bare["UserName"]]
    assert (b["password_enabled"], b["password_last_used"], b["password_next_rotation"]) == ("false", "N/A", "N/A")
    assert (b["mfa_active"], b["access_key_1_active"], b["access_key_1_last_rotated"]) == ("false", "false", "N/A")
    assert (b["cert_1_active"], b["cert_2_last_rotated"]) == ("false", "N/A")


def _dt(text: str):
    import datetime
    return datetime.datetime.fromisoformat(text)


def test_service_specific_credentials(rampart):
    iam = rampart.client("iam", user_agent_extra=(marker := ua_marker()))
    user = new_user(rampart, "git")
    created = iam.create_service_specific_credential(UserName=user["name"],
                                                     ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert created["ServiceUserName"] == f"{user['name']}-at-{rampart.account_id}"
    assert created["ServiceSpecificCredentialId"].startswith("ACCA") and created["Status"] == "Active"
    password = created["ServicePassword"]
    assert len(password) >= 40
    listed = iam.list_service_specific_credentials(UserName=user["name"])["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in listed] == [created["ServiceSpecificCredentialId"]]
    assert "ServicePassword" not in listed[0]
    iam.create_service_specific_credential(UserName=user["name"], ServiceName="codecommit.amazonaws.com")
    with raises_aws("LimitExceeded", 409):
        iam.create_service_specific_credential(UserName=user["name"], ServiceName="codecommit.amazonaws.com")
    with raises_aws("NoSuchEntity", 404) as e:
        iam.create_service_specific_credential(UserName=user["name"], ServiceName="s3.amazonaws.com")
    assert e.message == "No such service s3.amazonaws.com is supported for Service Specific Credentials"
    cid = created["ServiceSpecificCredentialId"]
    iam.update_service_specific_credential(UserName=user["name"], ServiceSpecificCredentialId=cid, Status="Inactive")
    reset = iam.reset_service_specific_credential(UserName=user["name"], ServiceSpecificCredentialId=cid)
    assert reset["ServiceSpecificCredential"]["ServicePassword"] != password
    assert reset["ServiceSpecificCredential"]["Status"] == "Inactive"
    iam.delete_access_key(UserName=user["name"], AccessKeyId=user["key"])
    with raises_aws("DeleteConflict", 409):
        iam.delete_user(UserName=user["name"])
    for c in iam.list_service_specific_credentials(UserName=user["name"])["ServiceSpecificCredentials"]:
        iam.delete_service_specific_credential(UserName=user["name"],
                                               ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"])
    with raises_aws("NoSuchEntity", 404):
        iam.delete_service_specific_credential(UserName=user["name"], ServiceSpecificCredentialId=cid)
    iam.delete_user(UserName=user["name"])
    records = [record(e) for e in lookup_all(rampart.client("cloudtrail"))]
    mine = json.dumps([r for r in records if marker in r.get("userAgent", "")])
    assert password not in mine and reset["ServiceSpecificCredential"]["ServicePassword"] not in mine
