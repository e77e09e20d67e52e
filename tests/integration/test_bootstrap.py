"""First start, root credentials, health, clean shutdown, TLS.

The module-scoped `rampart` server here is never given users: test_fresh_account_has_no_users
relies on that.
"""

from __future__ import annotations

import json
import re
import stat

import pytest
import requests

from rampart_testlib import (
    Creds,
    random_root_creds,
    raises_aws,
    read_credentials_file,
    uniq,
)

AKID_RE = re.compile(r"^AKIA[A-Z0-9]{16}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9+/]{40}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")


def test_health_answers_200(rampart):
    r = requests.get(rampart.url("/_rampart/health"), timeout=5)
    assert r.status_code == 200


def test_generated_root_credentials_file(server_factory):
    srv = server_factory(root_creds=None)  # no RAMPART_ROOT_* env: generated on first start
    f = srv.data_dir / "root-credentials"
    assert f.is_file(), "DATA/root-credentials not written on first start"
    mode = stat.S_IMODE(f.stat().st_mode)
    assert mode == 0o600, f"root-credentials has mode {oct(mode)}, want 0o600"

    creds = read_credentials_file(f)
    assert AKID_RE.match(creds.access_key_id), creds.access_key_id
    assert SECRET_RE.match(creds.secret_access_key), "secret is not 40 base64 chars"
    assert creds.account_id and ACCOUNT_RE.match(creds.account_id), creds.account_id

    ident = srv.client("sts", creds).get_caller_identity()
    assert ident["Account"] == creds.account_id
    assert ident["Arn"] == f"arn:aws:iam::{creds.account_id}:root"
    assert ident["UserId"] == creds.account_id


def test_generated_credentials_are_random_per_data_dir(server_factory):
    a = server_factory(root_creds=None)
    b = server_factory(root_creds=None)
    assert a.creds.access_key_id != b.creds.access_key_id
    assert a.creds.secret_access_key != b.creds.secret_access_key
    # each node only knows its own root
    with raises_aws("InvalidClientTokenId", 403):
        a.client("sts", b.creds).get_caller_identity()


def test_generated_credentials_survive_restart(server_factory):
    srv = server_factory(root_creds=None)
    before = read_credentials_file(srv.data_dir / "root-credentials")
    srv.restart()
    after = read_credentials_file(srv.data_dir / "root-credentials")
    assert before == after, "root credentials must not be regenerated on restart"
    assert srv.client("sts", before).get_caller_identity()["Account"] == before.account_id


def test_env_root_credentials_are_used(server_factory):
    want = random_root_creds("210987654321")
    srv = server_factory(root_creds=want)
    ident = srv.client("sts", want).get_caller_identity()
    assert ident == {**ident, "Account": "210987654321",
                     "Arn": "arn:aws:iam::210987654321:root", "UserId": "210987654321"}
    # and the account id shows up in IAM ARNs
    name = uniq("envacct")
    user = srv.client("iam", want).create_user(UserName=name)["User"]
    assert user["Arn"] == f"arn:aws:iam::210987654321:user/{name}"
    # a different secret for the same key id is not accepted
    with raises_aws("SignatureDoesNotMatch", 403):
        srv.client("sts", want.with_secret("x" * 40)).get_caller_identity()


def test_env_credentials_file_if_written_is_consistent(server_factory):
    want = random_root_creds()
    srv = server_factory(root_creds=want)
    f = srv.data_dir / "root-credentials"
    if f.exists():  # optional in env mode, but then it must be the env credentials and 0600
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        got = read_credentials_file(f)
        assert (got.access_key_id, got.secret_access_key) == (want.access_key_id, want.secret_access_key)


def test_sigterm_exits_cleanly(fresh_rampart):
    fresh_rampart.client("sts").get_caller_identity()
    rc = fresh_rampart.stop()
    assert rc == 0, f"exit code on SIGTERM: {rc}"


def test_root_identity_via_iam_get_user(rampart):
    u = rampart.client("iam").get_user()["User"]
    assert u["Arn"] == rampart.root_arn
    assert u["UserId"] == rampart.account_id


def test_root_access_key_listed_for_root(rampart):
    keys = rampart.client("iam").list_access_keys()["AccessKeyMetadata"]
    ids = [k["AccessKeyId"] for k in keys]
    assert rampart.creds.access_key_id in ids
    assert all(k["Status"] == "Active" for k in keys if k["AccessKeyId"] == rampart.creds.access_key_id)


def test_fresh_account_has_no_users(rampart):
    resp = rampart.client("iam").list_users()
    assert resp["Users"] == []
    assert resp["IsTruncated"] is False


def test_tls_listener(server_factory, tls_cert):
    srv = server_factory(tls=tls_cert)
    assert srv.endpoint.startswith("https://")
    r = requests.get(srv.url("/_rampart/health"), verify=str(tls_cert[0]), timeout=5)
    assert r.status_code == 200
    ident = srv.client("sts").get_caller_identity()
    assert ident["Arn"] == srv.root_arn
    # plain HTTP is not served on the TLS port
    with pytest.raises(requests.RequestException):
        r = requests.get(f"http://127.0.0.1:{srv.port}/_rampart/health", timeout=5)
        if r.status_code != 200:  # some stacks answer 400 to plain HTTP; that's fine too
            raise requests.ConnectionError(f"HTTP {r.status_code}")
    # and the TLS server still works afterwards
    assert srv.client("sts").get_caller_identity()["Account"] == srv.account_id


def test_tls_calls_record_tls_details(server_factory, tls_cert):
    from rampart_testlib import attr, ua_marker, wait_for_events

    srv = server_factory(tls=tls_cert)
    marker = ua_marker()
    srv.client("sts", user_agent_extra=marker).get_caller_identity()
    [ev] = wait_for_events(srv.client("cloudtrail"), lambda e, r: marker in (r.get("userAgent") or ""),
                           LookupAttributes=attr("EventName", "GetCallerIdentity"))
    tls = json.loads(ev["CloudTrailEvent"]).get("tlsDetails") or {}
    assert tls.get("tlsVersion", "").startswith("TLSv1."), tls
    assert tls.get("cipherSuite"), tls


def test_creds_object(rampart):
    # sanity of the fixture itself: the root creds we were handed are the live ones
    c = rampart.creds
    assert isinstance(c, Creds) and c.account_id
    assert rampart.client("sts").get_caller_identity()["UserId"] == c.account_id
