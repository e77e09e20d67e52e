"""KMS under attack: a limited IAM user of the same account (or a caller
naming keys cleverly) trying to use, read, change or destroy keys it should
not, to learn key material, to make the server fail, or to have a call
recorded wrongly. Every test asserts what AWS does (the safe behaviour); a
test marked xfail(strict=True) documents a defect Rampart has today."""

from __future__ import annotations

import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import ClientError

from rampart_testlib import Creds, attr, new_user, uniq, wait_for_events


def error_of(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err.get("Message", "")


def status_of(excinfo) -> int:
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def kms(rampart):
    return rampart.client("kms")


def user_kms(server, policy: dict | None = None, region: str | None = None):
    user = new_user(server, "atk")
    if policy is not None:
        server.client("iam").put_user_policy(
            UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps(policy))
    kw = {"region": region} if region else {}
    return user, server.client("kms", creds=user["creds"], **kw)


def statement(actions, resource="*", condition=None, effect="Allow") -> dict:
    s = {"Effect": effect, "Action": actions, "Resource": resource}
    if condition:
        s["Condition"] = condition
    return s


def policy(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions, resource="*", condition=None) -> dict:
    return policy(statement(actions, resource, condition))


def key_policy_for(arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:*", "Resource": "*"}]})


# ------------------------------------------------ which key a call acts on

def test_decrypt_names_one_key_and_the_ciphertext_must_be_of_it(rampart, kms):
    """KeyId of a key the caller may use, with a ciphertext of another key:
    IncorrectKeyException, never the plaintext (Decrypt and ReEncrypt)."""
    mine = kms.create_key()["KeyMetadata"]
    theirs = kms.create_key()["KeyMetadata"]
    alias = f"alias/{uniq('mine')}"
    kms.create_alias(AliasName=alias, TargetKeyId=mine["KeyId"])
    _, client = user_kms(rampart, allow(["kms:Decrypt", "kms:ReEncrypt*", "kms:Encrypt"], mine["Arn"]))
    blob = kms.encrypt(KeyId=theirs["KeyId"], Plaintext=b"not yours")["CiphertextBlob"]
    for key_id in (mine["KeyId"], mine["Arn"], alias,
                   f"arn:aws:kms:{rampart.region}:{rampart.account_id}:{alias}"):
        with pytest.raises(ClientError) as e:
            client.decrypt(CiphertextBlob=blob, KeyId=key_id)
        assert error_of(e)[0] == "IncorrectKeyException", key_id
        with pytest.raises(ClientError) as e:
            client.re_encrypt(CiphertextBlob=blob, SourceKeyId=key_id, DestinationKeyId=mine["KeyId"])
        assert error_of(e)[0] == "IncorrectKeyException", key_id
    # Without a KeyId the ciphertext's own key is authorized: denied.
    with pytest.raises(ClientError) as e:
        client.re_encrypt(CiphertextBlob=blob, DestinationKeyId=mine["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException" and theirs["Arn"] in error_of(e)[1]


def test_an_explicit_deny_follows_the_key_however_it_is_named(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    alias = f"alias/{uniq('denied')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    _, client = user_kms(rampart, policy(statement("kms:*"),
                                         statement(["kms:Decrypt", "kms:ReEncryptFrom"], key["Arn"], effect="Deny")))
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    alias_arn = f"arn:aws:kms:{rampart.region}:{rampart.account_id}:{alias}"
    for kw in ({}, {"KeyId": key["KeyId"]}, {"KeyId": key["Arn"]}, {"KeyId": alias}, {"KeyId": alias_arn}):
        with pytest.raises(ClientError) as e:
            client.decrypt(CiphertextBlob=blob, **kw)
        assert error_of(e)[0] == "AccessDeniedException", kw
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        client.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other)
    assert error_of(e)[0] == "AccessDeniedException"
    # Spellings that the key's ARN pattern would not match reach no key at all.
    for spelled in (key["KeyId"].upper(), key["Arn"].replace(key["KeyId"], key["KeyId"].upper())):
        with pytest.raises(ClientError) as e:
            client.decrypt(CiphertextBlob=blob, KeyId=spelled)
        assert error_of(e)[0] in ("NotFoundException", "AccessDeniedException"), spelled


# ------------------------------------------------ encryption context conditions

def test_re_encrypt_cannot_launder_a_forbidden_encryption_context(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"gemini secret",
                       EncryptionContext={"project": "gemini"})["CiphertextBlob"]
    _, client = user_kms(rampart, allow(["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*"], key["Arn"],
                                        {"StringEquals": {"kms:EncryptionContext:project": "apollo"}}))
    with pytest.raises(ClientError) as e:
        client.decrypt(CiphertextBlob=blob, EncryptionContext={"project": "gemini"})
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        out = client.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"project": "gemini"},
                                DestinationKeyId=key["KeyId"], DestinationEncryptionContext={"project": "apollo"})
        # What the attacker does next: the laundered ciphertext decrypts under the allowed context.
        client.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"project": "apollo"})
    assert error_of(e)[0] == "AccessDeniedException"


def test_encryption_context_condition_values_are_case_sensitive(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    _, client = user_kms(rampart, allow(["kms:Encrypt", "kms:GenerateDataKey"], key["Arn"],
                                        {"StringEquals": {"kms:EncryptionContext:project": "apollo"}}))
    client.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"project": "apollo"})
    for ctx in ({"project": "Apollo"}, {}, {"other": "apollo"}):
        with pytest.raises(ClientError) as e:
            client.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=ctx)
        assert error_of(e)[0] == "AccessDeniedException", ctx
        with pytest.raises(ClientError) as e:
            client.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=ctx)
        assert error_of(e)[0] == "AccessDeniedException", ctx


def test_create_key_conditions_see_the_default_key_spec(rampart):
    _, client = user_kms(rampart, policy(
        statement("kms:CreateKey"),
        statement("kms:CreateKey", condition={"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT"}}, effect="Deny")))
    with pytest.raises(ClientError) as e:
        client.create_key(KeySpec="SYMMETRIC_DEFAULT")
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        client.create_key()  # KeySpec defaults to SYMMETRIC_DEFAULT
    assert error_of(e)[0] == "AccessDeniedException"


def test_lockout_bypass_is_subject_to_its_condition_key(rampart, kms):
    user, client = user_kms(rampart, policy(
        statement("kms:*"),
        statement(["kms:PutKeyPolicy", "kms:CreateKey"], effect="Deny",
                  condition={"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}})))
    key = kms.create_key()["KeyMetadata"]
    locked = key_policy_for(f"arn:aws:iam::{rampart.account_id}:user/nobody-{uniq('x')}")
    with pytest.raises(ClientError) as e:
        client.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locked,
                              BypassPolicyLockoutSafetyCheck=True)
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        client.create_key(Policy=locked, BypassPolicyLockoutSafetyCheck=True)
    assert error_of(e)[0] == "AccessDeniedException"
    # Without the bypass, the lockout check stops the same policy.
    with pytest.raises(ClientError) as e:
        client.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locked)
    assert error_of(e)[0] == "MalformedPolicyDocumentException"
    assert json.loads(kms.get_key_policy(KeyId=key["KeyId"])["Policy"])["Statement"][0]["Principal"] == {
        "AWS": rampart.root_arn}


def test_create_key_with_tags_needs_tag_resource(rampart):
    _, client = user_kms(rampart, allow("kms:CreateKey"))
    client.create_key()
    with pytest.raises(ClientError) as e:
        client.create_key(Tags=[{"TagKey": "project", "TagValue": "apollo"}])
    assert error_of(e)[0] == "AccessDeniedException"


def test_a_recreated_user_does_not_inherit_a_deleted_users_key_access(rampart, kms):
    iam = rampart.client("iam")
    name = uniq("victim")
    victim = iam.create_user(UserName=name)["User"]
    arn = victim["Arn"]
    key = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": rampart.root_arn}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:Decrypt", "Resource": "*"}]}))["KeyMetadata"]
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=arn, Operations=["Decrypt"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"the old user's data")["CiphertextBlob"]
    iam.delete_user(UserName=name)
    # The key policy and the grant now name the deleted user by its unique id, as AWS shows them.
    assert victim["UserId"] in kms.get_key_policy(KeyId=key["KeyId"])["Policy"]
    assert [g["GranteePrincipal"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [victim["UserId"]]
    iam.create_user(UserName=name)
    access = iam.create_access_key(UserName=name)["AccessKey"]
    impostor = rampart.client("kms", creds=Creds(access["AccessKeyId"], access["SecretAccessKey"], rampart.account_id))
    with pytest.raises(ClientError) as e:
        impostor.decrypt(CiphertextBlob=blob)
    assert error_of(e)[0] == "AccessDeniedException"


# ------------------------------------------------ multi-Region keys

def test_replicate_key_needs_create_key_in_the_replica_region(rampart, kms):
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    user, client = user_kms(rampart, allow("kms:ReplicateKey", primary["Arn"]))
    with pytest.raises(ClientError) as e:
        client.replicate_key(KeyId=primary["Arn"], ReplicaRegion="ap-south-1", Policy=key_policy_for(user["arn"]))
    assert error_of(e)[0] == "AccessDeniedException"


def test_update_primary_region_needs_permission_on_the_replica(rampart, kms):
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="sa-east-1")
    _, client = user_kms(rampart, allow("kms:UpdatePrimaryRegion", primary["Arn"]))
    with pytest.raises(ClientError) as e:
        client.update_primary_region(KeyId=primary["Arn"], PrimaryRegion="sa-east-1")
    assert error_of(e)[0] == "AccessDeniedException"
    assert kms.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"] == "PRIMARY"


def test_a_replica_key_id_is_not_reachable_from_another_region(rampart, kms):
    single = kms.create_key()["KeyMetadata"]
    away = rampart.client("kms", region="eu-north-1")
    blob = kms.encrypt(KeyId=single["KeyId"], Plaintext=b"regional")["CiphertextBlob"]
    for call in (lambda: away.decrypt(CiphertextBlob=blob), lambda: away.describe_key(KeyId=single["Arn"]),
                 lambda: away.schedule_key_deletion(KeyId=single["Arn"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] in ("NotFoundException", "InvalidCiphertextException")
    assert kms.describe_key(KeyId=single["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


# ------------------------------------------------ aliases

def test_update_alias_needs_permission_on_the_old_and_the_new_key(rampart, kms):
    allowed = kms.create_key()["KeyMetadata"]
    forbidden = kms.create_key()["KeyMetadata"]
    a, b = f"alias/{uniq('a')}", f"alias/{uniq('b')}"
    kms.create_alias(AliasName=a, TargetKeyId=allowed["KeyId"])
    kms.create_alias(AliasName=b, TargetKeyId=forbidden["KeyId"])
    arn = lambda name: f"arn:aws:kms:{rampart.region}:{rampart.account_id}:{name}"  # noqa: E731
    _, client = user_kms(rampart, allow(["kms:UpdateAlias", "kms:CreateAlias", "kms:DeleteAlias"],
                                        [arn(a), arn(b), arn("alias/*"), allowed["Arn"]]))
    with pytest.raises(ClientError) as e:  # onto a key it may not use
        client.update_alias(AliasName=a, TargetKeyId=forbidden["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:  # away from a key it may not use
        client.update_alias(AliasName=b, TargetKeyId=allowed["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        client.delete_alias(AliasName=b)
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        client.create_alias(AliasName=f"alias/{uniq('c')}", TargetKeyId=forbidden["Arn"])
    assert error_of(e)[0] == "AccessDeniedException"
    targets = {x["AliasName"]: x.get("TargetKeyId") for x in kms.list_aliases()["Aliases"]}
    assert targets[a] == allowed["KeyId"] and targets[b] == forbidden["KeyId"]


def test_aws_managed_aliases_and_keys_are_off_limits(rampart, kms):
    _, client = user_kms(rampart, allow("kms:*"))
    own = client.create_key()["KeyMetadata"]["KeyId"]
    # Nobody may claim an AWS managed alias, not even before AWS creates it.
    for name in ("alias/aws/redshift", "alias/aws/s3"):
        with pytest.raises(ClientError) as e:
            client.create_alias(AliasName=name, TargetKeyId=own)
        assert error_of(e)[0] in ("NotAuthorizedException", "AccessDeniedException")
    managed = kms.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        client.update_alias(AliasName="alias/aws/sqs", TargetKeyId=own)
    assert error_of(e)[0] in ("NotAuthorizedException", "AccessDeniedException")
    assert kms.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]["KeyId"] == managed["KeyId"]
    # A customer alias may not point at it, even by the root (the key policy does not allow it).
    name = f"alias/{uniq('to-managed')}"
    for who in (kms, client):
        with pytest.raises(ClientError) as e:
            who.create_alias(AliasName=name, TargetKeyId=managed["KeyId"])
        assert error_of(e)[0] == "AccessDeniedException"
        for call in (lambda: who.schedule_key_deletion(KeyId=managed["KeyId"]),
                     lambda: who.put_key_policy(KeyId=managed["KeyId"], PolicyName="default",
                                                Policy=key_policy_for(rampart.root_arn)),
                     lambda: who.create_grant(KeyId=managed["KeyId"], GranteePrincipal=rampart.root_arn,
                                              Operations=["Decrypt"]),
                     lambda: who.rotate_key_on_demand(KeyId=managed["KeyId"])):
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e)[0] in ("AccessDeniedException", "UnsupportedOperationException")


def test_concurrent_create_alias_has_one_winner(rampart, kms):
    keys = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(6)]
    name = f"alias/{uniq('race')}"
    clients = [rampart.client("kms") for _ in keys]

    def create(i):
        try:
            clients[i].create_alias(AliasName=name, TargetKeyId=keys[i])
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(len(keys)) as pool:
        results = list(pool.map(create, range(len(keys))))
    assert results.count("ok") == 1 and set(results) == {"ok", "AlreadyExistsException"}, results
    winner = keys[results.index("ok")]
    listed = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == name]
    assert [a["TargetKeyId"] for a in listed] == [winner]
    for key in keys:
        mine = [a["AliasName"] for a in kms.list_aliases(KeyId=key)["Aliases"]]
        assert (name in mine) == (key == winner)


# ------------------------------------------------ grants

def test_a_grantee_may_not_widen_its_grant(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    grantee, client = user_kms(rampart)
    other, _ = user_kms(rampart)
    constraints = {"EncryptionContextEquals": {"case": "1"}}
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"], Operations=["CreateGrant", "Decrypt"],
                     Constraints=constraints)
    for kw in ({"Operations": ["Decrypt", "Encrypt"], "Constraints": constraints},
               {"Operations": ["Decrypt"]},
               {"Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"case": "1"}}},
               {"Operations": ["Decrypt"], "Constraints": {"EncryptionContextEquals": {"case": "2"}}},
               {"Operations": ["RetireGrant"], "Constraints": constraints}):
        with pytest.raises(ClientError) as e:
            client.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"], **kw)
        assert error_of(e)[0] == "AccessDeniedException", kw
    # No wider than its own: allowed.
    client.create_grant(KeyId=key["KeyId"], GranteePrincipal=other["arn"], Operations=["Decrypt"],
                        Constraints=constraints)
    # And the grant does not reach another key.
    second = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        client.create_grant(KeyId=second["KeyId"], GranteePrincipal=grantee["arn"], Operations=["Decrypt"],
                            Constraints=constraints)
    assert error_of(e)[0] == "AccessDeniedException"


def test_grant_constraints_bind_every_operation(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    grantee, client = user_kms(rampart)
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"],
                     Operations=["GenerateDataKey", "Decrypt", "Encrypt", "DescribeKey"],
                     Constraints={"EncryptionContextEquals": {"a": "1"}})
    dk = client.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"a": "1"})
    assert client.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"a": "1"})["Plaintext"] == dk["Plaintext"]
    for ctx in ({}, {"a": "1", "b": "2"}, {"a": "2"}, {"A": "1"}):
        with pytest.raises(ClientError) as e:
            client.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=ctx)
        assert error_of(e)[0] == "AccessDeniedException", ctx
    # The grant names Decrypt, not ReEncryptFrom.
    with pytest.raises(ClientError) as e:
        client.re_encrypt(CiphertextBlob=dk["CiphertextBlob"], SourceEncryptionContext={"a": "1"},
                          DestinationKeyId=key["KeyId"], DestinationEncryptionContext={"a": "1"})
    assert error_of(e)[0] == "AccessDeniedException"


def test_grant_and_re_encrypt_condition_keys_hold(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    other_key = kms.create_key()["KeyMetadata"]
    target, _ = user_kms(rampart)
    user, client = user_kms(rampart, policy(
        statement("kms:CreateGrant", key["Arn"], {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]},
                                                  "StringEquals": {"kms:GranteePrincipal": target["arn"]}}),
        statement("kms:ReEncrypt*", "*", {"Bool": {"kms:ReEncryptOnSameKey": "true"}})))
    client.create_grant(KeyId=key["KeyId"], GranteePrincipal=target["arn"], Operations=["Decrypt"])
    for ops, grantee in ((["Decrypt", "Encrypt"], target["arn"]), (["Encrypt"], target["arn"]),
                         (["Decrypt"], user["arn"])):
        with pytest.raises(ClientError) as e:
            client.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, Operations=ops)
        assert error_of(e)[0] == "AccessDeniedException", (ops, grantee)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    alias = f"alias/{uniq('same')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    for dest in (key["KeyId"], key["Arn"], alias):
        client.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest)
    with pytest.raises(ClientError) as e:
        client.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other_key["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException"


def test_grant_tokens_are_not_credentials(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    grantee, _ = user_kms(rampart)
    _, stranger = user_kms(rampart)
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"], Operations=["Decrypt", "Encrypt"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        stranger.decrypt(CiphertextBlob=blob, GrantTokens=[grant["GrantToken"]])
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        stranger.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["rgt1" + "A" * 40])
    assert error_of(e)[0] == "InvalidGrantTokenException" and status_of(e) == 400


def test_only_the_retiring_principal_or_a_permitted_grantee_retires_a_grant(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    grantee, as_grantee = user_kms(rampart)
    retiree, as_retiree = user_kms(rampart)
    _, stranger = user_kms(rampart)
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"],
                             RetiringPrincipal=retiree["arn"], Operations=["Decrypt"])
    # A forged token naming this grant on another key the stranger is retiring principal for.
    other = kms.create_key()["KeyMetadata"]
    kms.create_grant(KeyId=other["KeyId"], GranteePrincipal=grantee["arn"], RetiringPrincipal=retiree["arn"],
                     Operations=["Decrypt"])
    forged = "rgt1" + base64.urlsafe_b64encode(
        f"{other['Arn']}\n{grant['GrantId']}".encode()).decode().rstrip("=")
    attempts = [
        lambda: as_grantee.retire_grant(GrantToken=grant["GrantToken"]),  # the grant lacks RetireGrant
        lambda: stranger.retire_grant(GrantToken=grant["GrantToken"]),
        lambda: stranger.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"]),
        lambda: stranger.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"]),
        lambda: as_grantee.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"]),
        lambda: as_retiree.retire_grant(GrantToken=forged),
        lambda: stranger.list_retirable_grants(RetiringPrincipal=retiree["arn"]),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as e:
            attempt()
        assert error_of(e)[0] in ("AccessDeniedException", "InvalidGrantIdException", "NotFoundException")
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    as_retiree.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_concurrent_named_grants_are_one_grant(rampart, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grantee, _ = user_kms(rampart)
    clients = [rampart.client("kms") for _ in range(6)]
    name = uniq("g")

    def create(client):
        return client.create_grant(KeyId=key, GranteePrincipal=grantee["arn"], Operations=["Decrypt"],
                                   Name=name)["GrantId"]

    with ThreadPoolExecutor(len(clients)) as pool:
        ids = set(pool.map(create, clients))
    assert len(ids) == 1
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]] == list(ids)


# ------------------------------------------------ key states

def test_disabled_and_pending_deletion_keys_do_nothing(rampart, kms):
    disabled = kms.create_key()["KeyMetadata"]["KeyId"]
    doomed = kms.create_key()["KeyMetadata"]["KeyId"]
    blobs = {k: kms.encrypt(KeyId=k, Plaintext=b"x")["CiphertextBlob"] for k in (disabled, doomed)}
    kms.disable_key(KeyId=disabled)
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    for key, code in ((disabled, "DisabledException"), (doomed, "KMSInvalidStateException")):
        for call in (lambda: kms.decrypt(CiphertextBlob=blobs[key]),
                     lambda: kms.encrypt(KeyId=key, Plaintext=b"x"),
                     lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256"),
                     lambda: kms.re_encrypt(CiphertextBlob=blobs[key], DestinationKeyId=key),
                     lambda: kms.create_grant(KeyId=key, GranteePrincipal=rampart.root_arn, Operations=["Decrypt"])):
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e)[0] == code
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=f"alias/{uniq('doomed')}", TargetKeyId=doomed)
    assert error_of(e)[0] == "KMSInvalidStateException"


def test_a_key_whose_material_expired_while_pending_deletion_waits_for_import(server_factory):
    server = server_factory(dev=True)
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    public = serialization.load_der_public_key(params["PublicKey"])
    wrapped = public.encrypt(os.urandom(32), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                         algorithm=hashes.SHA256(), label=None))
    kms.import_key_material(KeyId=key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 3600)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=30)
    requests.post(server.url("/_rampart/clock?advance=7200"), timeout=10).raise_for_status()
    deadline = time.time() + 10
    while "ValidTo" in kms.describe_key(KeyId=key)["KeyMetadata"]:
        assert time.time() < deadline, "the material did not expire"
        time.sleep(0.2)
    kms.cancel_key_deletion(KeyId=key)
    try:
        kms.enable_key(KeyId=key)
    except ClientError:
        pass
    for call in (lambda: kms.encrypt(KeyId=key, Plaintext=b"x"),
                 lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256")):
        with pytest.raises(ClientError) as e:
            call()
        assert status_of(e) < 500 and error_of(e)[0] != "KMSInternalException", error_of(e)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"


# ------------------------------------------------ malformed and hostile input

def _header_fields(blob: bytes):
    region_len = blob[13]
    key_at = 14 + region_len
    return region_len, key_at


def test_crafted_ciphertexts_are_invalid_never_a_failure(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    good = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    region_len, key_at = _header_fields(good)
    version_at = key_at + 16
    bumped = bytearray(good)
    bumped[version_at:version_at + 4] = b"\xff\xff\xff\xff"
    other_region = bytearray(good)
    other_region[14:14 + region_len] = b"eu-west-9"[:region_len].ljust(region_len, b"x")
    bad_account = bytearray(good)
    bad_account[1:13] = b"12345678901a"
    crafted = [
        b"\x01", b"\x02" * 8, b"\x01" + good[1:14] + b"\xff", bytes(bumped), bytes(other_region), bytes(bad_account),
        good[:version_at + 4 + 16 + 12 + 15],  # one byte short of a tag
        b"\x00" * 64, os.urandom(6144), good + b"\x00",
    ]
    for blob in crafted:
        for kw in ({}, {"KeyId": key["KeyId"]}):
            with pytest.raises(ClientError) as e:
                kms.decrypt(CiphertextBlob=blob, **kw)
            assert status_of(e) < 500 and error_of(e)[0] != "KMSInternalException", (blob[:20], kw, error_of(e))
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=os.urandom(6145))
    assert error_of(e)[0] == "ValidationException"


def test_malformed_json_members_are_client_errors(rampart, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = base64.b64encode(kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]).decode()
    bodies = [
        ("Encrypt", {"KeyId": key, "Plaintext": "eA==", "EncryptionContext": {"a": 1}}),
        ("Encrypt", {"KeyId": key, "Plaintext": "eA==", "EncryptionContext": {"a": {"b": "c"}}}),
        ("Encrypt", {"KeyId": key, "Plaintext": "eA==", "EncryptionContext": ["a", "b"]}),
        ("Encrypt", {"KeyId": key, "Plaintext": "not base64!"}),
        ("Encrypt", {"KeyId": {"nested": key}, "Plaintext": "eA=="}),
        ("Decrypt", {"CiphertextBlob": blob[:-2]}),
        ("Decrypt", {"CiphertextBlob": blob, "EncryptionContext": {"a": None}}),
        ("Decrypt", {"CiphertextBlob": blob, "KeyId": ""}),
        ("Decrypt", {"CiphertextBlob": blob, "GrantTokens": [{"x": 1}]}),
        ("CreateGrant", {"KeyId": key, "GranteePrincipal": "arn:aws:iam::123456789012:root",
                         "Operations": ["Decrypt"], "Constraints": {"EncryptionContextEquals": {"a": 5}}}),
        ("RetireGrant", {"GrantToken": "rgt1" + base64.urlsafe_b64encode(b"arn:aws:kms:x\n" + b"0" * 64).decode()}),
        ("GenerateDataKey", {"KeyId": key, "NumberOfBytes": -1}),
        ("GenerateDataKey", {"KeyId": key, "NumberOfBytes": 2 ** 70}),
        ("GenerateRandom", {"NumberOfBytes": 0}),
        ("ListAliases", {"Limit": 0}),
        ("ListGrants", {"KeyId": key, "Limit": 0}),
        ("ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 2 ** 40}),
    ]
    nested = {"KeyId": key, "Plaintext": "eA==", "EncryptionContext": {}}
    raw = json.dumps(nested).replace("{}", "[" * 5000 + "]" * 5000)
    for operation, body in bodies + [("Encrypt", raw)]:
        resp = rampart.json_call("kms", operation, body)
        assert 400 <= resp.status_code < 500, (operation, body if isinstance(body, dict) else "nested",
                                               resp.status_code, resp.text[:300])
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_signing_inputs_are_checked(kms):
    ec = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    agree = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    bad = [
        lambda: kms.sign(KeyId=ec, Message=b"\x00" * 31, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.sign(KeyId=ec, Message=b"\x00" * 33, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.sign(KeyId=rsa, Message=b"\x00" * 32, MessageType="DIGEST", SigningAlgorithm="RSASSA_PSS_SHA_512"),
        lambda: kms.sign(KeyId=ec, Message=b"\x00" * 4097, SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.sign(KeyId=ec, Message=b"m", SigningAlgorithm="ECDSA_SHA_384"),
        lambda: kms.sign(KeyId=mac, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.verify(KeyId=rsa, Message=b"m", Signature=os.urandom(6144), SigningAlgorithm="RSASSA_PSS_SHA_256"),
        lambda: kms.verify(KeyId=ec, Message=b"\x01" * 32, MessageType="DIGEST", Signature=b"\x30\x00",
                           SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.verify_mac(KeyId=mac, Message=b"m", Mac=b"", MacAlgorithm="HMAC_SHA_256"),
        lambda: kms.generate_mac(KeyId=mac, Message=b"m" * 4097, MacAlgorithm="HMAC_SHA_256"),
        lambda: kms.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_512"),
        lambda: kms.derive_shared_secret(KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=os.urandom(91)),
        lambda: kms.derive_shared_secret(KeyId=ec, KeyAgreementAlgorithm="ECDH", PublicKey=os.urandom(91)),
        lambda: kms.encrypt(KeyId=ec, Plaintext=b"x"),
        lambda: kms.get_public_key(KeyId=mac),
    ]
    for i, call in enumerate(bad):
        with pytest.raises(ClientError) as e:
            call()
        assert status_of(e) < 500 and error_of(e)[0] != "KMSInternalException", (i, error_of(e))


def test_import_tokens_and_material_are_bound_to_their_key(kms):
    a = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    b = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=a, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    for kw in ({"KeyId": b, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": os.urandom(296)},
               {"KeyId": a, "ImportToken": b"garbage-token", "EncryptedKeyMaterial": os.urandom(296)},
               {"KeyId": a, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": os.urandom(10)},
               {"KeyId": a, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": os.urandom(296)}):
        with pytest.raises(ClientError) as e:
            kms.import_key_material(ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", **kw)
        assert status_of(e) < 500 and error_of(e)[0] in (
            "InvalidImportTokenException", "InvalidCiphertextException", "ValidationException"), error_of(e)
    for k in (a, b):
        assert kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "PendingImport"


# ------------------------------------------------ the audit trail

def test_cryptographic_calls_are_recorded_with_their_key(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    marker = uniq("trail")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"marker": marker})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"marker": marker})
    ct = rampart.client("cloudtrail")

    def mine(_event, rec):
        params = rec.get("requestParameters") or {}
        ctx = params.get("encryptionContext") or params.get("EncryptionContext") or {}
        return ctx.get("marker") == marker

    for name in ("Encrypt", "Decrypt"):
        found = wait_for_events(ct, mine, LookupAttributes=attr("EventName", name))
        resources = [r.get("ResourceName") for r in found[0].get("Resources", [])]
        assert key["Arn"] in resources, (name, found[0].get("Resources"))


def test_audit_records_of_other_crypto_calls_hold_no_secrets(rampart, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    dest = kms.create_key()["KeyMetadata"]["KeyId"]
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    marker = uniq("secret")
    message = f"sign-me-{marker}".encode()
    blob = kms.encrypt(KeyId=key, Plaintext=b"p", EncryptionContext={"m": marker})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"m": marker}, DestinationKeyId=dest,
                         DestinationEncryptionContext={"m": marker})
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256", EncryptionContext={"m": marker})
    sig = kms.sign(KeyId=signer, Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    ct = rampart.client("cloudtrail")
    texts = []
    for name in ("ReEncrypt", "GenerateDataKeyPair"):
        found = wait_for_events(ct, lambda _e, rec: marker in json.dumps(rec.get("requestParameters")),
                                LookupAttributes=attr("EventName", name))
        texts.append(json.dumps([e["CloudTrailEvent"] for e in found]))
    signed = wait_for_events(ct, lambda _e, rec: signer in json.dumps(rec), LookupAttributes=attr("EventName", "Sign"))
    texts.append(json.dumps([e["CloudTrailEvent"] for e in signed]))
    text = "".join(texts)
    for secret in (blob, out["CiphertextBlob"], pair["PrivateKeyPlaintext"], pair["PrivateKeyCiphertextBlob"], sig,
                   message):
        assert base64.b64encode(secret).decode() not in text
    assert message.decode() not in text
