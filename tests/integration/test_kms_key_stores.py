"""KMS custom key stores of type AWS_CLOUDHSM, backed by PKCS#11 tokens (SoftHSM2, installed by
the test command): a token labelled `cluster-…` is the CloudHSM cluster of that id (`rampart serve
--cloudhsm-module`), a key store logs in to it with its password, and the store's keys are made,
used and destroyed inside the token — the data directory never holds their material."""

from __future__ import annotations

import base64
import datetime
import json
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rampart_testlib import new_user

SOFTHSM_LIB = next((p for p in ["/usr/lib/softhsm/libsofthsm2.so",
                                "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"] if Path(p).exists()), None)
CLUSTER = "cluster-abcdefghijk"
OTHER_CLUSTER = "cluster-zyxwvutsrqp"
PASSWORD = "kmsuser-secret-7"
OTHER_PASSWORD = "other-user-pass"


def error_of(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err.get("Message", "")


def trust_anchor() -> str:
    """A self-signed CA certificate, as a cluster's issuing certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Tokens:
    """A SoftHSM2 token directory of its own, with tokens labelled as clusters."""

    def __init__(self, root: Path):
        assert SOFTHSM_LIB and shutil.which("softhsm2-util"), "softhsm2 is not installed (scripts/test.sh installs it)"
        self.dir = root / "tokens"
        self.dir.mkdir()
        conf = root / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {self.dir}\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.env = {"SOFTHSM2_CONF": str(conf)}

    def add(self, label: str, pin: str) -> str:
        out = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                              "--so-pin", "87654321"], env=self.env, capture_output=True, text=True, check=True)
        return re.search(r"reassigned to slot (\d+)", out.stdout).group(1)

    def objects(self) -> int:
        """How many objects (keys) the tokens hold: SoftHSM2 keeps one file per object."""
        return sum(1 for p in self.dir.rglob("*.object") if p.name != "token.object")


@pytest.fixture
def tokens(tmp_path) -> Tokens:
    tokens = Tokens(tmp_path)
    tokens.add(CLUSTER, PASSWORD)
    tokens.add(OTHER_CLUSTER, OTHER_PASSWORD)
    return tokens


def cluster_server(server_factory, tokens: Tokens, extra_args=(), extra_env=None):
    return server_factory(dev=True, extra_args=["--cloudhsm-module", SOFTHSM_LIB, *extra_args],
                          extra_env={**tokens.env, **(extra_env or {})})


def store_of(kms, store_id: str) -> dict:
    return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]


def new_store(kms, name="store", cluster=CLUSTER, password=PASSWORD) -> str:
    return kms.create_custom_key_store(CustomKeyStoreName=name, CloudHsmClusterId=cluster,
                                       TrustAnchorCertificate=trust_anchor(),
                                       KeyStorePassword=password)["CustomKeyStoreId"]


def cluster_key(kms, store_id: str) -> dict:
    return kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]


def wait_gone(kms, key_id: str, timeout: float = 15) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            kms.describe_key(KeyId=key_id)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NotFoundException"
            return
        time.sleep(0.3)
    pytest.fail("the key was not destroyed after its window")


def test_a_cloudhsm_key_store_makes_uses_and_destroys_keys_in_its_token(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    assert re.fullmatch(r"cks-[0-9a-f]{17}", store_id)
    store = store_of(kms, store_id)
    assert store["ConnectionState"] == "DISCONNECTED" and "ConnectionErrorCode" not in store
    assert store["CloudHsmClusterId"] == CLUSTER and store["CustomKeyStoreType"] == "AWS_CLOUDHSM"
    assert store["CustomKeyStoreName"] == "store" and "BEGIN CERTIFICATE" in store["TrustAnchorCertificate"]
    # A store's keys are made only while it is connected.
    with pytest.raises(ClientError) as e:
        cluster_key(kms, store_id)
    assert error_of(e)[0] == "CustomKeyStoreInvalidStateException"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)  # connecting a connected store is no error

    before = tokens.objects()
    meta = cluster_key(kms, store_id)
    key_id = meta["KeyId"]
    assert meta["Origin"] == "AWS_CLOUDHSM" and meta["KeyState"] == "Enabled"
    assert meta["CustomKeyStoreId"] == store_id and meta["CloudHsmClusterId"] == CLUSTER
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CustomKeyStoreId"] == store_id
    assert tokens.objects() == before + 1, "the key is made in the token"
    # Only single-Region symmetric encryption keys, of the store's origin.
    for extra in [{"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, {"MultiRegion": True}]:
        with pytest.raises(ClientError) as e:
            kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM", **extra)
        assert error_of(e)[0] == "UnsupportedOperationException", extra
    with pytest.raises(ClientError) as e:
        kms.create_key(CustomKeyStoreId=store_id)
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.create_key(CustomKeyStoreId="cks-00000000000000000", Origin="AWS_CLOUDHSM")
    assert error_of(e)[0] == "CustomKeyStoreNotFoundException"

    # The token encrypts; the context is bound; the blob names its key.
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"in the cluster", EncryptionContext={"case": "1"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"case": "1"})["Plaintext"] == b"in the cluster"
    for context in [{}, {"case": "2"}]:
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert error_of(e)[0] == "InvalidCiphertextException"
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"case": "1"})
    assert error_of(e)[0] == "InvalidCiphertextException"
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    ordinary = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"case": "1"},
                           DestinationKeyId=ordinary)["CiphertextBlob"]
    back = kms.re_encrypt(CiphertextBlob=moved, DestinationKeyId=key_id)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"in the cluster"
    assert len(kms.generate_random(NumberOfBytes=48, CustomKeyStoreId=store_id)["Plaintext"]) == 48
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key_id)
    assert error_of(e)[0] == "UnsupportedOperationException"
    db = sqlite3.connect(server.data_dir / "rampart.db")
    try:
        rows = db.execute("SELECT count(*) FROM records WHERE kind = 'kms-material' AND key LIKE ?",
                          (f"%{key_id}%",)).fetchone()[0]
    finally:
        db.close()
    assert rows == 0, "a cluster key has no material in the store"

    # Disconnected, its keys are Unavailable and unusable; connected again, they work.
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Unavailable" and meta["Enabled"] is False
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=back)
    assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=8, CustomKeyStoreId=store_id)
    assert error_of(e)[0] == "CustomKeyStoreInvalidStateException"
    for call in (kms.disconnect_custom_key_store, kms.delete_custom_key_store):
        with pytest.raises(ClientError) as e:
            call(CustomKeyStoreId=store_id)
        assert error_of(e)[0] in {"CustomKeyStoreInvalidStateException", "CustomKeyStoreHasCMKsException"}
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    # A restart connects the store again by itself.
    server.restart()
    kms = server.client("kms")
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"in the cluster"

    # Deleted after its window: gone from KMS, and destroyed in the token.
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    requests.post(server.url(f"/_rampart/clock?advance={8 * 86400}"), timeout=10).raise_for_status()
    wait_gone(kms, key_id)
    deadline = time.time() + 10
    while tokens.objects() != before and time.time() < deadline:
        time.sleep(0.3)
    assert tokens.objects() == before, "the key's material is destroyed in the token"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=back)
    assert error_of(e)[0] == "NotFoundException"
    # Only a disconnected store with no keys is deleted.
    with pytest.raises(ClientError) as e:
        kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert error_of(e)[0] == "CustomKeyStoreInvalidStateException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    with pytest.raises(ClientError) as e:
        kms.describe_custom_key_stores(CustomKeyStoreId=store_id)
    assert error_of(e)[0] == "CustomKeyStoreNotFoundException"


def test_a_wrong_password_fails_the_connection_until_it_is_updated(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms, password="not-the-password")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    store = store_of(kms, store_id)
    assert store["ConnectionState"] == "FAILED" and store["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    # A failed store is disconnected before it connects again or changes its password.
    for call in (lambda: kms.connect_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=PASSWORD)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "CustomKeyStoreInvalidStateException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert "ConnectionErrorCode" not in store_of(kms, store_id)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=PASSWORD)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_of(kms, store_id)["ConnectionState"] == "CONNECTED"
    # Connected, only the name changes.
    kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
    assert store_of(kms, store_id)["CustomKeyStoreName"] == "renamed"
    assert kms.describe_custom_key_stores(CustomKeyStoreName="renamed")["CustomKeyStores"][0]["CustomKeyStoreId"] == store_id
    with pytest.raises(ClientError) as e:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="another-password")
    assert error_of(e)[0] == "CustomKeyStoreInvalidStateException"
    # Another cluster must hold the store's keys: an unrelated one is refused.
    key_id = cluster_key(kms, store_id)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"stays")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    with pytest.raises(ClientError) as e:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=OTHER_CLUSTER,
                                    KeyStorePassword=OTHER_PASSWORD)
    assert error_of(e)[0] == "CloudHsmClusterNotRelatedException"
    with pytest.raises(ClientError) as e:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId="cluster-doesnotexist")
    assert error_of(e)[0] == "CloudHsmClusterNotFoundException"
    assert store_of(kms, store_id)["CloudHsmClusterId"] == CLUSTER
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"stays"


def test_creation_is_validated(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    anchor = trust_anchor()

    def create(**kw):
        args = dict(CustomKeyStoreName="v", CloudHsmClusterId=CLUSTER, TrustAnchorCertificate=anchor,
                    KeyStorePassword=PASSWORD)
        args.update(kw)
        with pytest.raises(ClientError) as e:
            kms.create_custom_key_store(**{k: v for k, v in args.items() if v is not None})
        return error_of(e)[0]

    assert create(CloudHsmClusterId="cluster-doesnotexist") == "CloudHsmClusterNotFoundException"
    assert create(CloudHsmClusterId="not-a-cluster-at-all") == "ValidationException"
    assert create(TrustAnchorCertificate="not a certificate") == "IncorrectTrustAnchorException"
    assert create(TrustAnchorCertificate=anchor.replace("CERTIFICATE", "PRIVATE KEY")) == "IncorrectTrustAnchorException"
    assert create(KeyStorePassword=None) == "ValidationException"
    assert create(XksProxyUriPath="/kms/xks/v1") == "ValidationException"
    assert create(CustomKeyStoreType="EXTERNAL_KEY_STORE") == "UnsupportedOperationException"
    new_store(kms, name="first")
    assert create(CustomKeyStoreName="first", CloudHsmClusterId=OTHER_CLUSTER) == "CustomKeyStoreNameInUseException"
    assert create(CustomKeyStoreName="second") == "CloudHsmClusterInUseException"
    assert create(CustomKeyStoreName="second", CloudHsmClusterId=OTHER_CLUSTER, KeyStorePassword=OTHER_PASSWORD,
                  TrustAnchorCertificate=None) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.describe_custom_key_stores(CustomKeyStoreName="nope")
    assert error_of(e)[0] == "CustomKeyStoreNotFoundException"
    for call in (kms.connect_custom_key_store, kms.disconnect_custom_key_store, kms.delete_custom_key_store):
        with pytest.raises(ClientError) as e:
            call(CustomKeyStoreId="cks-1234567890abcdef0")
        assert error_of(e)[0] == "CustomKeyStoreNotFoundException"


def test_ten_stores_per_region_and_listing_pages(server_factory, tmp_path):
    tokens = Tokens(tmp_path)
    clusters = [f"cluster-quota{chr(ord('a') + i)}abcdef" for i in range(11)]
    for cluster in clusters:
        tokens.add(cluster, PASSWORD)
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    made = [new_store(kms, name=f"s{i}", cluster=c) for i, c in enumerate(clusters[:10])]
    with pytest.raises(ClientError) as e:
        new_store(kms, name="eleventh", cluster=clusters[10])
    assert error_of(e)[0] == "LimitExceededException"
    seen, marker = [], None
    while True:
        page = kms.describe_custom_key_stores(Limit=3, **({"Marker": marker} if marker else {}))
        seen += [s["CustomKeyStoreId"] for s in page["CustomKeyStores"]]
        if not page.get("Truncated"):
            break
        marker = page["NextMarker"]
    assert sorted(seen) == sorted(made)
    # Another region has its own quota, and sees none of these stores.
    west = server.client("kms", region="us-west-2")
    assert west.describe_custom_key_stores()["CustomKeyStores"] == []
    new_store(west, name="west", cluster=clusters[10])


def test_the_password_is_never_returned_recorded_or_stored_in_clear(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=PASSWORD)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert PASSWORD not in json.dumps(kms.describe_custom_key_stores(), default=str)
    ct = server.client("cloudtrail")
    for name in ("CreateCustomKeyStore", "UpdateCustomKeyStore"):
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        assert events, name
        record = json.loads(events[0]["CloudTrailEvent"])
        assert PASSWORD not in events[0]["CloudTrailEvent"], name
        assert record["requestParameters"].get("keyStorePassword") in (None, "HIDDEN_DUE_TO_SECURITY_REASONS")
    server.stop()
    needles = [PASSWORD.encode(), base64.b64encode(PASSWORD.encode())]
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"the password is in {path.name}"


def test_key_store_calls_are_authorized(server_factory, tokens):
    server = cluster_server(server_factory, tokens)
    kms = server.client("kms")
    store_id = new_store(kms)
    user = new_user(server, "cks")
    user_kms = server.client("kms", creds=user["creds"])
    for call in (lambda: user_kms.describe_custom_key_stores(),
                 lambda: user_kms.connect_custom_key_store(CustomKeyStoreId=store_id),
                 lambda: new_store(user_kms, name="mine", cluster=OTHER_CLUSTER, password=OTHER_PASSWORD)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "AccessDeniedException"
    server.client("iam").put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:DescribeCustomKeyStores", "Resource": "*"}]}))
    assert [s["CustomKeyStoreId"] for s in user_kms.describe_custom_key_stores()["CustomKeyStores"]] == [store_id]
    with pytest.raises(ClientError) as e:
        user_kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert error_of(e)[0] == "AccessDeniedException"
    assert store_of(kms, store_id)["ConnectionState"] == "DISCONNECTED"


def test_the_root_of_trust_token_is_never_a_cluster(server_factory, tokens):
    slot = tokens.add("cluster-rootoftrustx", "4321")
    server = cluster_server(server_factory, tokens, extra_args=["--hsm-module", SOFTHSM_LIB, "--hsm-slot", slot],
                            extra_env={"RAMPART_HSM_PIN": "4321"})
    kms = server.client("kms")
    with pytest.raises(ClientError) as e:
        new_store(kms, cluster="cluster-rootoftrustx", password="4321-4321")
    assert error_of(e)[0] == "CloudHsmClusterInUseException"
    # The other tokens of the same library are clusters, beside the root of trust.
    store_id = new_store(kms)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = cluster_key(kms, store_id)["KeyId"]
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"both")["CiphertextBlob"])["Plaintext"] == b"both"


def test_a_node_without_clusters(server_factory):
    server = server_factory()
    kms = server.client("kms")
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []
    with pytest.raises(ClientError) as e:
        new_store(kms)
    assert error_of(e)[0] == "CloudHsmClusterNotFoundException"
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-1234567890abcdef0")
    assert error_of(e)[0] == "CustomKeyStoreNotFoundException"
    with pytest.raises(ClientError) as e:
        kms.create_key(Origin="AWS_CLOUDHSM")
    assert error_of(e)[0] == "ValidationException"
