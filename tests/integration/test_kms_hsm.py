"""The root of trust in a PKCS#11 token (SoftHSM2, installed by the test command): the key
wrapper's key is generated inside the token and never leaves it; every secret the node stores
(KMS key material, access-key secrets) is sealed by the token; the data directory alone opens
nothing; and a node that used file keys moves to the token with `rampart wrapping-key
migrate-to-hsm`."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from rampart_testlib import Creds, new_user, rampart_bin

SOFTHSM_LIB = next((p for p in ["/usr/lib/softhsm/libsofthsm2.so",
                                "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"] if Path(p).exists()), None)
PIN = "4321"


@pytest.fixture
def token(tmp_path):
    """A fresh SoftHSM2 token in a temporary directory: (module, slot, environment)."""
    assert SOFTHSM_LIB and shutil.which("softhsm2-util"), "softhsm2 is not installed (scripts/test.sh installs it)"
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    out = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "rampart", "--pin", PIN,
                          "--so-pin", "87654321"], env=env, capture_output=True, text=True, check=True)
    slot = re.search(r"reassigned to slot (\d+)", out.stdout).group(1)
    return SOFTHSM_LIB, slot, {**env, "RAMPART_HSM_PIN": PIN}


def hsm_args(token) -> list[str]:
    module, slot, _ = token
    return ["--hsm-module", module, "--hsm-slot", slot]


def sealed_values(data_dir: Path, kind: str) -> list[str]:
    db = sqlite3.connect(data_dir / "rampart.db")
    try:
        return [v for (v,) in db.execute("SELECT value FROM records WHERE kind = ?", (kind,))]
    finally:
        db.close()


def test_a_node_on_an_hsm_seals_everything_with_the_token(server_factory, token):
    server = server_factory(extra_args=hsm_args(token), extra_env=token[2])
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"under the hsm", EncryptionContext={"a": "b"})["CiphertextBlob"]
    user = new_user(server, "hsm")
    assert not (server.data_dir / "node.key").exists(), "no file key with an HSM"
    materials = sealed_values(server.data_dir, "kms-material")
    assert materials and all(v.strip('"').startswith("v2:hsm-rampart-wrapping-key:") for v in materials)
    server.restart()
    kms = server.client("kms")
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"under the hsm"
    assert server.client("sts", creds=user["creds"]).get_caller_identity()["Arn"] == user["arn"]
    server.stop()
    # Without the token, or with the wrong PIN, the node refuses to start.
    bare = server_factory(start=False)
    bare.data_dir, bare.env_creds = server.data_dir, server.env_creds
    with pytest.raises(RuntimeError, match="sealed by an HSM"):
        bare.start()
    wrong = server_factory(start=False, extra_args=hsm_args(token), extra_env={**token[2], "RAMPART_HSM_PIN": "0000"})
    wrong.data_dir, wrong.env_creds = server.data_dir, server.env_creds
    with pytest.raises(RuntimeError, match="refused the login"):
        wrong.start()


def test_a_file_key_node_migrates_to_the_hsm(server_factory, token):
    server = server_factory()
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"before the hsm")["CiphertextBlob"]
    user = new_user(server, "migrated")
    server.client("iam").create_virtual_mfa_device(VirtualMFADeviceName="migrated-device")
    server.stop()
    assert (server.data_dir / "node.key").exists()
    done = subprocess.run([str(rampart_bin()), "wrapping-key", "migrate-to-hsm", "--data", str(server.data_dir),
                           *hsm_args(token)], env={**token[2], "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not (server.data_dir / "node.key").exists() and (server.data_dir / "node.key.hsm").exists()
    server.extra_args += hsm_args(token)
    server.extra_env.update(token[2])
    server.start()
    kms = server.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the hsm"
    assert server.client("sts", creds=user["creds"]).get_caller_identity()["Arn"] == user["arn"]
    # The first start on the token sealed everything again by the token's key and deleted the
    # file keys, even their sealed copies: nothing anywhere opens with a key once outside the token.
    kms.create_key()
    for kind, member in [("kms-material", None), ("iam-access-key", "sealed_secret"),
                         ("iam-mfa-device", "sealed_seed")]:
        values = sealed_values(server.data_dir, kind)
        sealed = [v.strip('"') if member is None else json.loads(v)[member] for v in values]
        assert sealed and {s.split(":")[1] for s in sealed} == {"hsm-rampart-wrapping-key"}, kind
    assert not (server.data_dir / "node.key.hsm").exists() and not (server.data_dir / "node.key").exists()
    assert "RewrapSecrets" in {e["EventName"] for e in server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "RewrapSecrets"}])["Events"]}
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"wrong": "context"})
    # And again after a restart, with only the token.
    server.restart()
    assert server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the hsm"
    assert server.client("sts", creds=user["creds"]).get_caller_identity()["Arn"] == user["arn"]
