"""Virtual MFA devices, real: a Base32 seed and a QR code that decodes to the
otpauth URI, enabling with two consecutive RFC 6238 codes (pyotp computes them
as an authenticator app does), GetSessionToken and AssumeRole with a code, so
that aws:MultiFactorAuthPresent holds in policies, and every code working
once — also across a restart. Seeds are never listed, logged or stored in
the clear."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import time
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
import zxingcpp
from PIL import Image

from rampart_testlib import Creds, new_user, raises_aws, record, ua_marker, uniq, wait_for_events


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def create_device(iam, name: str | None = None, **kw) -> tuple[dict, pyotp.TOTP]:
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name or uniq("mfa"), **kw)["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    return device, pyotp.TOTP(seed)


def enable(iam, user: str, serial: str, totp: pyotp.TOTP, at: float) -> None:
    """Enables with the codes of the step before `at` and of `at`'s step."""
    iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                          AuthenticationCode1=totp.at(at - 30), AuthenticationCode2=totp.at(at))


@pytest.fixture
def mfa_user(rampart):
    """A user with an enabled virtual device, allowed IAM reads only with MFA;
    `at` is the time whose step the device last gave a code for."""
    user = new_user(rampart, "mfa")
    iam = rampart.client("iam")
    iam.put_user_policy(UserName=user["name"], PolicyName="mfa-only", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "*",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        {"Effect": "Allow", "Action": "iam:ListAccountAliases", "Resource": "*",
         "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}))
    device, totp = create_device(iam, user["name"])
    at = time.time()
    enable(iam, user["name"], device["SerialNumber"], totp, at)
    return {**user, "serial": device["SerialNumber"], "totp": totp, "at": at}


def test_create_returns_a_real_seed_and_a_qr_code_of_the_otpauth_uri(rampart):
    marker = ua_marker()
    iam = rampart.client("iam", user_agent_extra=marker)
    name = uniq("phone")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/team/",
                                           Tags=[{"Key": "owner", "Value": "ops"}])["VirtualMFADevice"]
    assert device["SerialNumber"] == f"arn:aws:iam::{rampart.account_id}:mfa/team/{name}"
    seed = device["Base32StringSeed"].decode()
    assert len(seed) == 64 and base64.b32decode(seed) and len(base64.b32decode(seed)) == 40
    image = Image.open(io.BytesIO(device["QRCodePNG"]))
    assert image.format == "PNG"
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    uri = urlparse(found[0].text)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/{name}@{rampart.account_id}"
    assert parse_qs(uri.query)["secret"] == [seed]
    assert device["Tags"] == [{"Key": "owner", "Value": "ops"}]
    # Two devices never share a seed.
    other, _ = create_device(iam)
    assert other["Base32StringSeed"] != device["Base32StringSeed"]

    listed = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    mine = [d for d in listed if d["SerialNumber"] == device["SerialNumber"]]
    assert mine and "Base32StringSeed" not in mine[0] and "QRCodePNG" not in mine[0]
    assert mine[0]["Tags"] == [{"Key": "owner", "Value": "ops"}]
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/team/")
    # The trail names the device but holds neither the seed nor the QR code.
    created = wait_for_events(rampart.client("cloudtrail"), lambda e, r: marker in r.get("userAgent", "")
                              and r["eventName"] == "CreateVirtualMFADevice" and "errorCode" not in r)
    text = json.dumps([record(e) for e in created])
    assert device["SerialNumber"] in text
    assert seed not in text and base64.b64encode(device["QRCodePNG"]).decode()[:40] not in text


def test_enable_needs_two_consecutive_current_codes(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "enable")
    device, totp = create_device(iam)
    serial, now = device["SerialNumber"], time.time()
    bad = [
        ("000000", "000000"),
        (totp.at(now), totp.at(now - 30)),          # the right codes, in the wrong order
        (totp.at(now - 30), totp.at(now + 60)),     # not consecutive
        (totp.at(now - 3600), totp.at(now - 3570)),  # an hour old
    ]
    for code1, code2 in bad:
        with raises_aws("InvalidAuthenticationCode", 403) as e:
            iam.enable_mfa_device(UserName=user["name"], SerialNumber=serial,
                                  AuthenticationCode1=code1, AuthenticationCode2=code2)
        assert e.message == "Authentication code for device is not valid."
    with raises_aws("NoSuchEntity", 404):
        iam.enable_mfa_device(UserName=user["name"], SerialNumber=serial + "x",
                              AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
    enable(iam, user["name"], serial, totp, now)

    devices = iam.list_mfa_devices(UserName=user["name"])["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [(user["name"], serial)]
    got = iam.get_mfa_device(SerialNumber=serial)
    assert got["UserName"] == user["name"] and got["EnableDate"]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    mine = [d for d in assigned if d["SerialNumber"] == serial]
    assert mine and mine[0]["User"]["UserName"] == user["name"]
    # Assigned once only; a user with a device cannot be deleted.
    other = new_user(rampart, "other")
    with raises_aws("EntityAlreadyExists", 409):
        enable(iam, other["name"], serial, totp, now)
    iam.delete_access_key(UserName=user["name"], AccessKeyId=user["key"])
    with raises_aws("DeleteConflict", 409):
        iam.delete_user(UserName=user["name"])
    with raises_aws("DeleteConflict", 409):
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.deactivate_mfa_device(UserName=user["name"], SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=user["name"])["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with raises_aws("NoSuchEntity", 404):
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.delete_user(UserName=user["name"])


def test_mfa_session_satisfies_mfa_conditions_and_codes_work_once(rampart, mfa_user):
    u = mfa_user
    sts = rampart.client("sts", u["creds"])
    # Long-term keys carry no MFA: the conditioned allows do not apply.
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", u["creds"]).list_users()
    # A session token without MFA may call no IAM operation at all.
    plain = Creds.from_sts(sts.get_session_token()["Credentials"], rampart.account_id)
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", plain).list_users()

    code = u["totp"].at(u["at"] + 30)
    for wrong in ("123456" if code != "123456" else "654321", u["totp"].at(u["at"] - 30), u["totp"].at(u["at"])):
        with raises_aws("AccessDenied", 403) as e:
            sts.get_session_token(SerialNumber=u["serial"], TokenCode=wrong)
        assert "invalid MFA one time pass code" in e.message
    out = sts.get_session_token(SerialNumber=u["serial"], TokenCode=code)["Credentials"]
    session = Creds.from_sts(out, rampart.account_id)
    iam = rampart.client("iam", session)
    assert any(x["UserName"] == u["name"] for x in iam.list_users()["Users"])
    iam.list_account_aliases()
    with raises_aws("AccessDenied", 403) as e:
        sts.get_session_token(SerialNumber=u["serial"], TokenCode=code)
    assert "invalid MFA one time pass code" in e.message, "a code works once"
    # A device that is not the caller's is unknown to the caller.
    stranger = new_user(rampart, "stranger")
    with raises_aws("AccessDenied", 403) as e:
        rampart.client("sts", stranger["creds"]).get_session_token(
            SerialNumber=u["serial"], TokenCode=u["totp"].at(u["at"] + 30))
    assert "Please verify your MFA serial number is valid" in e.message


def test_trust_policy_requiring_mfa(rampart, mfa_user):
    u = mfa_user
    iam = rampart.client("iam")
    role = uniq("needs-mfa")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": u["arn"]}, "Action": "sts:AssumeRole",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}))["Role"]["Arn"]
    iam.put_user_policy(UserName=u["name"], PolicyName="assume", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}))
    with raises_aws("AccessDenied", 403):
        rampart.client("sts", u["creds"]).assume_role(RoleArn=arn, RoleSessionName="no-mfa")
    # With a code on AssumeRole itself: allowed, and the session is MFA-authenticated.
    marker = ua_marker()
    sts = rampart.client("sts", u["creds"], user_agent_extra=marker)
    out = sts.assume_role(RoleArn=arn, RoleSessionName="with-mfa", SerialNumber=u["serial"],
                          TokenCode=u["totp"].at(u["at"] + 30))
    session = Creds.from_sts(out["Credentials"], rampart.account_id)
    rampart.client("sts", session, user_agent_extra=marker).get_caller_identity()
    # A wrong code on AssumeRole is refused even though the trust policy was checked first.
    with raises_aws("AccessDenied", 403):
        sts.assume_role(RoleArn=arn, RoleSessionName="again", SerialNumber=u["serial"], TokenCode="000000")
    ct = rampart.client("cloudtrail")
    events = wait_for_events(ct, lambda e, r: marker in r.get("userAgent", "") and r["eventName"] == "GetCallerIdentity")
    rec = record(events[0])
    assert rec["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"
    assumed = wait_for_events(ct, lambda e, r: marker in r.get("userAgent", "") and r["eventName"] == "AssumeRole"
                              and "errorCode" not in r)
    text = json.dumps(record(assumed[0]))
    assert u["totp"].at(u["at"] + 30) not in text.replace(u["serial"], ""), "the code is not recorded"
    assert "tokenCode" not in text


def test_used_codes_stay_used_across_restart_and_seeds_are_sealed(fresh_rampart):
    srv = fresh_rampart
    user = new_user(srv, "durable")
    iam = srv.client("iam")
    device, totp = create_device(iam)
    at = time.time()
    enable(iam, user["name"], device["SerialNumber"], totp, at)
    code = totp.at(at + 30)
    srv.client("sts", user["creds"]).get_session_token(SerialNumber=device["SerialNumber"], TokenCode=code)
    srv.restart()
    with raises_aws("AccessDenied", 403):
        srv.client("sts", user["creds"]).get_session_token(SerialNumber=device["SerialNumber"], TokenCode=code)
    db = sqlite3.connect(srv.data_dir / "rampart.db")
    try:
        rows = [json.loads(v) for (v,) in db.execute("SELECT value FROM records WHERE kind = 'iam-mfa-device'")]
    finally:
        db.close()
    seed = device["Base32StringSeed"].decode()
    raw = base64.b32decode(seed)
    stored = [r for r in rows if r["serial"] == device["SerialNumber"]]
    assert stored and stored[0]["sealed_seed"].startswith("v2:")
    for r in rows:
        text = json.dumps(r)
        assert seed not in text and base64.b64encode(raw).decode() not in text and raw.hex() not in text
    assert seed not in srv.log_tail(10_000)


def test_resync_follows_a_drifted_clock(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "drift")
    device, totp = create_device(iam)
    now = time.time()
    enable(iam, user["name"], device["SerialNumber"], totp, now)
    # The phone's clock runs five minutes fast.
    ahead = now + 300
    with raises_aws("AccessDenied", 403):
        rampart.client("sts", user["creds"]).get_session_token(
            SerialNumber=device["SerialNumber"], TokenCode=totp.at(ahead))
    iam.resync_mfa_device(UserName=user["name"], SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=totp.at(ahead), AuthenticationCode2=totp.at(ahead + 30))
    rampart.client("sts", user["creds"]).get_session_token(
        SerialNumber=device["SerialNumber"], TokenCode=totp.at(ahead + 60))


def test_mfa_device_tags(rampart):
    iam = rampart.client("iam")
    device, _ = create_device(iam)
    serial = device["SerialNumber"]
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["a"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "b", "Value": "2"}]
    with raises_aws("NoSuchEntity", 404):
        iam.list_mfa_device_tags(SerialNumber=serial + "-gone")


def test_root_mfa(fresh_rampart):
    srv = fresh_rampart
    iam = srv.client("iam")
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0
    device, totp = create_device(iam, "root-account-mfa-device")
    at = time.time()
    # The root names itself by its account id (it has no user name).
    enable(iam, srv.account_id, device["SerialNumber"], totp, at)
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 1
    listed = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert [d["User"]["Arn"] for d in listed] == [f"arn:aws:iam::{srv.account_id}:root"]
    assert [d["SerialNumber"] for d in iam.list_mfa_devices()["MFADevices"]] == [device["SerialNumber"]]
    out = srv.client("sts").get_session_token(SerialNumber=device["SerialNumber"], TokenCode=totp.at(at + 30))
    session = Creds.from_sts(out["Credentials"], srv.account_id)
    srv.client("iam", session).list_users()  # a session with MFA may call IAM
    iam.generate_credential_report()
    report = iam.get_credential_report()["Content"].decode().splitlines()
    root_row = next(line for line in report if line.startswith("<root_account>"))
    assert root_row.split(",")[7] == "true"
    # An IAM user cannot name the root.
    user = new_user(srv, "notroot")
    with raises_aws("NoSuchEntity", 404):
        srv.client("iam").deactivate_mfa_device(UserName=user["name"], SerialNumber=device["SerialNumber"])
    iam.deactivate_mfa_device(SerialNumber=device["SerialNumber"])
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0
