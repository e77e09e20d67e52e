"""IAM users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser (as the account root)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from rampart_testlib import list_all_users, raises_aws, uniq

USER_ID_RE = re.compile(r"^AIDA[A-Z0-9]{17}$")


@pytest.fixture(scope="module")
def loose_iam(rampart):
    """IAM client without client-side parameter validation, to reach the server's validation."""
    return rampart.client("iam", parameter_validation=False)


def _recent(ts: dt.datetime) -> bool:
    now = dt.datetime.now(dt.timezone.utc)
    return abs((now - ts).total_seconds()) < 300


# ---------------------------------------------------------------- create / get

def test_create_user_response(rampart, iam):
    name = uniq("alice")
    resp = iam.create_user(UserName=name)
    u = resp["User"]
    assert u["UserName"] == name
    assert u["Path"] == "/"
    assert u["Arn"] == f"arn:aws:iam::{rampart.account_id}:user/{name}"
    assert USER_ID_RE.match(u["UserId"]), u["UserId"]
    assert _recent(u["CreateDate"]), u["CreateDate"]
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["RequestId"]


def test_get_user_matches_create(iam):
    name = uniq("bob")
    created = iam.create_user(UserName=name)["User"]
    got = iam.get_user(UserName=name)["User"]
    for k in ("UserName", "Path", "Arn", "UserId", "CreateDate"):
        assert got[k] == created[k], k


def test_create_user_with_path(rampart, iam):
    name = uniq("pathy")
    u = iam.create_user(UserName=name, Path="/division_abc/subdivision_xyz/")["User"]
    assert u["Path"] == "/division_abc/subdivision_xyz/"
    assert u["Arn"] == f"arn:aws:iam::{rampart.account_id}:user/division_abc/subdivision_xyz/{name}"
    assert iam.get_user(UserName=name)["User"]["Arn"] == u["Arn"]


def test_create_user_with_tags(iam):
    name = uniq("tagged")
    tags = [{"Key": "team", "Value": "security"}, {"Key": "cost-center", "Value": "42"}]
    iam.create_user(UserName=name, Tags=tags)
    got = iam.get_user(UserName=name)["User"]
    assert sorted(got.get("Tags", []), key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])


def test_user_ids_are_unique(iam):
    ids = {iam.create_user(UserName=uniq("uid"))["User"]["UserId"] for _ in range(5)}
    assert len(ids) == 5


def test_allowed_name_characters_and_max_length(iam):
    special = "a+=,.@_-" + uniq("z").replace("-", "_")
    assert iam.create_user(UserName=special)["User"]["UserName"] == special
    long_name = ("L" + uniq("").replace("-", ""))[:10].ljust(64, "x")
    assert len(long_name) == 64
    assert iam.create_user(UserName=long_name)["User"]["UserName"] == long_name


def test_duplicate_user(iam):
    name = uniq("dup")
    iam.create_user(UserName=name)
    with raises_aws("EntityAlreadyExists", 409) as e:
        iam.create_user(UserName=name)
    assert e.message == f"User with name {name} already exists."


def test_user_names_are_case_insensitively_unique(iam):
    name = uniq("CaseUser")
    iam.create_user(UserName=name)
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_user(UserName=name.lower())
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_user(UserName=name.upper())


def test_get_missing_user(iam):
    name = uniq("ghost")
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_user(UserName=name)
    assert e.message == f"The user with name {name} cannot be found."


@pytest.mark.parametrize(
    "bad",
    ["has space", "slash/inside", "semi;colon", "star*", "quote'", "", "x" * 65, "nul\x00byte",
     "caf\u00e9-\u00fc"],
    ids=["space", "slash", "semicolon", "star", "quote", "empty", "65-chars", "nul", "non-ascii"],
)
def test_invalid_user_names(loose_iam, bad):
    with raises_aws("ValidationError", 400):
        loose_iam.create_user(UserName=bad)


def test_missing_user_name(loose_iam):
    with raises_aws("ValidationError", 400) as e:
        loose_iam.create_user()
    assert "userName" in e.message


@pytest.mark.parametrize("bad_path", ["noslash", "/no-trailing", "no-leading/", "/a b/", "/\x7f/", "//"],
                         ids=["noslash", "no-trailing", "no-leading", "space", "del-char", "empty-segment"])
def test_invalid_paths(loose_iam, bad_path):
    with raises_aws("ValidationError", 400):
        loose_iam.create_user(UserName=uniq("badpath"), Path=bad_path)


def test_invalid_name_creates_nothing(iam, loose_iam):
    before = {u["UserName"] for u in list_all_users(iam)}
    with raises_aws("ValidationError", 400):
        loose_iam.create_user(UserName="not valid!")
    after = {u["UserName"] for u in list_all_users(iam)}
    assert after == before


# ---------------------------------------------------------------- list

def test_list_users_contains_created(iam):
    names = {uniq("lst") for _ in range(3)}
    for n in names:
        iam.create_user(UserName=n)
    listed = list_all_users(iam)
    got = {u["UserName"] for u in listed}
    assert names <= got
    for u in listed:
        assert set(u) >= {"UserName", "UserId", "Arn", "Path", "CreateDate"}
        assert "Tags" not in u, "ListUsers does not return Tags (AWS API reference)"


def test_list_users_pagination(iam):
    path = f"/{uniq('page')}/"
    names = {f"{uniq('pg')}" for _ in range(7)}
    for n in names:
        iam.create_user(UserName=n, Path=path)

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kw = {"PathPrefix": path, "MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = iam.list_users(**kw)
        pages += 1
        assert len(page["Users"]) <= 2
        seen += [u["UserName"] for u in page["Users"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page or not page["Marker"]
            break
        assert page.get("Marker"), "IsTruncated without Marker"
        marker = page["Marker"]
        assert pages < 20
    assert len(seen) == len(set(seen)), f"duplicates across pages: {seen}"
    assert set(seen) == names
    assert pages >= 4


def test_list_users_max_items_exact_fit(iam):
    path = f"/{uniq('fit')}/"
    for _ in range(3):
        iam.create_user(UserName=uniq("fit"), Path=path)
    page = iam.list_users(PathPrefix=path, MaxItems=3)
    assert len(page["Users"]) == 3
    assert page["IsTruncated"] is False


def test_list_users_path_prefix(iam):
    root = f"/{uniq('org')}/"
    a = iam.create_user(UserName=uniq("eng"), Path=f"{root}eng/")["User"]["UserName"]
    b = iam.create_user(UserName=uniq("engsub"), Path=f"{root}eng/sub/")["User"]["UserName"]
    c = iam.create_user(UserName=uniq("ops"), Path=f"{root}ops/")["User"]["UserName"]
    eng = {u["UserName"] for u in list_all_users(iam, PathPrefix=f"{root}eng/")}
    assert eng == {a, b}
    everything = {u["UserName"] for u in list_all_users(iam, PathPrefix=root)}
    assert everything == {a, b, c}
    assert list_all_users(iam, PathPrefix=f"/{uniq('nothing')}/") == []


@pytest.mark.parametrize("max_items", [0, 1001, -1])
def test_list_users_max_items_out_of_range(loose_iam, max_items):
    with raises_aws("ValidationError", 400):
        loose_iam.list_users(MaxItems=max_items)


# ---------------------------------------------------------------- update

def test_rename_user(rampart, iam):
    old, new = uniq("old"), uniq("new")
    created = iam.create_user(UserName=old)["User"]
    resp = iam.update_user(UserName=old, NewUserName=new)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = iam.get_user(UserName=new)["User"]
    assert got["UserId"] == created["UserId"], "UserId must survive a rename"
    assert got["Arn"] == f"arn:aws:iam::{rampart.account_id}:user/{new}"
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName=old)
    # the old name is free again, and gets a new unique id
    again = iam.create_user(UserName=old)["User"]
    assert again["UserId"] != created["UserId"]


def test_change_user_path(rampart, iam):
    name = uniq("mover")
    iam.create_user(UserName=name, Path="/a/")
    iam.update_user(UserName=name, NewPath="/b/c/")
    got = iam.get_user(UserName=name)["User"]
    assert got["Path"] == "/b/c/"
    assert got["Arn"] == f"arn:aws:iam::{rampart.account_id}:user/b/c/{name}"


def test_rename_onto_existing_user(iam):
    a, b = uniq("ra"), uniq("rb")
    iam.create_user(UserName=a)
    iam.create_user(UserName=b)
    with raises_aws("EntityAlreadyExists", 409):
        iam.update_user(UserName=a, NewUserName=b)
    assert iam.get_user(UserName=a)["User"]["UserName"] == a


def test_update_missing_user(iam):
    with raises_aws("NoSuchEntity", 404):
        iam.update_user(UserName=uniq("nobody"), NewUserName=uniq("x"))


def test_update_user_invalid_new_name(iam, loose_iam):
    name = uniq("valid")
    iam.create_user(UserName=name)
    with raises_aws("ValidationError", 400):
        loose_iam.update_user(UserName=name, NewUserName="in valid")
    with raises_aws("ValidationError", 400):
        loose_iam.update_user(UserName=name, NewPath="nopath")
    assert iam.get_user(UserName=name)["User"]["Path"] == "/"


def test_renamed_user_keeps_access_keys(rampart, iam):
    old, new = uniq("kold"), uniq("knew")
    iam.create_user(UserName=old)
    key = iam.create_access_key(UserName=old)["AccessKey"]
    iam.update_user(UserName=old, NewUserName=new)
    listed = iam.list_access_keys(UserName=new)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    from rampart_testlib import Creds

    ident = rampart.client("sts", Creds(key["AccessKeyId"], key["SecretAccessKey"])).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{rampart.account_id}:user/{new}"


# ---------------------------------------------------------------- delete

def test_delete_user(iam):
    name = uniq("del")
    iam.create_user(UserName=name)
    resp = iam.delete_user(UserName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName=name)
    assert name not in {u["UserName"] for u in list_all_users(iam)}
    with raises_aws("NoSuchEntity", 404) as e:
        iam.delete_user(UserName=name)
    assert e.message == f"The user with name {name} cannot be found."


def test_delete_user_with_access_keys_conflicts(iam):
    name = uniq("haskey")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    with raises_aws("DeleteConflict", 409) as e:
        iam.delete_user(UserName=name)
    assert e.message == "Cannot delete entity, must delete access keys first."
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    iam.delete_access_key(UserName=name, AccessKeyId=key)
    iam.delete_user(UserName=name)
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName=name)


def test_delete_then_recreate_gets_new_id(iam):
    name = uniq("phoenix")
    first = iam.create_user(UserName=name)["User"]["UserId"]
    iam.delete_user(UserName=name)
    second = iam.create_user(UserName=name)["User"]["UserId"]
    assert first != second, "IAM unique ids are never reused"
