"""Hostile review of KMS custom key stores (AWS_CLOUDHSM on PKCS#11 tokens): what an attacker
tries against the stores, their tokens and their keys. Each test asserts AWS's behaviour; a test
that fails names a defect."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rampart_testlib import new_user
from test_kms_key_stores import (CLUSTER, OTHER_CLUSTER, OTHER_PASSWORD, PASSWORD, SOFTHSM_LIB, Tokens,
                                 cluster_key, cluster_server, error_of, new_store, store_of, tokens,  # noqa: F401
                                 trust_anchor)


def no_panic(server) -> None:
    log = server.log_text()
    assert "panicked" not in log and "RUST_BACKTRACE" not in log, server.log_tail(80)


def put_policy(server, user, statements) -> None:
    server.client("iam").put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))


# A PKCS#11 client of its own (ctypes, in a subprocess with the token directory's configuration):
# what the owner of a token can do to it outside Rampart.
_PKCS11_SCRIPT = r"""
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
slot, pin, label, value = int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4].encode(), bytes.fromhex(sys.argv[5])
UL = ctypes.c_ulong
class Attr(ctypes.Structure):
    _fields_ = [("type", UL), ("value", ctypes.c_void_p), ("len", UL)]
def check(rv, what):
    if rv != 0:
        raise SystemExit(f"{what}: 0x{rv:x}")
check(lib.C_Initialize(None), "C_Initialize")
session = UL()
check(lib.C_OpenSession(UL(slot), UL(6), None, None, ctypes.byref(session)), "C_OpenSession")
check(lib.C_Login(session, UL(1), pin, UL(len(pin))), "C_Login")
keep = []
def attr(kind, data):
    buf = ctypes.create_string_buffer(data, len(data))
    keep.append(buf)
    return Attr(kind, ctypes.cast(buf, ctypes.c_void_p), len(data))
ul = lambda n: n.to_bytes(ctypes.sizeof(UL), sys.byteorder)
true = b"\x01"
template = (Attr * 9)(attr(0x0, ul(4)), attr(0x100, ul(0x1F)), attr(0x1, true), attr(0x2, true),
                      attr(0x3, label), attr(0x102, label), attr(0x11, value), attr(0x104, true), attr(0x105, true))
handle = UL()
check(lib.C_CreateObject(session, template, UL(9), ctypes.byref(handle)), "C_CreateObject")
lib.C_Logout(session); lib.C_CloseSession(session); lib.C_Finalize(None)
"""


def plant_known_key(tokens: Tokens, slot: str, pin: str, label: str, value: bytes) -> None:
    """Creates an AES key of a value the caller knows, labelled `label`, in the token of `slot`."""
    out = subprocess.run([sys.executable, "-c", _PKCS11_SCRIPT, SOFTHSM_LIB, slot, pin, label, value.hex()],
                         env={**os.environ, **tokens.env}, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr + out.stdout


def open_locally(key: bytes, blob: bytes, plaintext_len: int) -> bytes:
    """Opens a cluster key's blob (header | body | tag, the header as AAD) without KMS."""
    header = blob[:len(blob) - plaintext_len - 16]
    return AESGCM(key).decrypt(header[-12:], blob[len(header):], header)


# ---------------------------------------------------------------------------------------------
# Secrets


def test_failed_store_calls_never_leak_the_password(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    secrets = ["leak-pass-ONE-1", "leak-pass-TWO-22", "short", "x" * 40, PASSWORD]
    store_id = new_store(kms)
    attempts = [
        lambda: kms.create_custom_key_store(CustomKeyStoreName="a", CloudHsmClusterId="cluster-doesnotexistx",
                                            TrustAnchorCertificate=trust_anchor(), KeyStorePassword=secrets[0]),
        lambda: kms.create_custom_key_store(CustomKeyStoreName="store", CloudHsmClusterId=OTHER_CLUSTER,
                                            TrustAnchorCertificate=trust_anchor(), KeyStorePassword=secrets[1]),
        lambda: server.json_call("kms", "CreateCustomKeyStore", {
            "CustomKeyStoreName": "b", "CloudHsmClusterId": OTHER_CLUSTER,
            "TrustAnchorCertificate": trust_anchor(), "KeyStorePassword": secrets[2]}),
        lambda: server.json_call("kms", "UpdateCustomKeyStore", {"CustomKeyStoreId": store_id,
                                                                 "KeyStorePassword": secrets[3]}),
    ]
    bodies = []
    for attempt in attempts:
        try:
            result = attempt()
            if isinstance(result, requests.Response):
                assert result.status_code == 400, result.text
                bodies.append(result.text)
        except ClientError as e:
            bodies.append(json.dumps(e.response, default=str))
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    with pytest.raises(ClientError) as e:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=secrets[1])
    bodies.append(json.dumps(e.value.response, default=str))
    events = json.dumps(server.client("cloudtrail").lookup_events(MaxResults=50)["Events"], default=str)
    assert "CustomKeyStore" in events
    for secret in secrets:
        for body in bodies:
            assert secret not in body
        assert secret not in events, f"the password {secret!r} is in an audit record"
        assert secret not in server.log_text(), f"the password {secret!r} is in server.log"
    server.stop()
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{secret!r} is in {path.name}"


# ---------------------------------------------------------------------------------------------
# Malformed input: every bad input is an AWS 4xx, never a 500, a hang or a panic


def test_malformed_key_store_inputs_are_aws_errors(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    anchor = trust_anchor()
    good = {"CustomKeyStoreName": "m", "CloudHsmClusterId": OTHER_CLUSTER, "TrustAnchorCertificate": anchor,
            "KeyStorePassword": OTHER_PASSWORD}
    der = base64.b64encode(bytes([0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2])).decode()
    cases = [
        ("CreateCustomKeyStore", {**good, "CloudHsmClusterId": "cluster-abc"}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CloudHsmClusterId": "cluster-abcdefghij1"}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CloudHsmClusterId": "cluster-" + "a" * 17}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CloudHsmClusterId": "xcluster-abcdefghijk"}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CloudHsmClusterId": "cluster-abcdefghijk\n"}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CloudHsmClusterId": 12345}, "SerializationException"),
        ("CreateCustomKeyStore", {**good, "TrustAnchorCertificate": "A" * 5001}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "TrustAnchorCertificate": "-----BEGIN CERTIFICATE-----\n" + "A" * 4900
                                  + "\n-----END CERTIFICATE-----"}, "IncorrectTrustAnchorException"),
        ("CreateCustomKeyStore", {**good, "TrustAnchorCertificate": f"-----BEGIN CERTIFICATE-----\n{der}\n"
                                  "-----END CERTIFICATE-----"}, "IncorrectTrustAnchorException"),
        ("CreateCustomKeyStore", {**good, "TrustAnchorCertificate": "-----BEGIN CERTIFICATE-----"
                                  "\u00a0\u2028é-----END CERTIFICATE-----"}, "IncorrectTrustAnchorException"),
        ("CreateCustomKeyStore", {**good, "TrustAnchorCertificate": anchor + anchor}, "IncorrectTrustAnchorException"),
        ("CreateCustomKeyStore", {**good, "KeyStorePassword": "123456"}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "KeyStorePassword": "p" * 33}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CustomKeyStoreName": ""}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CustomKeyStoreName": "n" * 257}, "ValidationException"),
        ("CreateCustomKeyStore", {**good, "CustomKeyStoreType": "NOPE"}, "ValidationException"),
        ("DescribeCustomKeyStores", {"Limit": 0}, "ValidationException"),
        ("DescribeCustomKeyStores", {"Limit": 1001}, "ValidationException"),
        ("DescribeCustomKeyStores", {"Limit": -1}, "ValidationException"),
        ("DescribeCustomKeyStores", {"Limit": 2 ** 64}, None),
        ("DescribeCustomKeyStores", {"Marker": "cks-00000000000000000"}, "InvalidMarkerException"),
        ("DescribeCustomKeyStores", {"Marker": "m" * 1025}, "ValidationException"),
        ("DescribeCustomKeyStores", {"Marker": "\u0100\u0101"}, "ValidationException"),
        ("DescribeCustomKeyStores", {"CustomKeyStoreId": "c" * 65}, "ValidationException"),
        ("DescribeCustomKeyStores", {"CustomKeyStoreId": store_id, "CustomKeyStoreName": "store"},
         "ValidationException"),
        ("ConnectCustomKeyStore", {"CustomKeyStoreId": ""}, "ValidationException"),
        ("ConnectCustomKeyStore", {}, "ValidationException"),
        ("UpdateCustomKeyStore", {"CustomKeyStoreId": store_id, "CloudHsmClusterId": "cluster-1"},
         "ValidationException"),
        ("UpdateCustomKeyStore", {"CustomKeyStoreId": store_id, "NewCustomKeyStoreName": ""}, "ValidationException"),
        ("UpdateCustomKeyStore", {"CustomKeyStoreId": store_id, "XksProxyConnectivity": "PUBLIC_ENDPOINT"},
         "ValidationException"),
        ("DeleteCustomKeyStore", {"CustomKeyStoreId": "c" * 65}, "ValidationException"),
        ("GenerateRandom", {"NumberOfBytes": 8, "CustomKeyStoreId": "c" * 65}, "ValidationException"),
        ("GenerateRandom", {"NumberOfBytes": 8, "CustomKeyStoreId": "../" + store_id}, "CustomKeyStoreNotFoundException"),
        ("CreateKey", {"CustomKeyStoreId": store_id.upper(), "Origin": "AWS_CLOUDHSM"},
         "CustomKeyStoreNotFoundException"),
        ("CreateKey", {"CustomKeyStoreId": store_id, "Origin": "EXTERNAL_KEY_STORE"}, None),
        ("CreateKey", {"CustomKeyStoreId": store_id, "Origin": "AWS_CLOUDHSM", "XksKeyId": "k"}, None),
    ]
    for operation, body, code in cases:
        resp = server.json_call("kms", operation, body)
        assert 400 <= resp.status_code < 500, (operation, body, resp.status_code, resp.text)
        if code:
            got = resp.json().get("__type", "").split("#")[-1]
            assert got == code, (operation, str(body)[:120], resp.text)
    for raw in [b'{"CustomKeyStoreId": "\xff\xfe"}', b'{"CustomKeyStoreId": "cks-', b"\x00" * 64,
                b'{"CustomKeyStoreId": ["cks-1"]}', b'[' * 5000]:
        resp = server.json_call("kms", "ConnectCustomKeyStore", raw)
        assert 400 <= resp.status_code < 500, (raw[:40], resp.status_code, resp.text)
    # The store is untouched, and the server well.
    assert store_of(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    server.assert_healthy()
    no_panic(server)


# ---------------------------------------------------------------------------------------------
# A disconnected store's keys


def test_no_path_uses_a_key_of_a_disconnected_store(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = cluster_key(kms, store_id)["KeyId"]
    ordinary = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/in-store", TargetKeyId=key_id)
    user = new_user(server, "grantee")
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=user["arn"],
                             Operations=["Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo",
                                         "GenerateDataKeyWithoutPlaintext"])
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"cluster")["CiphertextBlob"]
    other_blob = kms.encrypt(KeyId=ordinary, Plaintext=b"ordinary")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    user_kms = server.client("kms", creds=user["creds"])
    tokens_ = [grant["GrantToken"]]
    calls = {
        "Encrypt by alias": lambda: kms.encrypt(KeyId="alias/in-store", Plaintext=b"x"),
        "Decrypt with KeyId": lambda: kms.decrypt(CiphertextBlob=blob, KeyId=key_id),
        "ReEncrypt from": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=ordinary),
        "ReEncrypt to": lambda: kms.re_encrypt(CiphertextBlob=other_blob, DestinationKeyId=key_id),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, NumberOfBytes=32),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(KeyId=key_id,
                                                                                          KeySpec="AES_128"),
        "GenerateDataKeyPair": lambda: kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256"),
        "GenerateDataKeyPairWithoutPlaintext": lambda: kms.generate_data_key_pair_without_plaintext(
            KeyId=key_id, KeyPairSpec="ECC_NIST_P256"),
        "grantee Decrypt": lambda: user_kms.decrypt(CiphertextBlob=blob, GrantTokens=tokens_),
        "grantee Encrypt": lambda: user_kms.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=tokens_),
        "grantee GenerateDataKeyWithoutPlaintext": lambda: user_kms.generate_data_key_without_plaintext(
            KeyId=key_id, KeySpec="AES_256", GrantTokens=tokens_),
        "EnableKeyRotation": lambda: kms.enable_key_rotation(KeyId=key_id),
        "RotateKeyOnDemand": lambda: kms.rotate_key_on_demand(KeyId=key_id),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] in {"KMSInvalidStateException", "UnsupportedOperationException"}, (name, error_of(e))
    # The management AWS allows on an Unavailable key still works.
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v"}])
    kms.update_key_description(KeyId=key_id, Description="offline")
    kms.create_alias(AliasName="alias/second", TargetKeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    no_panic(server)


def test_a_grant_can_be_created_on_an_unavailable_key(server_factory, tokens):
    """AWS's key-state table: CreateGrant succeeds on an Unavailable key (a key of a disconnected
    AWS_CLOUDHSM key store), as CreateAlias and tagging do; only cryptographic operations fail."""
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = cluster_key(kms, store_id)["KeyId"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    user = new_user(server, "later")
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=user["arn"], Operations=["Decrypt"])
    assert grant["GrantId"]


# ---------------------------------------------------------------------------------------------
# Ciphertexts of one key presented as another's


def test_a_blob_never_opens_under_another_key(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    in_store = cluster_key(kms, store_id)["KeyId"]
    in_store_2 = cluster_key(kms, store_id)["KeyId"]
    ordinary = kms.create_key()["KeyMetadata"]["KeyId"]
    store_blob = kms.encrypt(KeyId=in_store, Plaintext=b"s" * 20)["CiphertextBlob"]
    ordinary_blob = kms.encrypt(KeyId=ordinary, Plaintext=b"o" * 20)["CiphertextBlob"]
    for blob, other in [(store_blob, ordinary), (ordinary_blob, in_store), (store_blob, in_store_2)]:
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, KeyId=other)
        assert error_of(e)[0] == "IncorrectKeyException"

    def key_id_bytes(key_id):
        return bytes.fromhex(key_id.replace("-", ""))

    # The header's key id rewritten: the blob names the other key, but never opens under it.
    for blob, src, dst in [(store_blob, in_store, ordinary), (ordinary_blob, ordinary, in_store),
                           (store_blob, in_store, in_store_2)]:
        forged = bytes(blob).replace(key_id_bytes(src), key_id_bytes(dst))
        assert forged != bytes(blob)
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=forged)
        assert error_of(e)[0] == "InvalidCiphertextException"
    # The version field bumped, the format byte flipped, the blob truncated.
    for forged in [bytes(store_blob[:-45]) + bytes([store_blob[-45] ^ 1]) + bytes(store_blob[-44:]),
                   bytes([store_blob[0] ^ 3]) + bytes(store_blob[1:]), bytes(store_blob[:40])]:
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=forged)
        assert error_of(e)[0] in {"InvalidCiphertextException", "NotFoundException"}
    no_panic(server)


# ---------------------------------------------------------------------------------------------
# Regions and users


def test_stores_are_regional_and_each_call_is_authorized(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = cluster_key(kms, store_id)["KeyId"]
    west = server.client("kms", region="us-west-2")
    for call in (lambda: west.describe_custom_key_stores(CustomKeyStoreId=store_id),
                 lambda: west.connect_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: west.disconnect_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: west.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="w"),
                 lambda: west.delete_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: west.generate_random(NumberOfBytes=8, CustomKeyStoreId=store_id),
                 lambda: west.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "CustomKeyStoreNotFoundException"
    # Another region's store cannot take the token this one uses.
    with pytest.raises(ClientError) as e:
        new_store(west, name="west")
    assert error_of(e)[0] == "CloudHsmClusterInUseException"
    with pytest.raises(ClientError) as e:
        west.describe_key(KeyId=key_id)
    assert error_of(e)[0] == "NotFoundException"
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"

    # A user's IAM policy decides each key store call, and kms:KeyOrigin its CreateKey.
    user = new_user(server, "ops")
    user_kms = server.client("kms", creds=user["creds"])
    put_policy(server, user, [
        {"Effect": "Allow", "Action": ["kms:CreateKey", "kms:DescribeCustomKeyStores"], "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*",
         "Condition": {"StringEquals": {"kms:KeyOrigin": "AWS_CLOUDHSM"}}}])
    with pytest.raises(ClientError) as e:
        user_kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    assert error_of(e)[0] == "AccessDeniedException"
    for call in (lambda: user_kms.generate_random(NumberOfBytes=8, CustomKeyStoreId=store_id),
                 lambda: user_kms.disconnect_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: user_kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="u"),
                 lambda: user_kms.delete_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: user_kms.encrypt(KeyId=key_id, Plaintext=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "AccessDeniedException"
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"


# ---------------------------------------------------------------------------------------------
# The clusters: relation, the root of trust, other stores' tokens


def test_a_related_cluster_must_hold_the_same_key_material(server_factory, tokens):
    """UpdateCustomKeyStore accepts another cluster only when it is related: in AWS, one that shares
    the original's backups, so it holds the same key material. A token whose owner planted AES keys
    of values he knows under the store's key ids is not related; accepting it lets whoever may call
    UpdateCustomKeyStore read everything the store's keys encrypt from then on."""
    slot = tokens.add("cluster-attackerowned", "attacker-pin-9")
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = cluster_key(kms, store_id)["KeyId"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    known = bytes(range(32))
    plant_known_key(tokens, slot, "attacker-pin-9", key_id, known)
    try:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId="cluster-attackerowned",
                                    KeyStorePassword="attacker-pin-9")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "CloudHsmClusterNotRelatedException"
        assert store_of(kms, store_id)["CloudHsmClusterId"] == CLUSTER
        return
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    secret = b"the victim's next secret"
    blob = kms.encrypt(KeyId=key_id, Plaintext=secret)["CiphertextBlob"]
    assert open_locally(known, blob, len(secret)) != secret, "the attacker reads it"
    pytest.fail("an unrelated cluster whose keys merely carry the store's labels was accepted")


def test_the_root_of_trust_token_is_never_a_cluster_under_another_path(server_factory, tokens, tmp_path):
    """The root of trust is recognised by the library's path: a copy of the same library (another
    path, so another instance of it in the process) reaches the same token without the check."""
    copy = tmp_path / "libsofthsm2-copy.so"
    shutil.copy(SOFTHSM_LIB, copy)
    slot = tokens.add("cluster-rootoftrusty", "4321-4321")
    server = server_factory(dev=True, extra_args=["--cloudhsm-module", str(copy), "--hsm-module", SOFTHSM_LIB,
                                                  "--hsm-slot", slot],
                            extra_env={**tokens.env, "RAMPART_HSM_PIN": "4321-4321"})
    kms = server.client("kms")
    try:
        store_id = new_store(kms, cluster="cluster-rootoftrusty", password="not-the-pin")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "CloudHsmClusterInUseException"
        return
    # A PIN oracle of the root of trust, and then its token as a key store's cluster.
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_of(kms, store_id).get("ConnectionErrorCode") == "INVALID_CREDENTIALS"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="4321-4321")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"
    before = tokens.objects()
    cluster_key(kms, store_id)
    assert tokens.objects() == before + 1
    pytest.fail("the root of trust's token became a key store's cluster (PIN guessed through ConnectCustomKeyStore)")


def test_update_never_takes_the_root_of_trust_or_another_stores_token(server_factory, tokens):
    slot = tokens.add("cluster-rootoftrustx", "4321-4321")
    server = cluster_server(server_factory, tokens, extra_args=["--hsm-module", SOFTHSM_LIB, "--hsm-slot", slot],
                            extra_env={"RAMPART_HSM_PIN": "4321-4321"})
    kms = server.client("kms")
    west = server.client("kms", region="us-west-2")
    store_id = new_store(kms)
    new_store(west, name="west", cluster=OTHER_CLUSTER, password=OTHER_PASSWORD)
    update_errors = {"CloudHsmClusterNotRelatedException", "CloudHsmClusterNotFoundException",
                     "CloudHsmClusterInvalidConfigurationException", "CloudHsmClusterNotActiveException"}
    for cluster, password in [("cluster-rootoftrustx", "4321-4321"), (OTHER_CLUSTER, OTHER_PASSWORD)]:
        with pytest.raises(ClientError) as e:
            kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=cluster,
                                        KeyStorePassword=password)
        assert error_of(e)[0] in update_errors | {"CloudHsmClusterInUseException"}
    assert store_of(kms, store_id)["CloudHsmClusterId"] == CLUSTER
    no_panic(server)


# ---------------------------------------------------------------------------------------------
# Races


def test_concurrent_connects_both_succeed_and_leave_the_store_connected(server_factory, tokens):
    """ConnectCustomKeyStore is valid on a CONNECTING or CONNECTED store: two callers connecting at
    once both succeed, and the store ends CONNECTED (never FAILED with USER_LOGGED_IN)."""
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    clients = [server.client("kms") for _ in range(4)]
    for _ in range(6):
        errors = []

        def connect(client):
            try:
                client.connect_custom_key_store(CustomKeyStoreId=store_id)
            except ClientError as e:
                errors.append(e.response["Error"]["Code"])

        threads = [threading.Thread(target=connect, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store = store_of(kms, store_id)
        assert not errors and store["ConnectionState"] == "CONNECTED", \
            (errors, store["ConnectionState"], store.get("ConnectionErrorCode"))
        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)


def test_create_key_racing_disconnect_leaves_no_orphan_in_the_token(server_factory, tokens):
    """A CreateKey that fails because the store was disconnected meanwhile leaves no key material
    in the cluster that no KMS key names."""
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    before = tokens.objects()
    made, failures, stop = [], [], threading.Event()

    def create(client):
        while not stop.is_set():
            try:
                made.append(client.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"])
            except ClientError as e:
                failures.append(e.response["Error"]["Code"])

    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    threads = [threading.Thread(target=create, args=(server.client("kms"),)) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.time() + 4
    while time.time() < deadline:
        try:
            kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        except ClientError:
            pass
        try:
            kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        except ClientError:
            pass
        state = store_of(kms, store_id)
        if state["ConnectionState"] == "FAILED":
            kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    stop.set()
    for t in threads:
        t.join()
    assert tokens.objects() - before == len(made), \
        f"{tokens.objects() - before} keys in the token, {len(made)} KMS keys; failures {sorted(set(failures))}, {len(failures)}"
    no_panic(server)


# ---------------------------------------------------------------------------------------------
# Restarts: a token that disappeared or whose password changed


def test_a_restart_with_a_lost_or_changed_token_fails_the_store_cleanly(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    other_id = new_store(kms, name="other", cluster=OTHER_CLUSTER, password=OTHER_PASSWORD)
    for s in (store_id, other_id):
        kms.connect_custom_key_store(CustomKeyStoreId=s)
    key_id = cluster_key(kms, store_id)["KeyId"]
    other_key = cluster_key(kms, other_id)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    server.stop()
    # CLUSTER's token is initialized anew with another PIN; OTHER_CLUSTER's disappears.
    subprocess.run(["softhsm2-util", "--init-token", "--token", CLUSTER, "--label", CLUSTER, "--pin", "new-pin-123",
                    "--so-pin", "87654321"], env=tokens.env, capture_output=True, check=True)
    for path in tokens.dir.iterdir():
        if path.is_dir() and OTHER_CLUSTER.encode() in (path / "token.object").read_bytes():
            shutil.rmtree(path)
    server.start()
    kms = server.client("kms")
    first, second = store_of(kms, store_id), store_of(kms, other_id)
    assert (first["ConnectionState"], first.get("ConnectionErrorCode")) == ("FAILED", "INVALID_CREDENTIALS")
    assert (second["ConnectionState"], second.get("ConnectionErrorCode")) == ("FAILED", "CLUSTER_NOT_FOUND")
    for call in (lambda: kms.decrypt(CiphertextBlob=blob), lambda: kms.encrypt(KeyId=other_key, Plaintext=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=8, CustomKeyStoreId=store_id)
    assert error_of(e)[0] == "CustomKeyStoreInvalidStateException"
    # The owner tells KMS the new password; the store connects (its key is gone with the old token).
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="new-pin-123")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500 or \
        error_of(e)[0] == "KMSInternalException"
    server.assert_healthy()
    no_panic(server)


def test_a_key_deleted_while_its_store_is_disconnected(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = cluster_key(kms, store_id)["KeyId"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    # Pending deletion throughout the window, even while the store is disconnected.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    requests.post(server.url(f"/_rampart/clock?advance={8 * 86400}"), timeout=10).raise_for_status()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            kms.describe_key(KeyId=key_id)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NotFoundException"
            break
        time.sleep(0.3)
    else:
        pytest.fail("not deleted")
    # Then the (keyless) store can be deleted, and a new store on the same cluster makes new keys.
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    again = new_store(kms, name="again")
    kms.connect_custom_key_store(CustomKeyStoreId=again)
    fresh = cluster_key(kms, again)["KeyId"]
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=fresh, Plaintext=b"n")["CiphertextBlob"])["Plaintext"] == b"n"
    no_panic(server)


def test_two_stores_never_share_a_token_even_when_racing(server_factory, tmp_path):
    """CloudHsmClusterInUseException keeps one store per cluster; an UpdateCustomKeyStore that moves
    a store to a cluster while another store is created on it must not leave both on it."""
    tokens = Tokens(tmp_path)
    targets = [f"cluster-race{chr(ord('a') + i)}bcdefgh" for i in range(20)]
    for cluster in [CLUSTER, *targets]:
        tokens.add(cluster, PASSWORD)
    server = cluster_server(server_factory, tokens)
    kms, other = server.client("kms"), server.client("kms")
    mover = new_store(kms, name="mover")
    for i, target in enumerate(targets):
        barrier = threading.Barrier(2)

        def update():
            barrier.wait()
            try:
                kms.update_custom_key_store(CustomKeyStoreId=mover, CloudHsmClusterId=target)
            except ClientError:
                pass

        def create():
            barrier.wait()
            try:
                new_store(other, name=f"racer{i}", cluster=target)
            except ClientError:
                pass

        threads = [threading.Thread(target=update), threading.Thread(target=create)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stores = kms.describe_custom_key_stores()["CustomKeyStores"]
        clusters = [s["CloudHsmClusterId"] for s in stores]
        assert len(clusters) == len(set(clusters)), f"two stores on one token: {clusters}"
        for store in stores:
            if store["CustomKeyStoreId"] != mover:
                kms.delete_custom_key_store(CustomKeyStoreId=store["CustomKeyStoreId"])
