"""IAM access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey,
GetAccessKeyLastUsed, and that a new key really authenticates its user."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from rampart_testlib import Creds, raises_aws, uniq

AKID_RE = re.compile(r"^AKIA[A-Z0-9]{16}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9+/]{40}$")


@pytest.fixture
def user(iam):
    name = uniq("keyuser")
    iam.create_user(UserName=name)
    return name


@pytest.fixture(scope="module")
def loose_iam(rampart):
    return rampart.client("iam", parameter_validation=False)


def test_create_access_key_response(iam, user):
    k = iam.create_access_key(UserName=user)["AccessKey"]
    assert k["UserName"] == user
    assert AKID_RE.match(k["AccessKeyId"]), k["AccessKeyId"]
    assert SECRET_RE.match(k["SecretAccessKey"]), "secret must be 40 base64 characters"
    assert k["Status"] == "Active"
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - k["CreateDate"]).total_seconds()) < 300


def test_new_key_authenticates_its_user(rampart, iam, user):
    created = iam.get_user(UserName=user)["User"]
    k = iam.create_access_key(UserName=user)["AccessKey"]
    ident = rampart.client("sts", Creds(k["AccessKeyId"], k["SecretAccessKey"])).get_caller_identity()
    assert ident["Arn"] == created["Arn"]
    assert ident["UserId"] == created["UserId"]
    assert ident["Account"] == rampart.account_id


def test_list_access_keys_has_no_secrets(iam, user):
    k1 = iam.create_access_key(UserName=user)["AccessKey"]
    k2 = iam.create_access_key(UserName=user)["AccessKey"]
    resp = iam.list_access_keys(UserName=user)
    md = resp["AccessKeyMetadata"]
    assert {m["AccessKeyId"] for m in md} == {k1["AccessKeyId"], k2["AccessKeyId"]}
    assert resp["IsTruncated"] is False
    for m in md:
        assert m["UserName"] == user
        assert m["Status"] == "Active"
        assert "SecretAccessKey" not in m
        assert "CreateDate" in m
    assert k1["SecretAccessKey"] not in repr(resp)
    assert k2["SecretAccessKey"] not in repr(resp)


def test_list_access_keys_pagination(iam, user):
    ids = {iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)}
    p1 = iam.list_access_keys(UserName=user, MaxItems=1)
    assert len(p1["AccessKeyMetadata"]) == 1
    assert p1["IsTruncated"] is True and p1["Marker"]
    p2 = iam.list_access_keys(UserName=user, MaxItems=1, Marker=p1["Marker"])
    assert len(p2["AccessKeyMetadata"]) == 1
    assert p2["IsTruncated"] is False
    got = {p1["AccessKeyMetadata"][0]["AccessKeyId"], p2["AccessKeyMetadata"][0]["AccessKeyId"]}
    assert got == ids


def test_third_key_exceeds_quota(iam, user):
    iam.create_access_key(UserName=user)
    iam.create_access_key(UserName=user)
    with raises_aws("LimitExceeded", 409) as e:
        iam.create_access_key(UserName=user)
    assert e.message == "Cannot exceed quota for AccessKeysPerUser: 2"
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2


def test_inactive_keys_count_toward_quota(iam, user):
    a = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    b = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=user, AccessKeyId=a, Status="Inactive")
    iam.update_access_key(UserName=user, AccessKeyId=b, Status="Inactive")
    with raises_aws("LimitExceeded", 409):
        iam.create_access_key(UserName=user)
    iam.delete_access_key(UserName=user, AccessKeyId=a)
    assert AKID_RE.match(iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])


def test_create_key_for_missing_user(iam):
    name = uniq("nouser")
    with raises_aws("NoSuchEntity", 404) as e:
        iam.create_access_key(UserName=name)
    assert e.message == f"The user with name {name} cannot be found."


def test_list_keys_for_missing_user(iam):
    with raises_aws("NoSuchEntity", 404):
        iam.list_access_keys(UserName=uniq("nouser"))


def test_list_keys_of_user_without_keys(iam, user):
    resp = iam.list_access_keys(UserName=user)
    assert resp["AccessKeyMetadata"] == []
    assert resp["IsTruncated"] is False


def test_deactivate_and_reactivate(rampart, iam, user):
    k = iam.create_access_key(UserName=user)["AccessKey"]
    creds = Creds(k["AccessKeyId"], k["SecretAccessKey"])
    iam.update_access_key(UserName=user, AccessKeyId=k["AccessKeyId"], Status="Inactive")
    md = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [m["Status"] for m in md] == ["Inactive"]
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", creds).get_caller_identity()
    iam.update_access_key(UserName=user, AccessKeyId=k["AccessKeyId"], Status="Active")
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Active"
    assert rampart.client("sts", creds).get_caller_identity()["Arn"].endswith(f":user/{user}")


def test_update_key_invalid_status(iam, loose_iam, user):
    k = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    with raises_aws("ValidationError", 400):
        loose_iam.update_access_key(UserName=user, AccessKeyId=k, Status="Disabled")
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_update_and_delete_unknown_key(iam, user):
    bogus = "AKIA" + "Z" * 16
    with raises_aws("NoSuchEntity", 404) as e:
        iam.update_access_key(UserName=user, AccessKeyId=bogus, Status="Inactive")
    assert bogus in e.message
    with raises_aws("NoSuchEntity", 404) as e:
        iam.delete_access_key(UserName=user, AccessKeyId=bogus)
    assert bogus in e.message


def test_key_of_another_user_is_not_found(iam, user):
    other = uniq("other")
    iam.create_user(UserName=other)
    k = iam.create_access_key(UserName=other)["AccessKey"]["AccessKeyId"]
    with raises_aws("NoSuchEntity", 404):
        iam.update_access_key(UserName=user, AccessKeyId=k, Status="Inactive")
    with raises_aws("NoSuchEntity", 404):
        iam.delete_access_key(UserName=user, AccessKeyId=k)
    md = iam.list_access_keys(UserName=other)["AccessKeyMetadata"]
    assert [(m["AccessKeyId"], m["Status"]) for m in md] == [(k, "Active")]


def test_delete_access_key(rampart, iam, user):
    k = iam.create_access_key(UserName=user)["AccessKey"]
    resp = iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", Creds(k["AccessKeyId"], k["SecretAccessKey"])).get_caller_identity()
    with raises_aws("NoSuchEntity", 404):
        iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])


def test_invalid_access_key_id_format(loose_iam, user):
    with raises_aws("ValidationError", 400):
        loose_iam.delete_access_key(UserName=user, AccessKeyId="short")
    with raises_aws("ValidationError", 400):
        loose_iam.delete_access_key(UserName=user, AccessKeyId="AKIA" + "!" * 16)


def test_last_used_of_new_key(iam, user):
    k = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    resp = iam.get_access_key_last_used(AccessKeyId=k)
    assert resp["UserName"] == user
    lu = resp["AccessKeyLastUsed"]
    assert lu["ServiceName"] == "N/A"
    assert lu["Region"] == "N/A"
    assert "LastUsedDate" not in lu


def test_last_used_after_use(rampart, iam, user):
    k = iam.create_access_key(UserName=user)["AccessKey"]
    rampart.client("sts", Creds(k["AccessKeyId"], k["SecretAccessKey"])).get_caller_identity()
    deadline = time.monotonic() + 5
    while True:
        lu = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])["AccessKeyLastUsed"]
        if "LastUsedDate" in lu or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "LastUsedDate" in lu, f"last use not recorded: {lu}"
    assert lu["ServiceName"] == "sts"
    assert lu["Region"] == "us-east-1"
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - lu["LastUsedDate"]).total_seconds()) < 300


def test_root_last_used_is_tracked(rampart, iam):
    # the root key signs every call in this module
    rampart.client("sts").get_caller_identity()
    deadline = time.monotonic() + 5
    while True:
        lu = iam.get_access_key_last_used(AccessKeyId=rampart.creds.access_key_id)["AccessKeyLastUsed"]
        if "LastUsedDate" in lu or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "LastUsedDate" in lu, lu
    assert lu["ServiceName"] in {"iam", "sts"}
    assert lu["Region"] == "us-east-1"


def test_keys_are_unique(iam):
    ids, secrets = set(), set()
    for _ in range(3):
        name = uniq("uq")
        iam.create_user(UserName=name)
        for _ in range(2):
            k = iam.create_access_key(UserName=name)["AccessKey"]
            ids.add(k["AccessKeyId"])
            secrets.add(k["SecretAccessKey"])
    assert len(ids) == 6 and len(secrets) == 6
