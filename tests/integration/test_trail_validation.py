"""Log-file validation: a trail with EnableLogFileValidation writes signed digest files that chain,
and `rampart trail validate` proves offline that nothing was altered — and names the file when a
record is edited, a log file deleted, a digest edited, a digest removed from the middle of the chain,
or a digest re-signed with another key."""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from rampart_testlib import rampart_bin, wait_for

BUCKET = "validated-logs"


def files(root: Path, kind: str) -> list[Path]:
    return sorted(p for p in root.rglob("*.json.gz") if f"/{kind}/" in p.as_posix())


def run_validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rampart_bin()), "trail", "validate", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def stopped(module_server_factory, tmp_path_factory):
    """A node that logged a workload through a validated trail across a restart, then stopped:
    `(server, bucket directory, exported public keys directory)`."""
    server = module_server_factory(name="validated", extra_args=["--trail-delivery-seconds", "1",
                                                                 "--trail-digest-seconds", "2",
                                                                 "--trail-key-rotation-seconds", "3"])
    ct = server.client("cloudtrail")
    out = ct.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
    assert out["LogFileValidationEnabled"] is True
    ct.start_logging(Name="main")
    iam = server.client("iam")
    bucket = server.data_dir / "buckets" / BUCKET
    for i in range(3):
        iam.create_user(UserName=f"validated-{i}")
        time.sleep(1.2)
    wait_for(lambda: len(files(bucket, "CloudTrail-Digest")) >= 2 and files(bucket, "CloudTrail"))
    status = ct.get_trail_status(Name="main")
    assert status["LatestDigestDeliveryTime"] and "LatestDigestDeliveryError" not in status
    keys = ct.list_public_keys()["PublicKeyList"]
    assert keys and all(len(k["Fingerprint"]) == 32 for k in keys), keys
    assert ct.list_public_keys(EndTime=datetime.datetime(2000, 1, 1))["PublicKeyList"] == []
    assert ct.list_public_keys(StartTime=datetime.datetime(2100, 1, 1))["PublicKeyList"] == []
    assert server.client("cloudtrail", region="eu-west-1").list_public_keys()["PublicKeyList"] == []
    server.restart()
    server.client("iam").create_user(UserName="after-restart")
    time.sleep(1.5)
    # The signing key rotated (every 3 s here): each key's validity ends where the next one's begins.
    keys = wait_for(lambda: len(server_keys(server)) >= 2 and server_keys(server), what="a rotated signing key")
    for older, newer in zip(keys, keys[1:]):
        assert older["ValidityEndTime"] == newer["ValidityStartTime"]
    server.stop()  # a clean stop delivers what is pending and digests it
    exported = tmp_path_factory.mktemp("keys")
    done = subprocess.run([str(rampart_bin()), "trail", "export-public-keys", "--data", str(server.data_dir),
                           "--out", str(exported)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = {k["Fingerprint"] for k in keys}
    assert {p.stem for p in exported.iterdir()} == listed and len(listed) >= 2
    return server, bucket, exported


def server_keys(server) -> list[dict]:
    return server.client("cloudtrail").list_public_keys()["PublicKeyList"]


def copy_of(stopped, tmp_path) -> Path:
    _, bucket, _ = stopped
    target = tmp_path / BUCKET
    shutil.copytree(bucket, target)
    return target


def validate_copy(stopped, copy: Path) -> subprocess.CompletedProcess:
    server, _, keys = stopped
    return run_validate("--path", str(copy), "--public-keys", str(keys), "--account", server.account_id,
                        "--bucket", BUCKET, "--trail", "main")


def key_of(copy: Path, path: Path) -> str:
    return path.relative_to(copy).as_posix()


def test_untouched_files_validate_clean(stopped):
    server, bucket, _ = stopped
    done = run_validate("--data", str(server.data_dir), "--trail", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INVALID" not in done.stdout
    digests, logs = files(bucket, "CloudTrail-Digest"), files(bucket, "CloudTrail")
    assert f"{len(digests)}/{len(digests)} digest files valid" in done.stdout
    assert f"{len(logs)}/{len(logs)} log files valid" in done.stdout, "every log file is in a digest after a clean stop"
    # The chain: each digest names the previous one's hash and signature; the first names none.
    chain = [json.loads(gzip.decompress(p.read_bytes())) for p in digests]
    chain.sort(key=lambda d: d["digestEndTime"])
    assert chain[0]["previousDigestSignature"] is None
    for older, newer in zip(chain, chain[1:]):
        assert newer["previousDigestS3Object"] == older["digestS3Object"]
        assert newer["digestStartTime"] == older["digestEndTime"]
    first = chain[0]
    assert first["awsAccountId"] == server.account_id and first["digestSignatureAlgorithm"] == "SHA256withRSA"
    assert first["digestS3Object"].startswith(f"AWSLogs/{server.account_id}/CloudTrail-Digest/us-east-1/")
    assert first["digestS3Object"].split("/")[-1].startswith(f"{server.account_id}_CloudTrail-Digest_us-east-1_main_us-east-1_")
    listed = {f["s3Object"]: f["hashValue"] for d in chain for f in d["logFiles"]}
    for path in files(bucket, "CloudTrail"):
        assert listed[key_of(bucket, path)] == hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    # The signature verifies with `cryptography` too, over AWS's data-to-sign string.
    newest = bucket / chain[-1]["digestS3Object"]
    content = gzip.decompress(newest.read_bytes())
    signature = json.loads(Path(str(newest) + ".metadata").read_text())["x-amz-meta-signature"]
    to_sign = "\n".join([chain[-1]["digestEndTime"], f"{BUCKET}/{chain[-1]['digestS3Object']}",
                         hashlib.sha256(content).hexdigest(), chain[-1]["previousDigestSignature"] or "null"])
    der = (stopped[2] / f"{chain[-1]['digestPublicKeyFingerprint']}.der").read_bytes()
    public = serialization.load_der_public_key(pkcs1_to_spki(der))
    public.verify(bytes.fromhex(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def pkcs1_to_spki(pkcs1: bytes) -> bytes:
    """Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo for `cryptography`'s DER loader."""
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bit_string = b"\x03" + der_length(len(pkcs1) + 1) + b"\x00" + pkcs1
    body = algorithm + bit_string
    return b"\x30" + der_length(len(body)) + body


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def test_an_edited_record_names_its_log_file(stopped, tmp_path):
    copy = copy_of(stopped, tmp_path)
    victim = files(copy, "CloudTrail")[0]
    records = json.loads(gzip.decompress(victim.read_bytes()))
    records["Records"][0]["sourceIPAddress"] = "203.0.113.66"
    victim.write_bytes(gzip.compress(json.dumps(records).encode()))
    done = validate_copy(stopped, copy)
    assert done.returncode != 0
    assert f"Log file\t{key_of(copy, victim)}\tINVALID: hash value doesn't match" in done.stdout, done.stdout
    assert done.stdout.count("\tINVALID") == 1, done.stdout


def test_a_deleted_log_file_is_named(stopped, tmp_path):
    copy = copy_of(stopped, tmp_path)
    victim = files(copy, "CloudTrail")[-1]
    victim.unlink()
    done = validate_copy(stopped, copy)
    assert done.returncode != 0
    assert f"Log file\t{key_of(copy, victim)}\tINVALID: not found (deleted)" in done.stdout, done.stdout


def test_an_edited_digest_is_named(stopped, tmp_path):
    copy = copy_of(stopped, tmp_path)
    victim = files(copy, "CloudTrail-Digest")[0]
    digest = json.loads(gzip.decompress(victim.read_bytes()))
    digest["logFiles"] = []
    victim.write_bytes(gzip.compress(json.dumps(digest).encode()))
    done = validate_copy(stopped, copy)
    assert done.returncode != 0
    assert f"Digest file\t{key_of(copy, victim)}\tINVALID:" in done.stdout, done.stdout


def test_a_digest_removed_from_the_middle_breaks_the_chain(stopped, tmp_path):
    copy = copy_of(stopped, tmp_path)
    digests = files(copy, "CloudTrail-Digest")
    assert len(digests) >= 3
    victim = digests[len(digests) // 2]
    victim.unlink()
    Path(str(victim) + ".metadata").unlink()
    done = validate_copy(stopped, copy)
    assert done.returncode != 0
    assert f"Digest file\t{key_of(copy, victim)}\tINVALID: not found (deleted)" in done.stdout, done.stdout


def test_a_digest_re_signed_with_another_key_is_forged(stopped, tmp_path):
    copy = copy_of(stopped, tmp_path)
    victim = files(copy, "CloudTrail-Digest")[-1]
    digest = json.loads(gzip.decompress(victim.read_bytes()))
    digest["logFiles"] = digest["logFiles"][1:]
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = attacker.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    digest["digestPublicKeyFingerprint"] = hashlib.sha256(public).hexdigest()[:32]
    content = json.dumps(digest).encode()
    to_sign = "\n".join([digest["digestEndTime"], f"{BUCKET}/{digest['digestS3Object']}",
                         hashlib.sha256(content).hexdigest(), digest["previousDigestSignature"] or "null"])
    signature = attacker.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
    victim.write_bytes(gzip.compress(content))
    Path(str(victim) + ".metadata").write_text(json.dumps({"x-amz-meta-signature": signature}))
    done = validate_copy(stopped, copy)
    assert done.returncode != 0
    assert f"Digest file\t{key_of(copy, victim)}\tINVALID: signed by an unknown key" in done.stdout, done.stdout
    # Keeping a node key's fingerprint, the attacker's signature does not verify.
    digest["digestPublicKeyFingerprint"] = json.loads(gzip.decompress(files(copy, "CloudTrail-Digest")[0].read_bytes()))[
        "digestPublicKeyFingerprint"]
    content = json.dumps(digest).encode()
    victim.write_bytes(gzip.compress(content))
    done = validate_copy(stopped, copy)
    assert f"Digest file\t{key_of(copy, victim)}\tINVALID: the signature does not match" in done.stdout, done.stdout
