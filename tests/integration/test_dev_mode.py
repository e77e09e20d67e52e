"""`rampart serve --dev`: moto-compatible default credentials and reset endpoints; enforcement
stays on. Without --dev the reset endpoints are refused."""

from __future__ import annotations

import json

import pytest
import requests

from rampart_testlib import (
    DEV_ACCESS_KEY_ID,
    DEV_ACCOUNT_ID,
    DEV_SECRET_ACCESS_KEY,
    Creds,
    list_all_users,
    random_root_creds,
    raises_aws,
    uniq,
)

RESET_PATHS = ["/_rampart/reset", "/moto-api/reset", "/moto-api/reset-auth"]


@pytest.fixture(scope="module")
def dev(module_server_factory):
    return module_server_factory(name="dev", dev=True, root_creds=None)


@pytest.fixture(scope="module")
def prod(module_server_factory):
    return module_server_factory(name="prod")


def _populate(srv):
    iam = srv.client("iam")
    name = uniq("devuser")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return name, Creds(k["AccessKeyId"], k["SecretAccessKey"])


def test_dev_default_credentials_are_motos(dev):
    creds = Creds(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY)
    ident = dev.client("sts", creds).get_caller_identity()
    assert ident["Account"] == DEV_ACCOUNT_ID
    assert ident["Arn"] == f"arn:aws:iam::{DEV_ACCOUNT_ID}:root"
    assert ident["UserId"] == DEV_ACCOUNT_ID


def test_dev_env_credentials_override_defaults(server_factory):
    want = random_root_creds("111122223333")
    srv = server_factory(dev=True, root_creds=want)
    assert srv.client("sts", want).get_caller_identity()["Account"] == "111122223333"
    with raises_aws("InvalidClientTokenId", 403):
        srv.client("sts", Creds(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY)).get_caller_identity()


@pytest.mark.parametrize("path", RESET_PATHS)
def test_reset_returns_to_fresh_bootstrap(dev, path):
    name, user_creds = _populate(dev)
    assert dev.client("sts", user_creds).get_caller_identity()["Arn"].endswith(f":user/{name}")

    # moto's set_initial_no_auth_action_count() posts a number to reset-auth
    body = b"4" if path.endswith("reset-auth") else b""
    r = requests.post(dev.url(path), data=body, timeout=30)
    assert r.status_code == 200, f"{path}: HTTP {r.status_code} {r.text[:300]}"

    iam = dev.client("iam")
    assert list_all_users(iam) == []
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName=name)
    with raises_aws("InvalidClientTokenId", 403):
        dev.client("sts", user_creds).get_caller_identity()
    # the bootstrap root is back (same moto defaults) and works
    assert dev.client("sts").get_caller_identity()["Account"] == DEV_ACCOUNT_ID
    # and the node is fully usable again
    name2, creds2 = _populate(dev)
    assert dev.client("sts", creds2).get_caller_identity()["Arn"].endswith(f":user/{name2}")


def test_reset_requires_post(dev):
    name, _ = _populate(dev)
    for path in RESET_PATHS:
        r = requests.get(dev.url(path), timeout=30)
        assert 400 <= r.status_code < 500, f"GET {path}: HTTP {r.status_code}"
    assert dev.client("iam").get_user(UserName=name)["User"]["UserName"] == name


def test_reset_is_durable(server_factory):
    srv = server_factory(dev=True, root_creds=None)
    name, _ = _populate(srv)
    assert requests.post(srv.url("/_rampart/reset"), timeout=30).status_code == 200
    srv.restart()
    with raises_aws("NoSuchEntity", 404):
        srv.client("iam").get_user(UserName=name)
    assert srv.client("sts").get_caller_identity()["Account"] == DEV_ACCOUNT_ID


def test_enforcement_stays_on_in_dev_mode(dev):
    name, user_creds = _populate(dev)
    with raises_aws("AccessDenied", 403):
        dev.client("iam", user_creds).list_users()
    with raises_aws("SignatureDoesNotMatch", 403):
        dev.client("sts", Creds(DEV_ACCESS_KEY_ID, "wrong-secret")).get_caller_identity()
    with raises_aws("InvalidClientTokenId", 403):
        dev.client("sts", Creds("AKIA" + "N" * 16, "x" * 40)).get_caller_identity()
    with raises_aws("MissingAuthenticationToken", 403):
        dev.unsigned_client("sts").get_caller_identity()


@pytest.mark.parametrize("path", RESET_PATHS)
def test_reset_refused_without_dev(prod, path):
    name, user_creds = _populate(prod)
    r = requests.post(prod.url(path), timeout=30)
    assert 400 <= r.status_code < 500, f"{path} without --dev: HTTP {r.status_code}"
    # nothing was wiped
    assert prod.client("iam").get_user(UserName=name)["User"]["UserName"] == name
    assert prod.client("sts", user_creds).get_caller_identity()["Arn"].endswith(f":user/{name}")


def test_signed_reset_refused_without_dev(prod):
    from rampart_testlib import send_signed

    name, _ = _populate(prod)
    r = send_signed("POST", prod.url("/_rampart/reset"), "iam", prod.creds)
    assert 400 <= r.status_code < 500
    assert prod.client("iam").get_user(UserName=name)["User"]["UserName"] == name


def _service_events(srv) -> list[dict]:
    events = srv.client("cloudtrail").lookup_events(MaxResults=50)["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    return [r for r in records if r["eventType"] == "AwsServiceEvent"]


def test_reset_and_bootstrap_are_recorded(server_factory):
    """The reset leaves one record, of itself, and the bootstrap after it is recorded as
    IAM's own events (the account and its root key), as CloudTrail writes service events."""
    srv = server_factory(dev=True, root_creds=None)
    name, _ = _populate(srv)
    assert requests.post(srv.url("/_rampart/reset"), timeout=30).status_code == 200
    ct = srv.client("cloudtrail")
    names = [e["EventName"] for e in ct.lookup_events(MaxResults=50)["Events"]]
    assert "CreateUser" not in names, names
    by_name = {r["eventName"]: r for r in _service_events(srv)}
    assert set(by_name) == {"ResetNode", "CreateAccount", "CreateAccessKey"}, by_name.keys()
    reset = by_name["ResetNode"]
    assert reset["userIdentity"] == {"type": "AWSService", "invokedBy": "rampart"}
    assert reset["eventSource"] == "rampart" and reset["recipientAccountId"] == DEV_ACCOUNT_ID
    key = by_name["CreateAccessKey"]
    assert key["userIdentity"] == {"type": "AWSService", "invokedBy": "iam.amazonaws.com"}
    assert key["eventSource"] == "iam.amazonaws.com" and key["sourceIPAddress"] == "iam.amazonaws.com"
    assert key["serviceEventDetails"]["accessKeyId"] == DEV_ACCESS_KEY_ID
    assert key["resources"] == [{"accountId": DEV_ACCOUNT_ID, "type": "AWS::IAM::AccessKey",
                                 "resourceName": DEV_ACCESS_KEY_ID}]
    assert key["readOnly"] is False and key["managementEvent"] is True
    assert DEV_SECRET_ACCESS_KEY not in json.dumps(by_name)
    # the records are found by their attributes like any other
    found = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ResetNode"}])
    assert len(found["Events"]) == 1 and found["Events"][0]["EventSource"] == "rampart"


def test_first_start_bootstrap_is_recorded_once(server_factory):
    srv = server_factory(name="boot")
    first = [r["eventName"] for r in _service_events(srv)]
    assert sorted(first) == ["CreateAccessKey", "CreateAccount"], first
    assert srv.creds.secret_access_key not in json.dumps(_service_events(srv))
    srv.restart()
    # nothing to change on a restart with the same configuration: nothing recorded
    assert sorted(r["eventName"] for r in _service_events(srv)) == ["CreateAccessKey", "CreateAccount"]
