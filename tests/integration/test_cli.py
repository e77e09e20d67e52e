"""The unmodified aws CLI pointed at Rampart with --endpoint-url."""

from __future__ import annotations

import json
import time

import pytest

from rampart_testlib import AUDIT_WAIT, Creds, uniq


@pytest.fixture(scope="module")
def flow(rampart):
    """aws iam create-user + create-access-key, as root, through the CLI."""
    name = uniq("cliuser")
    created = rampart.cli("iam", "create-user", "--user-name", name).check().json["User"]
    key = rampart.cli("iam", "create-access-key", "--user-name", name).check().json["AccessKey"]
    return {"name": name, "user": created, "key": key,
            "creds": Creds(key["AccessKeyId"], key["SecretAccessKey"], rampart.account_id)}


def test_root_identity(rampart):
    out = rampart.cli("sts", "get-caller-identity").check().json
    assert out == {"UserId": rampart.account_id, "Account": rampart.account_id, "Arn": rampart.root_arn}


def test_create_user_output(rampart, flow):
    u = flow["user"]
    assert u["UserName"] == flow["name"]
    assert u["Path"] == "/"
    assert u["Arn"] == rampart.user_arn(flow["name"])
    assert u["UserId"].startswith("AIDA")
    assert flow["key"]["Status"] == "Active"
    assert flow["key"]["UserName"] == flow["name"]


def test_new_key_identity(rampart, flow):
    out = rampart.cli("sts", "get-caller-identity", creds=flow["creds"]).check().json
    assert out["Arn"] == rampart.user_arn(flow["name"])
    assert out["UserId"] == flow["user"]["UserId"]
    assert out["Account"] == rampart.account_id


def test_third_key_limit_exceeded(rampart, flow):
    rampart.cli("iam", "create-access-key", "--user-name", flow["name"]).check()
    r = rampart.cli("iam", "create-access-key", "--user-name", flow["name"])
    assert r.returncode != 0
    assert "LimitExceeded" in r.stderr, r.stderr
    assert "Cannot exceed quota for AccessKeysPerUser: 2" in r.stderr
    keys = rampart.cli("iam", "list-access-keys", "--user-name", flow["name"]).check().json
    assert len(keys["AccessKeyMetadata"]) == 2


def test_user_denied_list_users(rampart, flow):
    r = rampart.cli("iam", "list-users", creds=flow["creds"])
    assert r.returncode != 0
    assert "AccessDenied" in r.stderr, r.stderr


def test_get_missing_user(rampart):
    r = rampart.cli("iam", "get-user", "--user-name", uniq("nobody"))
    assert r.returncode != 0
    assert "NoSuchEntity" in r.stderr, r.stderr


def test_cli_auto_pagination(rampart):
    path = f"/{uniq('clipage')}/"
    names = {uniq("cp") for _ in range(5)}
    for n in names:
        rampart.cli("iam", "create-user", "--user-name", n, "--path", path).check()
    out = rampart.cli("iam", "list-users", "--path-prefix", path, "--page-size", "2").check().json
    got = [u["UserName"] for u in out["Users"]]
    assert sorted(got) == sorted(names)


def test_update_and_delete_through_cli(rampart):
    a, b = uniq("clia"), uniq("clib")
    rampart.cli("iam", "create-user", "--user-name", a).check()
    rampart.cli("iam", "update-user", "--user-name", a, "--new-user-name", b).check()
    got = rampart.cli("iam", "get-user", "--user-name", b).check().json["User"]
    assert got["UserName"] == b
    k = rampart.cli("iam", "create-access-key", "--user-name", b).check().json["AccessKey"]
    rampart.cli("iam", "update-access-key", "--user-name", b, "--access-key-id", k["AccessKeyId"],
                "--status", "Inactive").check()
    r = rampart.cli("iam", "delete-user", "--user-name", b)
    assert r.returncode != 0 and "DeleteConflict" in r.stderr, r.stderr
    rampart.cli("iam", "delete-access-key", "--user-name", b, "--access-key-id", k["AccessKeyId"]).check()
    rampart.cli("iam", "delete-user", "--user-name", b).check()
    r = rampart.cli("iam", "get-user", "--user-name", b)
    assert "NoSuchEntity" in r.stderr


def test_last_used_through_cli(rampart, flow):
    rampart.cli("sts", "get-caller-identity", creds=flow["creds"]).check()
    deadline = time.monotonic() + AUDIT_WAIT
    while True:
        out = rampart.cli("iam", "get-access-key-last-used", "--access-key-id",
                          flow["key"]["AccessKeyId"]).check().json
        if "LastUsedDate" in out["AccessKeyLastUsed"] or time.monotonic() > deadline:
            break
    assert out["UserName"] == flow["name"]
    assert out["AccessKeyLastUsed"]["ServiceName"] == "sts"


def test_lookup_events_shows_the_calls(rampart, flow):
    # the user's own (read-only, asynchronously audited) call and root's writes
    rampart.cli("sts", "get-caller-identity", creds=flow["creds"]).check()
    deadline = time.monotonic() + AUDIT_WAIT + 5  # each CLI invocation costs ~1 s
    while True:
        out = rampart.cli("cloudtrail", "lookup-events", "--lookup-attributes",
                          f"AttributeKey=Username,AttributeValue={flow['name']}").check().json
        names = {e["EventName"] for e in out["Events"]}
        if "GetCallerIdentity" in names or time.monotonic() > deadline:
            break
    assert "GetCallerIdentity" in names, out
    assert all(e["Username"] == flow["name"] for e in out["Events"])

    out = rampart.cli("cloudtrail", "lookup-events", "--lookup-attributes",
                      "AttributeKey=EventName,AttributeValue=CreateAccessKey").check().json
    recs = [json.loads(e["CloudTrailEvent"]) for e in out["Events"]]
    mine = [r for r in recs if (r.get("requestParameters") or {}).get("userName") == flow["name"]]
    assert mine, "CreateAccessKey for the CLI user not found"
    for r in mine:
        assert r["userIdentity"]["type"] == "Root"
        assert flow["key"]["SecretAccessKey"] not in json.dumps(r)

    out = rampart.cli("cloudtrail", "lookup-events", "--max-items", "1").check().json
    assert len(out["Events"]) == 1, out


def test_wrong_secret_through_cli(rampart, flow):
    bad = Creds(flow["creds"].access_key_id, "x" * 40)
    r = rampart.cli("sts", "get-caller-identity", creds=bad)
    assert r.returncode != 0
    assert "SignatureDoesNotMatch" in r.stderr, r.stderr
