"""Log files encrypted under a KMS key (a trail's KmsKeyId), as S3 keeps SSE-KMS objects: the key's
policy must let cloudtrail.amazonaws.com generate data keys, each file has its own data key bound to
the trail and the file, `rampart trail decrypt` opens a file with the node's keys, and `rampart trail
validate` validates encrypted files — and names one that was modified, swapped or stripped of its
metadata. A key that stops working holds delivery back without losing a record."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from rampart_testlib import rampart_bin, wait_for

BUCKET = "sealed-logs"


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def key_policy(account: str, condition: dict | None = None) -> str:
    """The account's default statement and AWS's documented statement for CloudTrail."""
    cloudtrail = {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
                  "Principal": {"Service": "cloudtrail.amazonaws.com"},
                  "Action": "kms:GenerateDataKey*", "Resource": "*",
                  "Condition": condition or {"StringLike": {
                      "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"}}}
    root = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [root, cloudtrail]})


def log_files(bucket: Path) -> list[Path]:
    return sorted(p for p in bucket.rglob("*.json.gz") if "/CloudTrail/" in p.as_posix())


def decrypt(server, path: Path, out: Path) -> list[dict]:
    done = subprocess.run([str(rampart_bin()), "trail", "decrypt", "--data", str(server.data_dir), str(path),
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(gzip.decompress(out.read_bytes()))["Records"]


def validate(server, trail: str = "sealed") -> subprocess.CompletedProcess:
    return subprocess.run([str(rampart_bin()), "trail", "validate", "--data", str(server.data_dir), "--trail", trail],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def server(server_factory):
    return server_factory(extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "2"])


def test_a_trail_needs_a_key_whose_policy_lets_cloudtrail_encrypt(server):
    ct, kms = server.client("cloudtrail"), server.client("kms")
    account = server.account_id
    plain = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=plain)
    assert code_of(e) == "InsufficientEncryptionPolicyException"
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId="alias/nothing-here")
    assert code_of(e) == "KmsKeyNotFoundException"
    other_trail = kms.create_key(Policy=key_policy(account, {"StringEquals": {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:us-east-1:{account}:trail/other"}}))
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=other_trail["KeyMetadata"]["KeyId"])
    assert code_of(e) == "InsufficientEncryptionPolicyException", "the condition names another trail"
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Policy=key_policy(account))
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=signing["KeyMetadata"]["Arn"])
    assert code_of(e) == "KmsException"
    disabled = kms.create_key(Policy=key_policy(account))["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=disabled)
    assert code_of(e) == "KmsException"
    assert ct.list_trails()["Trails"] == [], "no refused trail was made"

    key = kms.create_key(Policy=key_policy(account))["KeyMetadata"]
    kms.create_alias(AliasName="alias/trail-logs", TargetKeyId=key["KeyId"])
    out = ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId="alias/trail-logs")
    assert out["KmsKeyId"] == key["Arn"]
    assert ct.get_trail(Name="sealed")["Trail"]["KmsKeyId"] == key["Arn"]
    assert "KmsKeyId" not in ct.update_trail(Name="sealed", KmsKeyId="")
    assert "KmsKeyId" not in ct.get_trail(Name="sealed")["Trail"]
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="sealed", KmsKeyId=plain)
    assert code_of(e) == "InsufficientEncryptionPolicyException"


def test_encrypted_log_files_open_with_the_nodes_keys_and_validate(server, tmp_path):
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key = kms.create_key(Policy=key_policy(server.account_id))["KeyMetadata"]["Arn"]
    ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key, EnableLogFileValidation=True)
    ct.start_logging(Name="sealed")
    for i in range(3):
        iam.create_user(UserName=f"sealed-{i}")
        time.sleep(1.1)
    bucket = server.data_dir / "buckets" / BUCKET
    wait_for(lambda: len(log_files(bucket)) >= 2 and list(bucket.rglob("*CloudTrail-Digest*.json.gz")))
    # Each delivery's data key is a record the next delivery carries: one file a period while idle,
    # never a delivery chasing its own records within a pass.
    idle = len(log_files(bucket))
    time.sleep(3)
    assert len(log_files(bucket)) <= idle + 5, "deliveries chase their own KMS records"
    server.stop()
    files = log_files(bucket)
    for path in files:
        metadata = json.loads(Path(f"{path}.metadata").read_text())
        assert metadata["x-amz-server-side-encryption"] == "aws:kms"
        assert metadata["x-amz-server-side-encryption-aws-kms-key-id"] == key
        with pytest.raises(OSError):
            gzip.decompress(path.read_bytes())
    records = [r for i, p in enumerate(files) for r in decrypt(server, p, tmp_path / f"{i}.json.gz")]
    assert {f"sealed-{i}" for i in range(3)} <= {(r.get("requestParameters") or {}).get("userName") for r in records}
    # CloudTrail's calls to KMS for the files' data keys are recorded, as AWS records them: by the
    # service, with the trail and file as the context, and no key material.
    generated = [r for r in records if r["eventSource"] == "kms.amazonaws.com" and r["eventName"] == "GenerateDataKey"]
    assert generated, "the data keys of the files delivered first are in later files"
    for r in generated:
        assert r["userIdentity"] == {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, r
        assert r["sourceIPAddress"] == "cloudtrail.amazonaws.com" and r["resources"][0]["ARN"] == key
        context = r["serviceEventDetails"]["encryptionContext"]
        assert context["aws:cloudtrail:arn"].endswith(":trail/sealed")
        assert context["aws:s3:arn"].startswith(f"arn:aws:s3:::{BUCKET}/AWSLogs/")
        assert "plaintext" not in json.dumps(r).lower()
    done = validate(server)
    assert done.returncode == 0, done.stdout + done.stderr

    # A modified file, one swapped for another (both genuine), one without its metadata: each named.
    first, second = files[0], files[1]
    original = first.read_bytes()
    first.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    done = validate(server)
    assert done.returncode != 0 and first.name in done.stdout and "does not decrypt" in done.stdout, done.stdout
    first.write_bytes(original)
    backup = tmp_path / "backup"
    shutil.copy(first, backup)
    shutil.copy(f"{first}.metadata", f"{backup}.metadata")
    shutil.copy(second, first)
    shutil.copy(f"{second}.metadata", f"{first}.metadata")
    done = validate(server)
    assert done.returncode != 0 and first.name in done.stdout and "another file" in done.stdout, done.stdout
    shutil.copy(backup, first)
    Path(f"{first}.metadata").unlink()
    done = validate(server)
    assert done.returncode != 0 and first.name in done.stdout, done.stdout
    shutil.copy(f"{backup}.metadata", f"{first}.metadata")
    assert validate(server).returncode == 0

    # A copy elsewhere with only the public keys cannot read encrypted files: it says so.
    keys = tmp_path / "keys"
    subprocess.run([str(rampart_bin()), "trail", "export-public-keys", "--data", str(server.data_dir),
                    "--out", str(keys)], check=True, capture_output=True, timeout=60)
    done = subprocess.run([str(rampart_bin()), "trail", "validate", "--path", str(bucket), "--public-keys", str(keys),
                           "--account", server.account_id, "--bucket", BUCKET, "--trail", "sealed"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "--data" in done.stdout, done.stdout


def test_a_key_that_stops_working_holds_delivery_back_without_losing_records(server, tmp_path):
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key = kms.create_key(Policy=key_policy(server.account_id))["KeyMetadata"]["KeyId"]
    ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key)
    ct.start_logging(Name="sealed")
    bucket = server.data_dir / "buckets" / BUCKET
    iam.create_user(UserName="before-disable")
    wait_for(lambda: log_files(bucket))
    kms.disable_key(KeyId=key)
    iam.create_user(UserName="while-disabled")
    status = wait_for(lambda: (s := ct.get_trail_status(Name="sealed")).get("LatestDeliveryError") and s,
                      what="a delivery error")
    assert "KMS" in status["LatestDeliveryError"], status
    count = len(log_files(bucket))
    time.sleep(1.5)
    assert len(log_files(bucket)) == count, "nothing is delivered unencrypted or under a disabled key"
    kms.enable_key(KeyId=key)
    iam.create_user(UserName="after-enable")

    def names() -> list[str]:
        found = []
        for i, path in enumerate(log_files(bucket)):
            found += [r.get("requestParameters", {}).get("userName") for r in decrypt(server, path, tmp_path / f"{i}.gz")
                      if r["eventName"] == "CreateUser"]
        return found
    found = wait_for(lambda: (n := names()) and "after-enable" in n and n, what="delivery after the key came back")
    assert sorted(found) == ["after-enable", "before-disable", "while-disabled"], "each record exactly once"
    assert "LatestDeliveryError" not in ct.get_trail_status(Name="sealed")
