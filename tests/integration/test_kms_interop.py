"""KMS interop: the AWS Encryption SDK for Python (aws-encryption-sdk) encrypts and
decrypts through Rampart's KMS.

The SDK's KMS master key (`KMSMasterKey`, what `StrictAwsKmsMasterKeyProvider`
builds for each key id) is handed a client from rampart_testlib, so every
GenerateDataKey/Decrypt it sends goes to the server under test with the
caller's credentials. The SDK's default commitment policy and algorithm suite
(AES-256-GCM, HKDF-SHA512 with key commitment, ECDSA P-384 signature) are
used, so the encryption context the SDK sends to KMS carries its
`aws-crypto-public-key` entry besides the caller's.

Every test runs three times: on a node with file keys, on a node whose root of
trust is a SoftHSM2 token, and with a key of a custom key store (its material
generated and used inside a SoftHSM2 token standing for a CloudHSM cluster)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import aws_encryption_sdk
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import DecryptKeyError
from aws_encryption_sdk.identifiers import ContentType
from aws_encryption_sdk.key_providers.kms import KMSMasterKey

from rampart_testlib import new_user, raises_aws
from test_kms_key_stores import CLUSTER, PASSWORD, SOFTHSM_LIB, Tokens, new_store

SDK = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
PUBLIC_KEY_CONTEXT = "aws-crypto-public-key"


@dataclass
class Call:
    operation: str
    params: dict
    status: int = 0
    error: str | None = None


@dataclass
class KmsCalls:
    """Every call a KMS client makes: operation, parameters, HTTP status and error code."""
    calls: list[Call] = field(default_factory=list)

    @classmethod
    def on(cls, client) -> "KmsCalls":
        rec = cls()
        client.meta.events.register("before-parameter-build.kms", rec._params)
        client.meta.events.register("after-call.kms", rec._done)
        return rec

    def _params(self, params, model, **_):
        self.calls.append(Call(model.name, dict(params)))

    def _done(self, http_response, parsed, model, **_):
        call = self.calls[-1]
        assert call.operation == model.name
        call.status = http_response.status_code
        call.error = (parsed.get("Error") or {}).get("Code")

    def summary(self) -> list[tuple[str, int, str | None]]:
        return [(c.operation, c.status, c.error) for c in self.calls]


def sdk_key(client, arn: str, grant_tokens=()) -> tuple[KMSMasterKey, KmsCalls]:
    return KMSMasterKey(key_id=arn, client=client, grant_tokens=grant_tokens), KmsCalls.on(client)


@pytest.fixture(scope="module", params=["file-keys", "hsm-root-of-trust", "cloudhsm-key-store"])
def node(request, module_server_factory, tmp_path_factory):
    """`(server, custom key store id or None)` for one of the three ways keys are kept."""
    if request.param == "file-keys":
        return module_server_factory(name="file-keys"), None
    tokens = Tokens(tmp_path_factory.mktemp(request.param))
    if request.param == "hsm-root-of-trust":
        slot = tokens.add("rampart-root", "4321")
        server = module_server_factory(name=request.param, extra_args=["--hsm-module", SOFTHSM_LIB, "--hsm-slot", slot],
                                       extra_env={**tokens.env, "RAMPART_HSM_PIN": "4321"})
        return server, None
    tokens.add(CLUSTER, PASSWORD)
    server = module_server_factory(name=request.param, extra_args=["--cloudhsm-module", SOFTHSM_LIB],
                                   extra_env=tokens.env)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    return server, store_id


@pytest.fixture
def rampart(node):
    return node[0]


@pytest.fixture
def kms(rampart):
    return rampart.client("kms")


@pytest.fixture
def key_arn(kms, node):
    store = {"CustomKeyStoreId": node[1], "Origin": "AWS_CLOUDHSM"} if node[1] else {}
    return kms.create_key(Description="aws-encryption-sdk interop", **store)["KeyMetadata"]["Arn"]


def test_sdk_round_trip_with_encryption_context(kms, key_arn):
    context = {"tenant": "acme", "purpose": "interop test", "unicode": "h\u00e9llo \u2603"}
    plaintext = b"attack at dawn, via the Encryption SDK"
    key, calls = sdk_key(kms, key_arn)
    message, header = SDK.encrypt(source=plaintext, key_provider=key, encryption_context=context)
    assert plaintext not in message
    # One data key, generated under the Rampart key, with the caller's context plus the SDK's.
    assert calls.summary() == [("GenerateDataKey", 200, None)]
    sent = calls.calls[0].params
    assert sent["KeyId"] == key_arn and sent["NumberOfBytes"] == 32
    assert set(sent["EncryptionContext"]) == set(context) | {PUBLIC_KEY_CONTEXT}
    assert [(k.key_provider.provider_id, k.key_provider.key_info) for k in header.encrypted_data_keys] == [
        ("aws-kms", key_arn.encode())]

    decrypted, dheader = SDK.decrypt(source=message, key_provider=key)
    assert decrypted == plaintext
    assert {k: dheader.encryption_context[k] for k in context} == context
    assert set(dheader.encryption_context) == set(context) | {PUBLIC_KEY_CONTEXT}
    assert calls.summary()[1:] == [("Decrypt", 200, None)]
    sent = calls.calls[1].params
    assert sent["KeyId"] == key_arn and sent["EncryptionContext"] == dheader.encryption_context

    # Rampart bound the SDK's context to the data key: the same blob under another context fails.
    (edk,) = header.encrypted_data_keys
    blob = edk.encrypted_data_key
    out = kms.decrypt(CiphertextBlob=blob, KeyId=key_arn, EncryptionContext=dheader.encryption_context)
    assert out["KeyId"] == key_arn and len(out["Plaintext"]) == 32
    with raises_aws("InvalidCiphertextException", 400):
        kms.decrypt(CiphertextBlob=blob, KeyId=key_arn, EncryptionContext=context)


def test_sdk_decrypt_needs_kms_decrypt_and_a_grant_gives_it(rampart, kms, key_arn):
    user = new_user(rampart, "esdk")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": key_arn}]}
    rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="encrypt-only",
                                          PolicyDocument=json.dumps(policy))
    user_kms = rampart.client("kms", creds=user["creds"])
    context = {"case": "grant"}
    plaintext = b"for the grantee's eyes only"

    # The user may encrypt with the SDK...
    key, calls = sdk_key(user_kms, key_arn)
    message, _ = SDK.encrypt(source=plaintext, key_provider=key, encryption_context=context)
    assert calls.summary() == [("GenerateDataKey", 200, None)]
    # ...but not decrypt what it encrypted: KMS refuses the SDK's Decrypt.
    with pytest.raises(DecryptKeyError):
        SDK.decrypt(source=message, key_provider=key)
    assert calls.summary()[1:] == [("Decrypt", 400, "AccessDeniedException")]
    assert calls.calls[1].params["KeyId"] == key_arn

    grant = kms.create_grant(KeyId=key_arn, GranteePrincipal=user["arn"], Operations=["Decrypt"])
    key, calls = sdk_key(user_kms, key_arn, grant_tokens=[grant["GrantToken"]])
    decrypted, header = SDK.decrypt(source=message, key_provider=key)
    assert decrypted == plaintext and header.encryption_context["case"] == "grant"
    assert calls.summary() == [("Decrypt", 200, None)]
    assert list(calls.calls[0].params["GrantTokens"]) == [grant["GrantToken"]]
    # Revoked, the grant no longer lets the SDK decrypt.
    kms.revoke_grant(KeyId=key_arn, GrantId=grant["GrantId"])
    key, calls = sdk_key(user_kms, key_arn)
    with pytest.raises(DecryptKeyError):
        SDK.decrypt(source=message, key_provider=key)
    assert calls.summary() == [("Decrypt", 400, "AccessDeniedException")]


def test_sdk_multi_frame_message_round_trip(kms, key_arn):
    plaintext = os.urandom(1_000_000)
    frame_length = 4096
    key, calls = sdk_key(kms, key_arn)
    message, header = SDK.encrypt(source=plaintext, key_provider=key, frame_length=frame_length,
                                  encryption_context={"size": str(len(plaintext))})
    assert header.content_type == ContentType.FRAMED_DATA and header.frame_length == frame_length
    # 244 full frames and a final one, each with at least 32 bytes of framing (sequence number, IV, tag).
    assert len(message) > len(plaintext) + (len(plaintext) // frame_length) * 32
    decrypted, _ = SDK.decrypt(source=message, key_provider=key)
    assert decrypted == plaintext
    # Streaming in small reads decrypts the same frames; one KMS call per message, not per frame.
    with SDK.stream(mode="d", source=message, key_provider=key) as decryptor:
        streamed = b"".join(iter(lambda: decryptor.read(10_000), b""))
    assert streamed == plaintext
    assert calls.summary() == [("GenerateDataKey", 200, None), ("Decrypt", 200, None), ("Decrypt", 200, None)]
