"""KMS end to end: real cryptography checked with an independent library
(`cryptography`, OpenSSL underneath), encryption context semantics, key
states, aliases, grants, key policies enforced against IAM users, and
crypto-shredding of deleted keys."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from rampart_testlib import new_user, uniq


def error_of(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err.get("Message", "")


@pytest.fixture
def kms(rampart):
    return rampart.client("kms")


def user_kms(server, policy: dict | None = None):
    user = new_user(server, "kms")
    if policy is not None:
        server.client("iam").put_user_policy(
            UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps(policy))
    return user, server.client("kms", creds=user["creds"])


def allow(actions, resource="*", condition=None) -> dict:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


# ---------------------------------------------------------------- symmetric

def test_encrypt_decrypt_round_trip_without_key_id(kms):
    key = kms.create_key(Description="data")["KeyMetadata"]
    assert key["KeySpec"] == "SYMMETRIC_DEFAULT" and key["KeyState"] == "Enabled"
    assert key["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert "SigningAlgorithms" not in key and len(key["CurrentKeyMaterialId"]) == 64
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"attack at dawn")
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert b"attack at dawn" not in out["CiphertextBlob"]
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert back["Plaintext"] == b"attack at dawn" and back["KeyId"] == key["Arn"]
    # Two encryptions of one plaintext differ (fresh nonce and derived key).
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"attack at dawn")["CiphertextBlob"] != out["CiphertextBlob"]


def test_encryption_context_must_match_exactly(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ctx = {"Department": "10jQK", "purpose": "test"}
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=ctx)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(ctx.items()))))["Plaintext"] == b"x"
    for wrong in [{}, {"Department": "10jQK"}, {"Department": "10jqk", "purpose": "test"},
                  {**ctx, "extra": "1"}]:
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert error_of(e) == ("InvalidCiphertextException", ""), wrong


def test_tampered_or_foreign_ciphertexts_are_refused(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = bytearray(kms.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"])
    blob[-1] ^= 1
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=bytes(blob))
    assert error_of(e)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=b"\x00" * 64)
    assert error_of(e)[0] == "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    good = kms.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=good, KeyId=other)
    assert error_of(e)[0] == "IncorrectKeyException"


def test_plaintext_limits_and_data_keys(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key, Plaintext=b"a" * 4096)["CiphertextBlob"])["Plaintext"] == b"a" * 4096
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"a" * 4097)
    assert error_of(e)[0] == "ValidationException"
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"k": "v"})
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"] == dk["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key, NumberOfBytes=7)["Plaintext"]) == 7
    wo = kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_128")
    assert "Plaintext" not in wo and len(kms.decrypt(CiphertextBlob=wo["CiphertextBlob"])["Plaintext"]) == 16
    for kw in [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}, {"NumberOfBytes": 1025}]:
        with pytest.raises(ClientError) as e:
            kms.generate_data_key(KeyId=key, **kw)
        assert error_of(e)[0] == "ValidationException", kw
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=1025)
    assert error_of(e)[0] == "ValidationException"


def test_re_encrypt_moves_a_ciphertext_between_keys(kms):
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"move me", EncryptionContext={"s": "1"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"s": "1"}, DestinationKeyId=b["KeyId"],
                         DestinationEncryptionContext={"d": "2"})
    assert out["SourceKeyId"] == a["Arn"] and out["KeyId"] == b["Arn"]
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"d": "2"})["Plaintext"] == b"move me"


def test_data_key_pairs_are_real_key_pairs(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    public = serialization.load_der_public_key(pair["PublicKey"])
    assert private.public_key().public_numbers() == public.public_numbers()
    assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == pair["PrivateKeyPlaintext"]
    wo = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in wo
    rsa_private = serialization.load_der_private_key(kms.decrypt(CiphertextBlob=wo["PrivateKeyCiphertextBlob"])["Plaintext"], None)
    assert rsa_private.key_size == 2048


# --------------------------------------------------------------- asymmetric

RSA_SIGNING = [
    ("RSASSA_PSS_SHA_256", hashes.SHA256, True), ("RSASSA_PSS_SHA_384", hashes.SHA384, True),
    ("RSASSA_PSS_SHA_512", hashes.SHA512, True), ("RSASSA_PKCS1_V1_5_SHA_256", hashes.SHA256, False),
    ("RSASSA_PKCS1_V1_5_SHA_384", hashes.SHA384, False), ("RSASSA_PKCS1_V1_5_SHA_512", hashes.SHA512, False),
]


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072"])
def test_rsa_signatures_verify_with_openssl(kms, spec):
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert key["SigningAlgorithms"] == [a for a, _, _ in sorted(RSA_SIGNING, key=lambda t: (t[2], t[0]))]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    for algorithm, digest, pss in RSA_SIGNING:
        sig = kms.sign(KeyId=key["KeyId"], Message=b"signed message", SigningAlgorithm=algorithm)["Signature"]
        pad = padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest.digest_size) if pss else padding.PKCS1v15()
        public.verify(sig, b"signed message", pad, digest())
        assert kms.verify(KeyId=key["KeyId"], Message=b"signed message", Signature=sig,
                          SigningAlgorithm=algorithm)["SignatureValid"]
        with pytest.raises(ClientError) as e:
            kms.verify(KeyId=key["KeyId"], Message=b"signed messagE", Signature=sig, SigningAlgorithm=algorithm)
        assert error_of(e)[0] == "KMSInvalidSignatureException"
        # A DIGEST message is the digest itself.
        h = hashes.Hash(digest())
        h.update(b"signed message")
        assert kms.verify(KeyId=key["KeyId"], Message=h.finalize(), MessageType="DIGEST", Signature=sig,
                          SigningAlgorithm=algorithm)["SignatureValid"]


@pytest.mark.parametrize("spec,algorithm,digest", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", hashes.SHA256), ("ECC_NIST_P384", "ECDSA_SHA_384", hashes.SHA384),
    ("ECC_NIST_P521", "ECDSA_SHA_512", hashes.SHA512), ("ECC_SECG_P256K1", "ECDSA_SHA_256", hashes.SHA256)])
def test_ecdsa_signatures_verify_with_openssl(kms, spec, algorithm, digest):
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert key["SigningAlgorithms"] == [algorithm]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    sig = kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm=algorithm)["Signature"]
    public.verify(sig, b"m", ec.ECDSA(digest()))
    h = hashes.Hash(digest())
    h.update(b"m")
    dsig = kms.sign(KeyId=key["KeyId"], Message=h.finalize(), MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
    public.verify(dsig, b"m", ec.ECDSA(digest()))
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=b"short", MessageType="DIGEST", SigningAlgorithm=algorithm)
    assert error_of(e) == ("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")


def test_rsa_encryption_interoperates_with_openssl(kms):
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert key["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    blob = public.encrypt(b"from outside", oaep)
    assert kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=blob,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"from outside"
    inside = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 190, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=inside["CiphertextBlob"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"x" * 190
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] == "InvalidKeyUsageException"


def test_ecdh_shared_secret_matches_the_peer(kms):
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert key["KeyAgreementAlgorithms"] == ["ECDH"]
    ours = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)["SharedSecret"]
    assert secret == peer.exchange(ec.ECDH(), ours)


@pytest.mark.parametrize("spec,algorithm,length", [
    ("HMAC_224", "HMAC_SHA_224", 28), ("HMAC_256", "HMAC_SHA_256", 32),
    ("HMAC_384", "HMAC_SHA_384", 48), ("HMAC_512", "HMAC_SHA_512", 64)])
def test_hmac_keys(kms, spec, algorithm, length):
    key = kms.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert key["MacAlgorithms"] == [algorithm] and "CurrentKeyMaterialId" not in key
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm=algorithm)["Mac"]
    assert len(mac) == length
    assert kms.verify_mac(KeyId=key["KeyId"], Message=b"msg", Mac=mac, MacAlgorithm=algorithm)["MacValid"]
    with pytest.raises(ClientError) as e:
        kms.verify_mac(KeyId=key["KeyId"], Message=b"msG", Mac=mac, MacAlgorithm=algorithm)
    assert error_of(e) == ("KMSInvalidMacException", "")
    other = "HMAC_SHA_512" if algorithm != "HMAC_SHA_512" else "HMAC_SHA_256"
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm=other)
    assert error_of(e) == ("InvalidKeyUsageException", f"Algorithm {other} is incompatible with key spec {spec}.")


def test_create_key_validation(kms):
    cases = [
        ({"KeySpec": "HMAC_256"}, "ValidationException",
         "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
        ({"KeySpec": "RSA_2048", "KeyUsage": "KEY_AGREEMENT"}, "ValidationException",
         "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"),
        ({"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "SIGN_VERIFY"}, "ValidationException",
         "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"),
        ({"Policy": "not a policy"}, "MalformedPolicyDocumentException", None),
        ({"Tags": [{"TagKey": "aws:x", "TagValue": "1"}]}, "TagException", "Tags beginning with aws: are reserved"),
    ]
    for kw, code, message in cases:
        with pytest.raises(ClientError) as e:
            kms.create_key(**kw)
        assert error_of(e)[0] == code, kw
        if message is not None:
            assert error_of(e)[1] == message, kw


def test_wrong_usage_and_unknown_keys(kms, rampart):
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=signing["KeyId"], Plaintext=b"x")
    assert error_of(e) == ("InvalidKeyUsageException",
                           f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.")
    missing = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=missing)
    assert error_of(e) == ("NotFoundException",
                           f"Key 'arn:aws:kms:{rampart.region}:{rampart.account_id}:key/{missing}' does not exist")
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="not-a-key")
    assert error_of(e) == ("NotFoundException", "Invalid keyId 'not-a-key'")
    # Key management takes key ids and ARNs only; another region's ARN names no key here.
    alias = f"alias/{uniq('mgmt')}"
    kms.create_alias(AliasName=alias, TargetKeyId=signing["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.disable_key(KeyId=alias)
    assert error_of(e) == ("NotFoundException", f"Invalid keyId '{alias}'")
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=f"arn:aws:kms:{rampart.region}:{rampart.account_id}:{alias}", PolicyName="default",
                           Policy="{}")
    assert error_of(e) == ("InvalidArnException", "Key Aliases are not supported for this operation.")
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyState"] == "Enabled"
    elsewhere = signing["Arn"].replace(f":{rampart.region}:", ":eu-west-3:")
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=elsewhere)
    assert error_of(e) == ("NotFoundException", "Invalid arn eu-west-3")
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=missing, PolicyName="default", Policy="not json")
    assert error_of(e)[0] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/nothing-here")
    assert error_of(e) == ("NotFoundException",
                           f"Alias arn:aws:kms:{rampart.region}:{rampart.account_id}:alias/nothing-here is not found.")


# -------------------------------------------------------- states and aliases

def test_disabled_and_pending_deletion_keys(kms):
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(e) == ("DisabledException", f"{key['Arn']} is disabled.")
    kms.enable_key(KeyId=key["KeyId"])
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and not meta["Enabled"] and "DeletionDate" in meta
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")
    with pytest.raises(ClientError) as e:
        kms.enable_key(KeyId=key["KeyId"])
    assert error_of(e)[0] == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as e:
        kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert error_of(e) == ("KMSInvalidStateException", f"{key['Arn']} is not pending deletion.")


def test_aliases(kms, rampart):
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    name = f"alias/{uniq('app')}"
    kms.create_alias(AliasName=name, TargetKeyId=a["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=name, TargetKeyId=b["KeyId"])
    assert error_of(e)[0] == "AlreadyExistsException"
    assert kms.encrypt(KeyId=name, Plaintext=b"x")["KeyId"] == a["Arn"]
    alias_arn = f"arn:aws:kms:{rampart.region}:{rampart.account_id}:{name}"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["Arn"] == a["Arn"]
    kms.update_alias(AliasName=name, TargetKeyId=b["KeyId"])
    assert kms.encrypt(KeyId=name, Plaintext=b"x")["KeyId"] == b["Arn"]
    listed = kms.list_aliases(KeyId=b["KeyId"])["Aliases"]
    assert [x["AliasName"] for x in listed] == [name] and listed[0]["AliasArn"] == alias_arn
    for bad, code in [("noprefix", "ValidationException"), ("alias/aws/s3", "NotAuthorizedException")]:
        with pytest.raises(ClientError) as e:
            kms.create_alias(AliasName=bad, TargetKeyId=a["KeyId"])
        assert error_of(e)[0] == code, bad
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=name, Plaintext=b"x")
    assert error_of(e)[0] == "NotFoundException"


def test_tags_and_listing(kms):
    key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "blue"}])
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key)["Tags"]}
    assert tags == {"team": "blue", "env": "prod"}
    kms.untag_resource(KeyId=key, TagKeys=["env"])
    assert [t["TagKey"] for t in kms.list_resource_tags(KeyId=key)["Tags"]] == ["team"]
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(50)])
    assert error_of(e)[0] in ("TagException", "LimitExceededException")
    ids, marker = [], None
    while True:
        page = kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        ids += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert key in ids and len(ids) == len(set(ids))


def test_rotation_keeps_old_ciphertexts_decryptable(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90 and "NextRotationDate" in status
    kms.rotate_key_on_demand(KeyId=key)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    new = kms.encrypt(KeyId=key, Plaintext=b"after")
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=new["CiphertextBlob"])["Plaintext"] == b"after"
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=3000)
    assert error_of(e)[0] == "ValidationException"
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=rsa)
    assert error_of(e)[0] == "UnsupportedOperationException"


# ---------------------------------------------------- policies and grants

def test_default_key_policy_delegates_to_iam(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": rampart.root_arn}
    _, nobody = user_kms(rampart)
    with pytest.raises(ClientError) as e:
        nobody.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException"
    _, allowed = user_kms(rampart, allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"]))
    blob = allowed.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert allowed.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    # Decrypt without a KeyId is authorized on the key the ciphertext names.
    other = kms.create_key()["KeyMetadata"]
    foreign = kms.encrypt(KeyId=other["KeyId"], Plaintext=b"y")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        allowed.decrypt(CiphertextBlob=foreign)
    assert error_of(e)[0] == "AccessDeniedException" and other["Arn"] in error_of(e)[1]


def test_a_key_policy_without_the_account_binds_even_the_root(rampart, kms):
    user, client = user_kms(rampart, allow("kms:*"))
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user["arn"]}, "Action": "kms:*", "Resource": "*"}]}
    # The lockout check: the root may not lock itself out...
    with pytest.raises(ClientError) as e:
        kms.create_key(Policy=json.dumps(policy))
    assert error_of(e) == ("MalformedPolicyDocumentException",
                           "The new key policy will not allow you to update the key policy in the future.")
    # ...unless it says so.
    key = kms.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException"
    blob = client.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_encryption_context_conditions(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    _, client = user_kms(rampart, allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"],
                                        {"StringEquals": {"kms:EncryptionContext:project": "apollo"}}))
    blob = client.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"project": "apollo"})["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob, EncryptionContext={"project": "apollo"})["Plaintext"] == b"x"
    with pytest.raises(ClientError) as e:
        client.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"project": "gemini"})
    assert error_of(e)[0] == "AccessDeniedException"


def test_grants_allow_at_once_and_end_when_retired_or_revoked(rampart, kms):
    key = kms.create_key()["KeyMetadata"]
    grantee, client = user_kms(rampart)
    retiree, retiring_client = user_kms(rampart)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"granted", EncryptionContext={"case": "7"})["CiphertextBlob"]
    with pytest.raises(ClientError):
        client.decrypt(CiphertextBlob=blob, EncryptionContext={"case": "7"})
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"], RetiringPrincipal=retiree["arn"],
                             Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"case": "7"}})
    assert client.decrypt(CiphertextBlob=blob, EncryptionContext={"case": "7"},
                          GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"granted"
    # The constraint holds: another context is not covered.
    other = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"case": "8"})["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        client.decrypt(CiphertextBlob=other, EncryptionContext={"case": "8"})
    assert error_of(e)[0] == "AccessDeniedException"
    # Only the granted operation.
    with pytest.raises(ClientError):
        client.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"case": "7"})
    listed = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert [(g["GrantId"], g["KeyId"], g["GranteePrincipal"]) for g in listed] == [
        (grant["GrantId"], key["Arn"], grantee["arn"])]
    assert [g["GrantId"] for g in kms.list_retirable_grants(RetiringPrincipal=retiree["arn"])["Grants"]] == [grant["GrantId"]]
    # Only principals of the caller's own account.
    with pytest.raises(ClientError) as e:
        kms.list_retirable_grants(RetiringPrincipal="arn:aws:iam::999999999999:user/elsewhere")
    assert error_of(e)[0] == "ValidationException"
    retiring_client.retire_grant(GrantToken=grant["GrantToken"])
    with pytest.raises(ClientError):
        client.decrypt(CiphertextBlob=blob, EncryptionContext={"case": "7"})
    g2 = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"], Operations=["Decrypt"])
    assert client.decrypt(CiphertextBlob=other, EncryptionContext={"case": "8"})["Plaintext"] == b"x"
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=g2["GrantId"])
    with pytest.raises(ClientError):
        client.decrypt(CiphertextBlob=other, EncryptionContext={"case": "8"})
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["arn"], Operations=["Sign"])
    assert error_of(e)[0] == "ValidationException"


def test_audit_records_never_hold_plaintexts_or_ciphertexts(rampart, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = b"do-not-log-this-plaintext"
    blob = kms.encrypt(KeyId=key, Plaintext=secret, EncryptionContext={"who": "audit"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"who": "audit"})
    ct = rampart.client("cloudtrail")
    records = []
    for name in ("Encrypt", "Decrypt"):
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        records += [json.loads(e["CloudTrailEvent"]) for e in events]
    mine = [r for r in records if (r.get("requestParameters") or {}).get("encryptionContext", {}).get("who") == "audit"
            or (r.get("requestParameters") or {}).get("EncryptionContext", {}).get("who") == "audit"]
    assert len(mine) == 2, records[:2]
    text = json.dumps(mine)
    for forbidden in (secret.decode(), base64.b64encode(secret).decode(), base64.b64encode(blob).decode()):
        assert forbidden not in text
    assert all(r["readOnly"] for r in mine)
    # CloudTrail names the key each call used, as KMS records do.
    assert all(r["resources"] == [{"accountId": rampart.account_id, "type": "AWS::KMS::Key",
                                   "ARN": f"arn:aws:kms:{rampart.region}:{rampart.account_id}:key/{key}"}]
               for r in mine), mine


# ---------------------------------------------------------- crypto-shredding

def sealed_material(server, key_id: str) -> list[str]:
    db = sqlite3.connect(server.data_dir / "rampart.db")
    try:
        return [v for (v,) in db.execute(
            "SELECT value FROM records WHERE kind = 'kms-material' AND key LIKE ?", (f"%{key_id}%",))]
    finally:
        db.close()


def test_deleted_keys_are_gone_from_every_file(server_factory):
    server = server_factory(dev=True)
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    keep = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"shred me")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    sealed = sealed_material(server, key)
    assert len(sealed) == 2
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=keep, Plaintext=b"k")["CiphertextBlob"])["Plaintext"] == b"k"
    # Not yet: six days later the key still exists.
    requests.post(server.url(f"/_rampart/clock?advance={6 * 86400}"), timeout=10).raise_for_status()
    time.sleep(2.5)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    requests.post(server.url(f"/_rampart/clock?advance={86400 + 60}"), timeout=10).raise_for_status()
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            kms.describe_key(KeyId=key)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NotFoundException"
            break
        time.sleep(0.3)
    else:
        pytest.fail("the key was not destroyed after its window")
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(e)[0] == "NotFoundException"
    # The scrub runs right after the destruction commits.
    deadline = time.time() + 10
    while True:
        leftovers = []
        for path in server.data_dir.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for s in sealed:
                    for needle in (s.strip('"'), s.strip('"')[8:48]):
                        if needle.encode() in data:
                            leftovers.append(path.name)
        if not leftovers or time.time() > deadline:
            break
        time.sleep(0.5)
    assert not leftovers, f"wrapped material still in {sorted(set(leftovers))}"
    # The key that stays still works after a restart; the destroyed one stays gone.
    server.restart()
    kms = server.client("kms")
    assert kms.describe_key(KeyId=keep)["KeyMetadata"]["KeyState"] == "Enabled"
    with pytest.raises(ClientError):
        kms.describe_key(KeyId=key)
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "DeleteKey"}])["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventType"] == "AwsServiceEvent" and key in json.dumps(record["resources"])


def test_keys_survive_restart(fresh_rampart):
    kms = fresh_rampart.client("kms")
    sym = kms.create_key()["KeyMetadata"]["KeyId"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=sym, Plaintext=b"persist")["CiphertextBlob"]
    sig = kms.sign(KeyId=rsa, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    kms.create_alias(AliasName="alias/persisted", TargetKeyId=sym)
    fresh_rampart.kill9()
    fresh_rampart.start()
    kms = fresh_rampart.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"persist"
    assert kms.verify(KeyId=rsa, Message=b"m", Signature=sig, SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
    assert kms.describe_key(KeyId="alias/persisted")["KeyMetadata"]["KeyId"] == sym


# ------------------------------------------------------- imported material

def wrap_for_import(params: dict, material: bytes, algorithm: str) -> bytes:
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
    public = serialization.load_der_public_key(params["PublicKey"])
    digest = hashes.SHA256 if algorithm.endswith("SHA_256") else hashes.SHA1
    oaep = padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        aes = os.urandom(32)
        return public.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)
    return public.encrypt(material, oaep)


def import_material(kms, key_id: str, material: bytes, algorithm="RSAES_OAEP_SHA_256", **kw):
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
    return kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=wrap_for_import(params, material, algorithm), **kw)


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_imported_material_encrypts_and_can_be_deleted_and_reimported(kms, algorithm):
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert key["KeyState"] == "PendingImport" and not key["Enabled"] and "CurrentKeyMaterialId" not in key
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e) == ("KMSInvalidStateException", f"{key['Arn']} is pending import.")
    material = os.urandom(32)
    import_material(kms, key["KeyId"], material, algorithm, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"imported")["CiphertextBlob"]
    kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        import_material(kms, key["KeyId"], os.urandom(32))
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    import_material(kms, key["KeyId"], material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"


def test_import_is_refused_for_wrong_keys_tokens_and_material(kms):
    native = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=native["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    assert error_of(e) == ("UnsupportedOperationException",
                           f"{native['Arn']} origin is AWS_KMS which is not valid for this operation.")
    a = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    b = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=a, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    wrapped = wrap_for_import(params, os.urandom(32), "RSAES_OAEP_SHA_256")
    # A token is bound to its key.
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=b, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error_of(e)[0] == "InvalidImportTokenException"
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=a, ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap_for_import(params, os.urandom(16), "RSAES_OAEP_SHA_256"),
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=a, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert error_of(e) == ("ValidationException",
                           "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")


def test_imported_material_expires(server_factory):
    server = server_factory(dev=True)
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(kms, key, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=time.time() + 3600)
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and "ValidTo" in meta
    kms.encrypt(KeyId=key, Plaintext=b"x")
    requests.post(server.url("/_rampart/clock?advance=7200"), timeout=10).raise_for_status()
    deadline = time.time() + 10
    while kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] != "PendingImport":
        assert time.time() < deadline, "expired material was not deleted"
        time.sleep(0.3)
    assert not [v for v in sealed_material(server, key)]


def test_key_last_usage_is_noted_and_survives_a_restart(fresh_rampart):
    kms = fresh_rampart.client("kms")
    key = kms.create_key()["KeyMetadata"]
    usage = kms.get_key_last_usage(KeyId=key["KeyId"])
    assert "KeyLastUsage" not in usage and usage["KeyCreationDate"] == key["CreationDate"]
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms.describe_key(KeyId=key["KeyId"])  # not a tracked operation
    last = kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]
    assert last["Operation"] == "Encrypt" and last["KmsRequestId"] == out["ResponseMetadata"]["RequestId"]
    kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]["Operation"] == "Decrypt"
    fresh_rampart.restart()  # SIGTERM: the shutdown flush stores it
    last = fresh_rampart.client("kms").get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]
    assert last["Operation"] == "Decrypt"


def test_aws_managed_keys_are_created_on_first_use(rampart, kms):
    first = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert first["KeyManager"] == "AWS" and first["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["KeyId"] == first["KeyId"]
    assert kms.get_key_rotation_status(KeyId=first["KeyId"])["KeyRotationEnabled"]
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/aws/ebs"] == first["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=first["KeyId"])["Policy"])
    assert policy["Statement"][0]["Condition"]["StringEquals"]["kms:ViaService"] == f"ec2.{rampart.region}.amazonaws.com"
    # Used only through its service: not directly, not even by the root or a user allowed kms:*.
    _, anyone = user_kms(rampart, allow("kms:*"))
    for client in (kms, anyone):
        with pytest.raises(ClientError) as e:
            client.encrypt(KeyId="alias/aws/ebs", Plaintext=b"x")
        assert error_of(e)[0] == "AccessDeniedException"
    # A managed key's first use through a user creates it too, authorized by its key policy.
    with pytest.raises(ClientError) as e:
        anyone.encrypt(KeyId="alias/aws/s3", Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException"
    for call in (lambda: kms.disable_key(KeyId=first["KeyId"]),
                 lambda: kms.schedule_key_deletion(KeyId=first["KeyId"]),
                 lambda: kms.delete_alias(AliasName="alias/aws/ebs")):
        with pytest.raises(ClientError) as e:
            call()
        # The key policy allows the account nothing but reading (AccessDenied), and AWS owns the alias.
        assert error_of(e)[0] in ("AccessDeniedException", "NotAuthorizedException")
    events = rampart.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"]
    created = [json.loads(e["CloudTrailEvent"]) for e in events if first["KeyId"] in json.dumps(e.get("Resources"))]
    assert created and created[0]["eventType"] == "AwsServiceEvent"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/aws/nosuchservice")
    assert error_of(e)[0] == "NotFoundException"


def test_a_primary_key_waits_for_its_replicas_to_be_deleted(server_factory):
    server = server_factory(dev=True)
    kms = server.client("kms")
    away = server.client("kms", region="eu-west-1")
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    away.describe_key(KeyId=kms.replicate_key(KeyId=primary, ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]["Arn"])
    out = kms.schedule_key_deletion(KeyId=primary, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion" and out["PendingWindowInDays"] == 7 and "DeletionDate" not in out
    meta = kms.describe_key(KeyId=primary)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and meta["PendingDeletionWindowInDays"] == 7
    assert "DeletionDate" not in meta
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=primary, Plaintext=b"x")
    assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=primary, ReplicaRegion="ap-south-1")
    assert error_of(e)[0] == "KMSInvalidStateException"
    # However long it waits, the primary stays while a replica does.
    requests.post(server.url(f"/_rampart/clock?advance={40 * 86400}"), timeout=10).raise_for_status()
    time.sleep(2.5)
    assert kms.describe_key(KeyId=primary)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    # The replica's deletion starts the primary's window.
    away.schedule_key_deletion(KeyId=primary, PendingWindowInDays=7)
    requests.post(server.url(f"/_rampart/clock?advance={8 * 86400}"), timeout=10).raise_for_status()
    deadline = time.time() + 15
    while kms.describe_key(KeyId=primary)["KeyMetadata"]["KeyState"] != "PendingDeletion":
        assert time.time() < deadline, "the primary's window did not begin"
        time.sleep(0.3)
    meta = kms.describe_key(KeyId=primary)["KeyMetadata"]
    assert meta["PendingDeletionWindowInDays"] == 7 and "DeletionDate" in meta
    with pytest.raises(ClientError) as e:
        away.describe_key(KeyId=primary)
    assert error_of(e)[0] == "NotFoundException"
    # Cancelled in time, it is disabled; otherwise it goes after its window.
    kms.cancel_key_deletion(KeyId=primary)
    assert kms.describe_key(KeyId=primary)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.schedule_key_deletion(KeyId=primary, PendingWindowInDays=7)
    requests.post(server.url(f"/_rampart/clock?advance={8 * 86400}"), timeout=10).raise_for_status()
    deadline = time.time() + 15
    while True:
        try:
            kms.describe_key(KeyId=primary)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NotFoundException"
            break
        assert time.time() < deadline, "the primary was not deleted after its window"
        time.sleep(0.3)


def test_multi_region_keys_share_material_across_regions(rampart, kms):
    primary = kms.create_key(MultiRegion=True, Description="global")["KeyMetadata"]
    assert primary["KeyId"].startswith("mrk-") and primary["MultiRegion"]
    assert primary["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    replica_region = "eu-west-1"
    out = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion=replica_region, Description="copy")
    meta = out["ReplicaKeyMetadata"]
    assert meta["KeyId"] == primary["KeyId"] and meta["Arn"].split(":")[3] == replica_region
    assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert meta["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == rampart.region
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion=replica_region)
    assert error_of(e)[0] == "AlreadyExistsException"
    described = kms.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    assert [r["Region"] for r in described["ReplicaKeys"]] == [replica_region]
    away = rampart.client("kms", region=replica_region)
    blob = kms.encrypt(KeyId=primary["KeyId"], Plaintext=b"everywhere")["CiphertextBlob"]
    assert away.decrypt(CiphertextBlob=blob)["Plaintext"] == b"everywhere"
    # Only the primary rotates, for every copy.
    with pytest.raises(ClientError) as e:
        away.rotate_key_on_demand(KeyId=primary["KeyId"])
    assert error_of(e)[0] == "UnsupportedOperationException"
    kms.rotate_key_on_demand(KeyId=primary["KeyId"])
    newer = kms.encrypt(KeyId=primary["KeyId"], Plaintext=b"rotated")["CiphertextBlob"]
    assert away.decrypt(CiphertextBlob=newer)["Plaintext"] == b"rotated"
    back = away.encrypt(KeyId=primary["KeyId"], Plaintext=b"from the replica")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"from the replica"
    kms.update_primary_region(KeyId=primary["KeyId"], PrimaryRegion=replica_region)
    assert away.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    single = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=single["KeyId"], ReplicaRegion=replica_region)
    assert error_of(e)[0] == "UnsupportedOperationException"
