"""Hardware TOTP tokens: the operator registers the vendor's seed file with
`rampart serve --hardware-mfa-tokens FILE`; a user enables a token by its
serial number with two consecutive codes, as on AWS, and its codes then
satisfy MFA conditions once each. Hardware tokens are not virtual devices,
their seeds are stored only sealed, and the file's text never reaches the log.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import time

import pyotp
import pytest
import requests

from rampart_testlib import Creds, new_user, raises_aws, rampart_bin, wait_for_events

SERIAL = "GAHT10000001"
OTHER = "GAHT10000002"


@pytest.fixture
def seeds():
    return {SERIAL: pyotp.random_base32(32), OTHER: pyotp.random_base32(32)}


@pytest.fixture
def node(server_factory, tmp_path, seeds):
    path = tmp_path / "tokens.csv"
    path.write_text("# serial,seed from the vendor\n" + "".join(f"{s},{seed}\n" for s, seed in seeds.items()))
    srv = server_factory(name="hardware", extra_args=["--hardware-mfa-tokens", str(path)])
    return srv, path


def enable(iam, user: str, serial: str, totp: pyotp.TOTP, at: float) -> None:
    iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                          AuthenticationCode1=totp.at(at - 30), AuthenticationCode2=totp.at(at))


def test_a_registered_token_is_enabled_by_serial_and_its_codes_work_once(node, seeds):
    srv, _ = node
    iam = srv.client("iam")
    user = new_user(srv, "fob")
    iam.put_user_policy(UserName=user["name"], PolicyName="mfa", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                                                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}))
    totp = pyotp.TOTP(seeds[SERIAL])
    at = time.time()
    with raises_aws("InvalidAuthenticationCode", 403):
        iam.enable_mfa_device(UserName=user["name"], SerialNumber=SERIAL,
                              AuthenticationCode1=totp.at(at - 30), AuthenticationCode2=totp.at(at - 30))
    enable(iam, user["name"], SERIAL, totp, at)
    devices = iam.list_mfa_devices(UserName=user["name"])["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [SERIAL]
    with raises_aws("EntityAlreadyExists", 409):
        enable(iam, new_user(srv, "thief")["name"], SERIAL, totp, at)

    sts = srv.client("sts", user["creds"])
    code = totp.at(at + 30)
    session = Creds.from_sts(sts.get_session_token(SerialNumber=SERIAL, TokenCode=code)["Credentials"],
                             srv.account_id)
    srv.client("iam", session).list_users()
    with raises_aws("AccessDenied", 403):
        sts.get_session_token(SerialNumber=SERIAL, TokenCode=code)

    iam.deactivate_mfa_device(UserName=user["name"], SerialNumber=SERIAL)
    assert iam.list_mfa_devices(UserName=user["name"])["MFADevices"] == []
    # Deactivated, the token is free again; the codes it gave stay used.
    assert "UserName" not in iam.get_mfa_device(SerialNumber=SERIAL)
    with raises_aws("InvalidAuthenticationCode", 403):
        enable(iam, new_user(srv, "heir")["name"], SERIAL, totp, at)


def test_hardware_tokens_are_not_virtual_devices(node):
    srv, _ = node
    iam = srv.client("iam")
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    with raises_aws("NoSuchEntity", 404):
        iam.delete_virtual_mfa_device(SerialNumber=OTHER)
    with raises_aws("NoSuchEntity", 404):
        enable(iam, new_user(srv, "nobody")["name"], "GAHT19999999", pyotp.TOTP(pyotp.random_base32()), time.time())


def test_registration_is_recorded_kept_across_restarts_and_seeds_are_sealed(node, seeds):
    srv, path = node
    events = wait_for_events(srv.client("cloudtrail"), lambda e, r: r.get("eventName") == "RegisterHardwareMFADevice",
                             min_count=2)
    assert {json.loads(e["CloudTrailEvent"])["serviceEventDetails"]["serialNumber"] for e in events} >= {SERIAL, OTHER}
    # The file can go: registered tokens stay.
    path.unlink()
    srv.extra_args = []
    srv.restart()
    iam = srv.client("iam")
    user = new_user(srv, "after")
    enable(iam, user["name"], OTHER, pyotp.TOTP(seeds[OTHER]), time.time())
    db = sqlite3.connect(srv.data_dir / "rampart.db")
    try:
        text = "\n".join(v for (v,) in db.execute("SELECT value FROM records"))
    finally:
        db.close()
    log = srv.log_tail(10_000)
    for seed in seeds.values():
        raw = base64.b32decode(seed)
        for form in (seed, seed.lower(), base64.b64encode(raw).decode(), raw.hex()):
            assert form not in text and form not in log


@pytest.mark.parametrize("line,message", [
    ("GAHT10000001 JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "line 1: expected SERIAL,BASE32SEED"),
    ("GAHT10000001,JBSWY3DPEHPK3PXP", "line 1: the seed is shorter than 128 bits"),
    ("GAHT10000001,this is not base32!", "line 1: the seed is not Base32"),
])
def test_a_bad_seed_file_stops_the_start_without_showing_it(tmp_path, line, message):
    path = tmp_path / "tokens.csv"
    path.write_text(line + "\n")
    out = subprocess.run([str(rampart_bin()), "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"),
                          "--hardware-mfa-tokens", str(path)], capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert message in out.stderr
    assert line.split(",")[-1].split()[-1] not in out.stderr + out.stdout


def test_a_dev_reset_after_the_file_is_gone_still_resets(server_factory, tmp_path, seeds):
    path = tmp_path / "tokens.csv"
    path.write_text(f"{SERIAL},{seeds[SERIAL]}\n")
    srv = server_factory(name="hardware-dev", dev=True, extra_args=["--hardware-mfa-tokens", str(path)])
    assert "UserName" not in srv.client("iam").get_mfa_device(SerialNumber=SERIAL)
    path.unlink()
    resp = requests.post(srv.url("/_rampart/reset"), timeout=30)
    assert resp.status_code == 200, resp.text
    with raises_aws("NoSuchEntity", 404):
        srv.client("iam").get_mfa_device(SerialNumber=SERIAL)
