"""Attacks on trails' log-file encryption under a KMS key (CreateTrail/UpdateTrail `KmsKeyId`).

What is asserted is the secure, AWS-like behaviour: only a key policy that lets the service
principal `cloudtrail.amazonaws.com` call kms:GenerateDataKey (for this trail, in its account and
region) lets a trail encrypt; IAM policies play no part for the service (as in AWS, a caller with
cloudtrail:CreateTrail may name any key of the account whose policy allows CloudTrail — AWS checks
only the key policy for the service principal); a key that stops working holds delivery back with
no record lost, duplicated or written unencrypted; the validator names every encrypted file that
was modified, swapped, moved or whose metadata was tampered with, and never hangs; `rampart trail
decrypt` fails with a message (never a panic, exit 101, or a hang) on odd input; no plaintext data
key appears in audit records, the server's log or the data directory; the server never answers 500.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rampart_testlib import Creds, lookup_all, rampart_bin, wait_for

BUCKET = "sealed-logs"
CT = "cloudtrail.amazonaws.com"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def code_of(excinfo) -> str:
    code = excinfo.value.response["Error"]["Code"]
    status = excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status < 500 and code not in {"InternalFailure", "InternalError", "ServiceException"}, (code, status)
    return code


def root_statement(account: str) -> dict:
    return {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}


def cloudtrail_statement(account: str, condition: dict | None = None, *, action="kms:GenerateDataKey*",
                         principal: dict | str | None = None) -> dict:
    statement = {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
                 "Principal": principal if principal is not None else {"Service": CT},
                 "Action": action, "Resource": "*"}
    cond = condition if condition is not None else {"StringLike": {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"}}
    if cond:
        statement["Condition"] = cond
    return statement


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def good_policy(account: str, *extra: dict) -> str:
    return policy(root_statement(account), cloudtrail_statement(account), *extra)


def log_files(bucket: Path) -> list[Path]:
    return sorted(p for p in bucket.rglob("*.json.gz") if "/CloudTrail/" in p.as_posix())


def metadata_of(path: Path) -> dict | None:
    meta = Path(f"{path}.metadata")
    if not meta.exists():
        return None
    return json.loads(meta.read_text())


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(rampart_bin()), "trail", *args], capture_output=True, text=True, timeout=timeout)


def decrypt_cli(server, path: Path, out: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli("decrypt", "--data", str(server.data_dir), str(path), "--out", str(out), timeout=timeout)


def validate(server, trail: str = "sealed", timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli("validate", "--data", str(server.data_dir), "--trail", trail, timeout=timeout)


def records_of(server, path: Path, tmp: Path) -> list[dict]:
    """A delivered file's records: decrypted when its metadata says it is encrypted, else gunzipped."""
    meta = metadata_of(path)
    if meta and meta.get("x-amz-server-side-encryption") == "aws:kms":
        out = tmp / f"dec-{abs(hash(str(path)))}.json.gz"
        done = decrypt_cli(server, path, out)
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
        return json.loads(gzip.decompress(out.read_bytes()))["Records"]
    return json.loads(gzip.decompress(path.read_bytes()))["Records"]


def user_names(server, bucket: Path, tmp: Path) -> list[str]:
    names = []
    for path in log_files(bucket):
        names += [r["requestParameters"]["userName"] for r in records_of(server, path, tmp)
                  if r["eventName"] == "CreateUser"]
    return names


def delivery_error(ct, name="sealed"):
    return wait_for(lambda: (s := ct.get_trail_status(Name=name)).get("LatestDeliveryError") and s,
                    what="a delivery error")


@pytest.fixture
def server(server_factory):
    return server_factory(extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "2"])


@pytest.fixture
def dev_server(server_factory):
    return server_factory(dev=True, extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "2"])


def sealed_trail(server, key_policy: str | None = None, **trail_args) -> tuple[str, Path]:
    ct, kms = server.client("cloudtrail"), server.client("kms")
    key = kms.create_key(Policy=key_policy or good_policy(server.account_id))["KeyMetadata"]["Arn"]
    ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key, **trail_args)
    ct.start_logging(Name="sealed")
    return key, server.data_dir / "buckets" / BUCKET


def refused(ct, key_id: str, expected: str | set[str], name: str = "sealed") -> None:
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name=name, S3BucketName=BUCKET, KmsKeyId=key_id)
    code = code_of(e)
    wanted = {expected} if isinstance(expected, str) else expected
    assert code in wanted, (key_id, code, e.value.response["Error"].get("Message"))


# ----------------------------------------------------------------------------------------------
# key policies that must not (or must) let CloudTrail encrypt
# ----------------------------------------------------------------------------------------------

def test_statements_naming_the_account_grant_the_service_nothing(server):
    """A key policy whose only grants name the account (root ARN, bare account id, or an IAM user
    of it) delegates to IAM policies, which a service has none of: CloudTrail may not encrypt."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    server.client("iam").create_user(UserName="holder")
    for principal in [{"AWS": f"arn:aws:iam::{account}:root"}, {"AWS": account},
                      {"AWS": f"arn:aws:iam::{account}:user/holder"}]:
        key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(
            account, principal=principal, action="kms:*", condition={})))["KeyMetadata"]["Arn"]
        refused(ct, key, "InsufficientEncryptionPolicyException")
    assert ct.list_trails()["Trails"] == []


@pytest.mark.parametrize("service", ["s3.amazonaws.com", "cloudtrail.*", "*", "cloudtrail.amazonaws.com.evil",
                                     "cloudtrail"])
def test_another_service_principal_does_not_let_cloudtrail_encrypt(server, service):
    """A statement for another (or a wildcard / look-alike) service principal is not CloudTrail's."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(
        account, principal={"Service": service})))["KeyMetadata"]["Arn"]
    refused(ct, key, "InsufficientEncryptionPolicyException")


def test_an_aws_principal_spelling_the_internal_service_name_grants_nothing(server):
    """Rampart evaluates the service as the caller ARN `service:cloudtrail.amazonaws.com`; a key
    policy naming that text as an `AWS` principal (not an ARN, not a service principal) must not
    let CloudTrail encrypt — the policy is refused, or the trail is."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    for principal in [{"AWS": f"service:{CT}"}, {"AWS": CT}, {"Federated": CT}, {"CanonicalUser": CT}]:
        try:
            key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(
                account, principal=principal)))["KeyMetadata"]["Arn"]
        except ClientError as e:
            assert code_of(e) == "MalformedPolicyDocumentException", principal
            continue
        refused(ct, key, "InsufficientEncryptionPolicyException")


def test_a_deny_for_the_service_wins_over_the_allow(server):
    """Explicit Deny statements (by Service principal, by NotPrincipal that does not exempt the
    service, by a condition that holds) beat the documented CloudTrail Allow."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    denies = [
        {"Effect": "Deny", "Principal": {"Service": CT}, "Action": "kms:GenerateDataKey", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Generate*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:GenerateDataKey*", "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "*:trail/sealed"}}},
    ]
    for deny in denies:
        key = kms.create_key(Policy=good_policy(account, deny))["KeyMetadata"]["Arn"]
        refused(ct, key, "InsufficientEncryptionPolicyException")
    # A Deny whose NotPrincipal exempts CloudTrail leaves the Allow standing.
    exempt = {"Effect": "Deny", "NotPrincipal": {"Service": CT, "AWS": f"arn:aws:iam::{account}:root"},
              "Action": "kms:*", "Resource": "*"}
    key = kms.create_key(Policy=good_policy(account, exempt))["KeyMetadata"]["Arn"]
    assert ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key)["KmsKeyId"] == key


@pytest.mark.parametrize("action,allowed", [
    ("kms:Encrypt", False), ("kms:Decrypt", False), ("kms:GenerateDataKeyWithoutPlaintext", False),
    ("kms:GenerateDataKeyPair", False), ("kms:Describe*", False), ("kms:ReEncrypt*", False),
    ("kms:GenerateDataKey", True), ("kms:Generate*", True), ("kms:*", True), ("kms:generatedatakey", True),
])
def test_only_an_action_covering_generate_data_key_lets_cloudtrail_encrypt(server, action, allowed):
    """The service's statement must cover kms:GenerateDataKey (case-insensitively, wildcards allowed);
    other actions do not let it encrypt."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(account, action=action)))
    arn = key["KeyMetadata"]["Arn"]
    if allowed:
        assert ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=arn)["KmsKeyId"] == arn
    else:
        refused(ct, arn, "InsufficientEncryptionPolicyException")


def test_source_conditions_bind_the_key_to_the_trail_and_account(server):
    """aws:SourceArn / aws:SourceAccount / encryption-context conditions naming another trail,
    account or region refuse; the ones naming this trail allow."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    mine = f"arn:aws:cloudtrail:us-east-1:{account}:trail/sealed"
    wrong = [
        {"StringEquals": {"aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{account}:trail/other"}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:us-west-2:{account}:trail/*"}},
        {"StringEquals": {"aws:SourceAccount": "999999999999"}},
        {"StringEquals": {"kms:EncryptionContext:aws:cloudtrail:arn":
                          f"arn:aws:cloudtrail:us-east-1:999999999999:trail/sealed"}},
        {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["nothing-like-it"]}},
        {"StringEquals": {"kms:EncryptionContext:aws:cloudtrail:arn": mine, "aws:SourceArn": mine + "x"}},
    ]
    for condition in wrong:
        key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(account, condition)))
        refused(ct, key["KeyMetadata"]["Arn"], "InsufficientEncryptionPolicyException")
    right = {"StringEquals": {"aws:SourceArn": mine, "aws:SourceAccount": account,
                              "kms:EncryptionContext:aws:cloudtrail:arn": mine}}
    key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(account, right)))
    assert ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key["KeyMetadata"]["KeyId"])


def test_key_ids_that_are_not_the_callers_usable_key_are_refused(server):
    """Key ARNs of another region or account, alias ARNs of another region, keys pending deletion,
    awaiting imported material, HMAC and asymmetric keys, and malformed ids: each refused with a
    CloudTrail error (never a 500), and no trail is made."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    west = server.client("kms", region="us-west-2")
    west_key = west.create_key(Policy=good_policy(account))["KeyMetadata"]
    west.create_alias(AliasName="alias/west", TargetKeyId=west_key["KeyId"])
    refused(ct, west_key["Arn"], {"KmsKeyNotFoundException", "KmsException"})
    refused(ct, f"arn:aws:kms:us-west-2:{account}:alias/west", {"KmsKeyNotFoundException", "KmsException"})
    refused(ct, west_key["KeyId"], "KmsKeyNotFoundException")
    home = kms.create_key(Policy=good_policy(account))["KeyMetadata"]
    foreign = home["Arn"].replace(f":{account}:", ":999999999999:")
    refused(ct, foreign, {"KmsKeyNotFoundException", "KmsException"})
    refused(ct, home["Arn"].replace("us-east-1", "us-west-2"), {"KmsKeyNotFoundException", "KmsException"})

    pending = kms.create_key(Policy=good_policy(account))["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
    refused(ct, pending, "KmsException")
    external = kms.create_key(Policy=good_policy(account), Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    refused(ct, external, "KmsException")
    hmac = kms.create_key(Policy=good_policy(account), KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    refused(ct, hmac["KeyMetadata"]["Arn"], "KmsException")
    rsa = kms.create_key(Policy=good_policy(account), KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    refused(ct, rsa["KeyMetadata"]["Arn"], "KmsException")

    for bad in [" ", "alias/", "key/" + home["KeyId"], home["KeyId"].upper(), home["KeyId"] + " ",
                "arn:aws:kms:us-east-1:" + account, "arn:aws:kms:::key/" + home["KeyId"],
                f"arn:aws:iam::{account}:root", f"arn:aws-cn:kms:us-east-1:{account}:key/{home['KeyId']}",
                f"arn:aws:kms:us-east-1:{account}:key/../{home['KeyId']}", "x" * 3000, "mrk-" + "0" * 32,
                "alias/aws/cloudtrail", f"arn:aws:kms:us-east-1:{account}:alias/../../key/{home['KeyId']}",
                "\u00e9\u4e2d", "arn:aws:kms:us-east-1:not-an-account:key/" + home["KeyId"]]:
        refused(ct, bad, {"KmsKeyNotFoundException", "KmsException", "InvalidKmsKeyIdException",
                          "InvalidParameterException", "ValidationException",
                          "InsufficientEncryptionPolicyException"})
    assert ct.list_trails()["Trails"] == [], "no refused trail was made"
    # The alias ARN of the home region works and the trail keeps the key's ARN.
    kms.create_alias(AliasName="alias/home", TargetKeyId=home["KeyId"])
    out = ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=f"arn:aws:kms:us-east-1:{account}:alias/home")
    assert out["KmsKeyId"] == home["Arn"]
    server.assert_healthy()


def test_a_user_with_only_cloudtrail_permissions_uses_keys_only_as_their_policies_allow(server):
    """AWS checks only the key policy for the service principal: a user with cloudtrail:* (and an
    explicit Deny of kms:*) may name the account's key whose policy allows CloudTrail, but not one
    whose policy does not; a user without cloudtrail:CreateTrail gets AccessDenied (not a key oracle)."""
    iam, kms, account = server.client("iam"), server.client("kms"), server.account_id
    iam.create_user(UserName="trailer")
    iam.put_user_policy(UserName="trailer", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}))
    k = iam.create_access_key(UserName="trailer")["AccessKey"]
    ct = server.client("cloudtrail", creds=Creds(k["AccessKeyId"], k["SecretAccessKey"], account))
    iam.create_user(UserName="nobody")
    k2 = iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody = server.client("cloudtrail", creds=Creds(k2["AccessKeyId"], k2["SecretAccessKey"], account))
    allowed = kms.create_key(Policy=good_policy(account))["KeyMetadata"]["Arn"]
    private = kms.create_key()["KeyMetadata"]["Arn"]

    def retry(fn):
        for _ in range(40):  # IAM changes are immediate, access keys may take a moment
            try:
                return fn()
            except ClientError as e:
                if e.response["Error"]["Code"] not in {"InvalidClientTokenId", "UnrecognizedClientException"}:
                    raise
                time.sleep(0.25)
        return fn()

    with pytest.raises(ClientError) as e:
        retry(lambda: ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=private))
    assert code_of(e) == "InsufficientEncryptionPolicyException"
    with pytest.raises(ClientError) as e:
        retry(lambda: nobody.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=allowed))
    assert code_of(e) in {"AccessDeniedException", "AccessDenied"}
    with pytest.raises(ClientError) as e:
        retry(lambda: nobody.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=private))
    assert code_of(e) in {"AccessDeniedException", "AccessDenied"}, "authorization comes before the key check"
    assert retry(lambda: ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=allowed))["KmsKeyId"] == allowed


# ----------------------------------------------------------------------------------------------
# CreateTrail's check must match what delivery does
# ----------------------------------------------------------------------------------------------

def test_a_policy_refusing_every_file_under_the_trails_prefix_is_refused_at_create(server):
    """A condition on kms:EncryptionContext:aws:s3:arn that would refuse every file the trail
    delivers (they are under its S3KeyPrefix) must be refused at CreateTrail, not accepted and then
    fail every delivery."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    unprefixed = {"StringLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}/AWSLogs/*"}}
    key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(account, unprefixed)))
    refused_here = None
    try:
        ct.create_trail(Name="sealed", S3BucketName=BUCKET, S3KeyPrefix="team", KmsKeyId=key["KeyMetadata"]["Arn"])
    except ClientError as e:
        refused_here = e.response["Error"]["Code"]
    if refused_here is None:
        ct.start_logging(Name="sealed")
        server.client("iam").create_user(UserName="u1")
        status = delivery_error(ct)
        pytest.fail(f"CreateTrail accepted a key whose policy refuses every delivered file: {status}")
    assert refused_here == "InsufficientEncryptionPolicyException"


def test_a_policy_allowing_the_trails_prefixed_files_is_accepted_at_create(server, tmp_path):
    """A condition on kms:EncryptionContext:aws:s3:arn naming exactly the trail's S3KeyPrefix (which
    every delivered file matches) must be accepted at CreateTrail, and the files delivered."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    prefixed = {"StringLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}/team/AWSLogs/*"}}
    key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(account, prefixed)))
    ct.create_trail(Name="sealed", S3BucketName=BUCKET, S3KeyPrefix="team", KmsKeyId=key["KeyMetadata"]["Arn"])
    ct.start_logging(Name="sealed")
    server.client("iam").create_user(UserName="u1")
    bucket = server.data_dir / "buckets" / BUCKET
    wait_for(lambda: "u1" in user_names(server, bucket, tmp_path), what="delivery under the prefix")


def test_update_trail_to_another_bucket_rechecks_the_key_policy(server):
    """UpdateTrail moving an encrypted trail to a bucket the key's policy does not allow (condition
    on aws:s3:arn) must be refused, not accepted with every later delivery failing."""
    ct, kms, account = server.client("cloudtrail"), server.client("kms"), server.account_id
    bound = {"StringLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}/*"}}
    key = kms.create_key(Policy=policy(root_statement(account), cloudtrail_statement(account, bound)))
    ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key["KeyMetadata"]["Arn"])
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="sealed", S3BucketName="elsewhere-logs")
    assert code_of(e) == "InsufficientEncryptionPolicyException"
    assert ct.get_trail(Name="sealed")["Trail"]["S3BucketName"] == BUCKET


# ----------------------------------------------------------------------------------------------
# delivery when the key changes under the trail
# ----------------------------------------------------------------------------------------------

def test_a_policy_change_removing_cloudtrail_holds_delivery_back(server, tmp_path):
    """PutKeyPolicy removing CloudTrail's statement: nothing is delivered (and nothing unencrypted);
    put back, every record is delivered exactly once, encrypted."""
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key, bucket = sealed_trail(server)
    iam.create_user(UserName="before")
    wait_for(lambda: "before" in user_names(server, bucket, tmp_path))
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy(root_statement(server.account_id)))
    iam.create_user(UserName="during")
    status = delivery_error(ct)
    assert "KMS" in status["LatestDeliveryError"], status
    count = len(log_files(bucket))
    time.sleep(1.5)
    assert len(log_files(bucket)) == count
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=good_policy(server.account_id))
    iam.create_user(UserName="after")
    found = wait_for(lambda: (n := user_names(server, bucket, tmp_path)) and "after" in n and n)
    assert sorted(found) == ["after", "before", "during"]
    for path in log_files(bucket):
        assert (metadata_of(path) or {}).get("x-amz-server-side-encryption") == "aws:kms", path.name


def test_a_key_scheduled_for_deletion_holds_delivery_until_cancelled(server, tmp_path):
    """A key pending deletion generates no data keys: delivery waits; cancelled and re-enabled,
    each record is delivered once."""
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key, bucket = sealed_trail(server)
    iam.create_user(UserName="before")
    wait_for(lambda: "before" in user_names(server, bucket, tmp_path))
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    iam.create_user(UserName="during")
    delivery_error(ct)
    count = len(log_files(bucket))
    time.sleep(1.5)
    assert len(log_files(bucket)) == count
    kms.cancel_key_deletion(KeyId=key)
    kms.enable_key(KeyId=key)
    found = wait_for(lambda: (n := user_names(server, bucket, tmp_path)) and "during" in n and n)
    assert sorted(found) == ["before", "during"]


def test_a_deleted_key_loses_no_record_once_the_trail_names_a_new_key(dev_server, tmp_path):
    """The key deleted (material destroyed): delivery holds (no plaintext, no crash); the trail given
    a new key, the held records are delivered under it, each once."""
    server = dev_server
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key, bucket = sealed_trail(server)
    iam.create_user(UserName="before")
    wait_for(lambda: "before" in user_names(server, bucket, tmp_path))
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    requests.post(server.url(f"/_rampart/clock?advance={8 * 86400}"), timeout=10).raise_for_status()

    def gone():
        try:
            kms.describe_key(KeyId=key)
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "NotFoundException"
    wait_for(gone, what="the key's deletion")
    names_before = {p.name for p in log_files(bucket)}
    iam.create_user(UserName="orphaned")
    delivery_error(ct)
    time.sleep(1.5)
    new_files = [p for p in log_files(bucket) if p.name not in names_before]
    assert not new_files, "nothing delivered while the key is gone"
    server.assert_healthy()
    fresh = kms.create_key(Policy=good_policy(server.account_id))["KeyMetadata"]["Arn"]
    ct.update_trail(Name="sealed", KmsKeyId=fresh)
    wait_for(lambda: [p for p in log_files(bucket) if p.name not in names_before], what="delivery under the new key")
    orphaned = []
    for path in log_files(bucket):
        if path.name in names_before:
            continue
        assert metadata_of(path)["x-amz-server-side-encryption-aws-kms-key-id"] == fresh
        orphaned += [r["requestParameters"]["userName"] for r in records_of(server, path, tmp_path)
                     if r["eventName"] == "CreateUser"]
    assert orphaned == ["orphaned"]


def test_changing_the_key_mid_way_delivers_each_record_once_under_the_key_of_the_time(server, tmp_path):
    """KmsKeyId changed from key A to key B (and rotated on demand): every record is in exactly one
    file, every file is encrypted under A or B, and the whole chain validates."""
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    a, bucket = sealed_trail(server, EnableLogFileValidation=True)
    b = kms.create_key(Policy=good_policy(server.account_id))["KeyMetadata"]["Arn"]
    iam.create_user(UserName="u-a")
    wait_for(lambda: "u-a" in user_names(server, bucket, tmp_path))
    ct.update_trail(Name="sealed", KmsKeyId=b)
    iam.create_user(UserName="u-b")
    wait_for(lambda: "u-b" in user_names(server, bucket, tmp_path))
    kms.rotate_key_on_demand(KeyId=b)
    iam.create_user(UserName="u-b2")
    wait_for(lambda: "u-b2" in user_names(server, bucket, tmp_path))
    wait_for(lambda: list(bucket.rglob("*CloudTrail-Digest*.json.gz")), what="a digest")
    server.stop()
    assert sorted(user_names(server, bucket, tmp_path)) == ["u-a", "u-b", "u-b2"]
    keys = {metadata_of(p)["x-amz-server-side-encryption-aws-kms-key-id"] for p in log_files(bucket)}
    assert keys == {a, b}
    done = validate(server)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_delivery_half_written_then_unencrypted_leaves_no_stale_metadata(server, tmp_path):
    """A multi-Region delivery whose second file's data key is refused (Deny on that region's
    aws:s3:arn) leaves the first file written encrypted; encryption then turned off, the retry writes
    the same file in plain — its old `.metadata` (saying aws:kms) must not stay beside it, or the
    genuine file no longer reads or validates."""
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    account = server.account_id
    deny_west = {"Effect": "Deny", "Principal": {"Service": CT}, "Action": "kms:GenerateDataKey*", "Resource": "*",
                 "Condition": {"StringLike": {"kms:EncryptionContext:aws:s3:arn": "*/CloudTrail/us-west-2/*"}}}
    key = kms.create_key(Policy=good_policy(account, deny_west))["KeyMetadata"]["Arn"]
    ct.create_trail(Name="sealed", S3BucketName=BUCKET, KmsKeyId=key, IsMultiRegionTrail=True,
                    EnableLogFileValidation=True)
    west = server.client("kms", region="us-west-2")
    # StartLogging (us-east-1) and a us-west-2 call land in the same delivery.
    ct.start_logging(Name="sealed")
    west.create_key()
    iam.create_user(UserName="east")
    bucket = server.data_dir / "buckets" / BUCKET
    delivery_error(ct)
    half = wait_for(lambda: log_files(bucket), what="the first file of the delivery", timeout=10)
    assert all("/us-east-1/" in p.as_posix() for p in half), half
    ct.update_trail(Name="sealed", KmsKeyId="")
    wait_for(lambda: any("/us-west-2/" in p.as_posix() for p in log_files(bucket)), what="the retried delivery")
    wait_for(lambda: "LatestDeliveryError" not in ct.get_trail_status(Name="sealed"), what="no error")
    time.sleep(2.5)
    server.stop()
    for path in log_files(bucket):
        meta = metadata_of(path)
        if meta and meta.get("x-amz-server-side-encryption") == "aws:kms":
            done = decrypt_cli(server, path, tmp_path / "x.gz")
            assert done.returncode == 0, f"{path.name}: metadata says aws:kms but it does not decrypt: {done.stderr}"
        else:
            gzip.decompress(path.read_bytes())
    assert "east" in user_names(server, bucket, tmp_path)
    done = validate(server)
    assert done.returncode == 0, done.stdout + done.stderr


# ----------------------------------------------------------------------------------------------
# the validator on tampered encrypted files
# ----------------------------------------------------------------------------------------------

@pytest.fixture
def delivered(server, tmp_path):
    """A stopped server with an encrypted, validated trail of at least two log files."""
    ct, iam = server.client("cloudtrail"), server.client("iam")
    key, bucket = sealed_trail(server, EnableLogFileValidation=True)
    for i in range(3):
        iam.create_user(UserName=f"sealed-{i}")
        time.sleep(1.1)
    wait_for(lambda: len(log_files(bucket)) >= 2 and list(bucket.rglob("*CloudTrail-Digest*.json.gz")))
    server.stop()
    done = validate(server)
    assert done.returncode == 0, done.stdout
    return server, bucket, log_files(bucket), key


def invalid_line(done, path: Path) -> str:
    lines = [line for line in done.stdout.splitlines() if path.name in line and "INVALID" in line]
    assert done.returncode != 0 and lines, done.stdout
    return lines[0]


def test_metadata_whose_context_is_edited_to_the_new_place_does_not_pass(delivered):
    """Another genuine file copied over a file, with its metadata's aws:s3:arn (and the
    trail ARN) edited to name the new place: the data key no longer opens — INVALID."""
    server, bucket, files, _ = delivered
    first, second = files[0], files[1]
    meta = metadata_of(second)
    context = json.loads(base64.b64decode(meta["x-amz-server-side-encryption-context"]))
    context["aws:s3:arn"] = f"arn:aws:s3:::{BUCKET}/{first.relative_to(bucket).as_posix()}"
    meta["x-amz-server-side-encryption-context"] = base64.b64encode(json.dumps(context).encode()).decode()
    shutil.copy(second, first)
    Path(f"{first}.metadata").write_text(json.dumps(meta))
    invalid_line(validate(server), first)


def test_context_with_extra_or_dropped_members_does_not_pass(delivered):
    """The encryption context in metadata given an extra member, or losing the trail ARN, or with a
    non-string value: the data key must not open — INVALID, never valid."""
    server, bucket, files, _ = delivered
    first = files[0]
    original = Path(f"{first}.metadata").read_text()
    meta = json.loads(original)
    context = json.loads(base64.b64decode(meta["x-amz-server-side-encryption-context"]))
    variants = [dict(context, extra="1"), {k: v for k, v in context.items() if k != "aws:cloudtrail:arn"},
                dict(context, **{"aws:cloudtrail:arn": 7}), []]
    for variant in variants:
        edited = dict(meta, **{"x-amz-server-side-encryption-context":
                               base64.b64encode(json.dumps(variant).encode()).decode()})
        Path(f"{first}.metadata").write_text(json.dumps(edited))
        invalid_line(validate(server), first)
    Path(f"{first}.metadata").write_text(original)
    assert validate(server).returncode == 0


def test_metadata_naming_another_key_or_data_key_does_not_pass(delivered):
    """The metadata's key ARN swapped for another key of the node, or its encrypted data key swapped
    for another file's: INVALID."""
    server, bucket, files, key = delivered
    first, second = files[0], files[1]
    original = Path(f"{first}.metadata").read_text()
    meta = json.loads(original)
    for edited in [dict(meta, **{"x-amz-server-side-encryption-aws-kms-key-id": key[:-4] + "0000"}),
                   dict(meta, **{"x-rampart-encrypted-data-key": metadata_of(second)["x-rampart-encrypted-data-key"]}),
                   dict(meta, **{"x-amz-server-side-encryption-aws-kms-key-id": key.replace(":key/", ":alias/")})]:
        Path(f"{first}.metadata").write_text(json.dumps(edited))
        invalid_line(validate(server), first)
    Path(f"{first}.metadata").write_text(original)


def test_truncated_empty_and_nonce_only_files_are_invalid(delivered):
    """Encrypted files cut short, emptied, or left with only their nonce: INVALID."""
    server, bucket, files, _ = delivered
    first = files[0]
    original = first.read_bytes()
    for cut in [original[:-16], original[:12], original[:11], b"", original + b"\0"]:
        first.write_bytes(cut)
        invalid_line(validate(server), first)
    first.write_bytes(original)


def test_special_metadata_files_are_refused_without_hanging(delivered):
    """The metadata replaced by a FIFO, a directory, a symlink to the genuine metadata, not JSON, or
    1.5 MiB of JSON: the validator finishes promptly and names the file INVALID."""
    server, bucket, files, _ = delivered
    first = files[0]
    meta_path = Path(f"{first}.metadata")
    original = meta_path.read_text()
    stash = first.parent / "stash.json"
    stash.write_text(original)

    def reset():
        if meta_path.is_dir() and not meta_path.is_symlink():
            meta_path.rmdir()
        elif meta_path.exists() or meta_path.is_symlink():
            meta_path.unlink()

    makers = [lambda: os.mkfifo(meta_path), lambda: meta_path.mkdir(), lambda: meta_path.symlink_to(stash),
              lambda: meta_path.write_text("{not json"),
              lambda: meta_path.write_text(json.dumps(dict(json.loads(original), pad="x" * (3 << 19))))]
    for make in makers:
        reset()
        make()
        try:
            done = validate(server, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"validate hung on {make}")
        assert "panicked" not in done.stderr and done.returncode != 101
        invalid_line(done, first)
    reset()
    meta_path.write_text(original)
    stash.unlink()
    assert validate(server).returncode == 0


def test_a_file_of_another_trail_in_the_same_bucket_does_not_pass(server, tmp_path):
    """Two encrypted trails deliver to one bucket under different prefixes; one's genuine file and
    metadata copied over the other's: INVALID (bound to another place and trail)."""
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key = kms.create_key(Policy=good_policy(server.account_id))["KeyMetadata"]["Arn"]
    for name in ["sealed", "other"]:
        ct.create_trail(Name=name, S3BucketName=BUCKET, S3KeyPrefix=name, KmsKeyId=key, EnableLogFileValidation=True)
        ct.start_logging(Name=name)
    iam.create_user(UserName="both")
    bucket = server.data_dir / "buckets" / BUCKET
    wait_for(lambda: list((bucket / "sealed").rglob("*CloudTrail-Digest*.json.gz"))
             and list((bucket / "other").rglob("*CloudTrail-Digest*.json.gz"))
             and log_files(bucket / "other") and log_files(bucket / "sealed"))
    server.stop()
    mine, theirs = log_files(bucket / "sealed")[0], log_files(bucket / "other")[0]
    assert validate(server).returncode == 0
    shutil.copy(theirs, mine)
    shutil.copy(f"{theirs}.metadata", f"{mine}.metadata")
    invalid_line(validate(server), mine)


def test_a_plaintext_copy_placed_as_an_unlisted_file_is_reported(delivered):
    """An extra file (a decrypted copy of a genuine one, with no metadata) dropped in the trail's
    directory under a log-file name no digest lists: reported as added."""
    server, bucket, files, _ = delivered
    first = files[0]
    forged = first.with_name(first.name.replace(".json.gz", "") + "0.json.gz")
    done = decrypt_cli(server, first, forged)
    assert done.returncode == 0, done.stderr
    done = validate(server)
    assert done.returncode != 0 and forged.name in done.stdout, done.stdout


# ----------------------------------------------------------------------------------------------
# `rampart trail decrypt` on odd input
# ----------------------------------------------------------------------------------------------

def odd_decrypt(server, path: Path, out: Path, timeout: float = 20) -> subprocess.CompletedProcess:
    try:
        done = decrypt_cli(server, path, out, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`rampart trail decrypt` hung on {path}")
    assert done.returncode not in (0, 101), (done.returncode, done.stderr)
    assert "panicked" not in done.stderr and done.stderr.strip(), done.stderr
    return done


def test_decrypt_fails_with_a_message_on_odd_metadata_and_files(delivered, tmp_path):
    """Decrypt given broken metadata members, broken files, or odd paths: non-zero with a message."""
    server, bucket, files, key = delivered
    genuine = files[0]
    meta = metadata_of(genuine)
    work = tmp_path / "odd"
    work.mkdir()
    out = tmp_path / "out.gz"
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    cases = {
        "not-json": b"{", "array": b"[]", "null": b"null", "number": b"5",
        "key-number": json.dumps(dict(meta, **{"x-amz-server-side-encryption-aws-kms-key-id": 5})).encode(),
        "key-garbage": json.dumps(dict(meta, **{"x-amz-server-side-encryption-aws-kms-key-id": "arn:"})).encode(),
        "key-alias": json.dumps(dict(meta, **{"x-amz-server-side-encryption-aws-kms-key-id": "alias/x"})).encode(),
        "key-account": json.dumps(dict(meta, **{"x-amz-server-side-encryption-aws-kms-key-id":
                                                 key.replace(server.account_id, "12")})).encode(),
        "ctx-not-b64": json.dumps(dict(meta, **{"x-amz-server-side-encryption-context": "%%%"})).encode(),
        "ctx-not-json": json.dumps(dict(meta, **{"x-amz-server-side-encryption-context": b64(b"\xff\xfe")})).encode(),
        "ctx-array": json.dumps(dict(meta, **{"x-amz-server-side-encryption-context": b64(b"[1,2]")})).encode(),
        "edk-missing": json.dumps({k: v for k, v in meta.items() if k != "x-rampart-encrypted-data-key"}).encode(),
        "edk-empty": json.dumps(dict(meta, **{"x-rampart-encrypted-data-key": ""})).encode(),
        "edk-junk": json.dumps(dict(meta, **{"x-rampart-encrypted-data-key": b64(os.urandom(300))})).encode(),
        "edk-huge": json.dumps(dict(meta, **{"x-rampart-encrypted-data-key": b64(os.urandom(1 << 20))})).encode(),
        "not-encrypted": json.dumps(dict(meta, **{"x-amz-server-side-encryption": "AES256"})).encode(),
    }
    for name, metadata in cases.items():
        path = work / f"{name}.json.gz"
        shutil.copy(genuine, path)
        Path(f"{path}.metadata").write_bytes(metadata)
        odd_decrypt(server, path, out)
    for name, contents in {"empty": b"", "short": b"\0" * 5, "nonce": genuine.read_bytes()[:12],
                           "flipped": genuine.read_bytes()[:-1] + b"\0"}.items():
        path = work / f"{name}.json.gz"
        path.write_bytes(contents)
        shutil.copy(f"{genuine}.metadata", f"{path}.metadata")
        odd_decrypt(server, path, out)
    odd_decrypt(server, work / "absent.json.gz", out)
    odd_decrypt(server, work, out)  # a directory
    no_meta = work / "no-meta.json.gz"
    shutil.copy(genuine, no_meta)
    odd_decrypt(server, no_meta, out)
    odd_decrypt(server, genuine, tmp_path / "no" / "such" / "dir" / "out.gz")
    odd_decrypt(server, genuine, tmp_path)  # --out is a directory
    done = run_cli("decrypt", "--data", str(tmp_path / "nowhere"), str(genuine), "--out", str(out), timeout=20)
    assert done.returncode not in (0, 101) and done.stderr.strip(), done.stderr
    empty = tmp_path / "empty-data"
    empty.mkdir()
    done = run_cli("decrypt", "--data", str(empty), str(genuine), "--out", str(out), timeout=20)
    assert done.returncode not in (0, 101) and done.stderr.strip(), done.stderr
    assert not (empty / "node.key").exists(), "decrypt must not create node keys in a directory it is pointed at"


def test_decrypt_does_not_hang_on_a_fifo_metadata(delivered, tmp_path):
    """The metadata beside the file is a FIFO (nobody writes it): decrypt must refuse it, not block."""
    server, bucket, files, _ = delivered
    path = tmp_path / "f.json.gz"
    shutil.copy(files[0], path)
    os.mkfifo(f"{path}.metadata")
    odd_decrypt(server, path, tmp_path / "out.gz", timeout=15)


def test_decrypt_does_not_hang_on_a_fifo_log_file(delivered, tmp_path):
    """The encrypted file itself is a FIFO (with genuine metadata beside it): refused, no hang."""
    server, bucket, files, _ = delivered
    path = tmp_path / "f.json.gz"
    os.mkfifo(path)
    shutil.copy(f"{files[0]}.metadata", f"{path}.metadata")
    odd_decrypt(server, path, tmp_path / "out.gz", timeout=15)


def test_decrypt_does_not_read_a_huge_metadata_file_whole(delivered, tmp_path):
    """A metadata file of 2 GiB (sparse; S3 metadata is at most 2 KB): refused with a message without
    being read whole into memory (a bigger one would exhaust it)."""
    server, bucket, files, _ = delivered
    path = tmp_path / "f.json.gz"
    shutil.copy(files[0], path)
    with open(f"{path}.metadata", "wb") as f:
        f.truncate(2 << 30)
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True, timeout=60); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", script, str(rampart_bin()), "trail", "decrypt", "--data",
                           str(server.data_dir), str(path), "--out", str(tmp_path / "out.gz")],
                          capture_output=True, text=True, timeout=90)
    peak_mib = int(done.stdout.strip()) / 1024
    assert peak_mib < 256, f"decrypt read {peak_mib:.0f} MiB of a metadata file into memory"
    odd_decrypt(server, path, tmp_path / "out.gz", timeout=60)


# ----------------------------------------------------------------------------------------------
# secrets
# ----------------------------------------------------------------------------------------------

def test_no_plaintext_data_key_in_audit_records_logs_or_files(server, tmp_path):
    """A file's data key (opened through KMS Decrypt with the file's context, as S3 would) decrypts
    the file as documented (nonce + AES-256-GCM, S3 ARN as AAD) — and neither it nor the root secret
    appears in LookupEvents, server.log or any file of the data directory or bucket."""
    ct, kms, iam = server.client("cloudtrail"), server.client("kms"), server.client("iam")
    key, bucket = sealed_trail(server, EnableLogFileValidation=True)
    iam.create_user(UserName="secretive")
    wait_for(lambda: log_files(bucket) and list(bucket.rglob("*CloudTrail-Digest*.json.gz")))
    path = log_files(bucket)[0]
    meta = metadata_of(path)
    context = json.loads(base64.b64decode(meta["x-amz-server-side-encryption-context"]))
    assert context == {"aws:cloudtrail:arn": f"arn:aws:cloudtrail:us-east-1:{server.account_id}:trail/sealed",
                       "aws:s3:arn": f"arn:aws:s3:::{BUCKET}/{path.relative_to(bucket).as_posix()}"}
    data_key = kms.decrypt(CiphertextBlob=base64.b64decode(meta["x-rampart-encrypted-data-key"]),
                           EncryptionContext=context)["Plaintext"]
    assert len(data_key) == 32
    blob = path.read_bytes()
    gz = AESGCM(data_key).decrypt(blob[:12], blob[12:], context["aws:s3:arn"].encode())
    assert json.loads(gzip.decompress(gz))["Records"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=base64.b64decode(meta["x-rampart-encrypted-data-key"]),
                    EncryptionContext=dict(context, **{"aws:s3:arn": "arn:aws:s3:::other/x"}))
    assert code_of(e) == "InvalidCiphertextException"
    time.sleep(2.5)
    events = json.dumps(lookup_all(ct), default=str)
    server.stop()
    needles = {"raw": data_key, "b64": base64.b64encode(data_key), "hex": data_key.hex().encode(),
               "root secret": server.creds.secret_access_key.encode()}
    assert not [n for n, v in needles.items() if v.decode("latin-1") in events], "a secret in LookupEvents"
    log = server.log_path.read_bytes()
    assert not [n for n, v in needles.items() if v in log], "a secret in server.log"
    leaked = []
    for root in [server.data_dir]:
        for file in root.rglob("*"):
            if file.is_file() and not file.is_symlink():
                content = file.read_bytes()
                leaked += [(file.name, n) for n, v in needles.items()
                           if v in content and not (n == "root secret" and file.name == "root-credentials")]
    assert not leaked, leaked
