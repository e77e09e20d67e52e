"""Attacks on trails, their delivery and `rampart trail validate`: path escapes, authorization
through the request-to-trail mapping, tag conditions, exactly-once delivery under repeated kill -9,
and tampering the validator must name (truncation, forged files, another trail's digests, files
that are not regular files). A test for a defect asserts the correct behaviour and fails until the
defect is fixed."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from rampart_testlib import new_user, rampart_bin, wait_for

BUCKET = "attack-logs"


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def status_of(excinfo) -> int:
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def files(root: Path, kind: str) -> list[Path]:
    return sorted(p for p in root.rglob("*.json.gz") if f"/{kind}/" in p.as_posix())


def records_in(root: Path) -> list[dict]:
    out = []
    for path in files(root, "CloudTrail"):
        out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return out


def digest_of(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def validate(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(rampart_bin()), "trail", "validate", *args], capture_output=True, text=True,
                          timeout=timeout)


def no_panic(server) -> None:
    assert "panicked" not in server.log_text(), server.log_tail(80)


# --------------------------------------------------------------------------
# a stopped node whose validated trail logged across a restart
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stopped(module_server_factory):
    """`(server, arn)`: trail `main` (validation on) logged IAM calls into BUCKET with several
    digests, across a restart, then the node stopped cleanly (every file is in a digest)."""
    server = module_server_factory(name="validated", extra_args=["--trail-delivery-seconds", "1",
                                                                 "--trail-digest-seconds", "1"])
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)["TrailARN"]
    ct.start_logging(Name="main")
    iam = server.client("iam")
    bucket = server.data_dir / "buckets" / BUCKET
    for i in range(3):
        iam.create_user(UserName=f"victim-{i}")
        time.sleep(1.1)
    wait_for(lambda: len(files(bucket, "CloudTrail-Digest")) >= 3 and len(files(bucket, "CloudTrail")) >= 2)
    server.restart()
    server.client("iam").create_user(UserName="after-restart")
    time.sleep(1.5)
    server.stop()
    no_panic(server)
    return server, arn


def data_copy(stopped, tmp_path) -> Path:
    server, _ = stopped
    copy = tmp_path / "data"
    shutil.copytree(server.data_dir, copy)
    return copy


def chain_of(bucket: Path) -> list[tuple[Path, dict]]:
    chain = [(p, digest_of(p)) for p in files(bucket, "CloudTrail-Digest")]
    chain.sort(key=lambda pd: pd[1]["digestEndTime"])
    return chain


def test_the_untouched_copy_validates(stopped, tmp_path):
    copy = data_copy(stopped, tmp_path)
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INVALID" not in done.stdout


def test_truncating_the_newest_digest_and_its_logs_is_detected(stopped, tmp_path):
    """Deleting the newest digest (and the log files it lists) leaves an intact, shorter chain. The
    node's store knows which digest it wrote last, so validating from the data directory must name
    the missing digest."""
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    newest, digest = chain_of(bucket)[-1]
    for f in digest["logFiles"]:
        (bucket / f["s3Object"]).unlink()
    newest.unlink()
    Path(str(newest) + ".metadata").unlink()
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode != 0, "the newest digest and its logs are gone, yet:\n" + done.stdout
    assert digest["digestS3Object"] in done.stdout, done.stdout


def test_an_added_log_file_no_digest_lists_is_named(stopped, tmp_path):
    """After a clean stop every delivered log file is in a digest (the README: the validator proves
    no file was forged, naming each). A fabricated log file in the trail's layout, dated inside the
    digested period, is not CloudTrail's."""
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    genuine = files(bucket, "CloudTrail")[0]
    forged = genuine.with_name(genuine.name[:-len("0123456789abcdef.json.gz")] + "fffffffffffffff0.json.gz")
    record = json.loads(gzip.decompress(genuine.read_bytes()))["Records"][0]
    record.update(eventName="DeleteTrail", eventID="00000000-0000-0000-0000-000000000000",
                  sourceIPAddress="203.0.113.7")
    forged.write_bytes(gzip.compress(json.dumps({"Records": [record]}).encode()))
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode != 0, "a forged log file passes:\n" + done.stdout
    assert forged.relative_to(bucket).as_posix() in done.stdout, done.stdout


def test_an_empty_or_absent_bucket_is_not_valid(stopped, tmp_path):
    server, _ = stopped
    empty = tmp_path / "empty"
    empty.mkdir()
    keys = tmp_path / "keys"
    subprocess.run([str(rampart_bin()), "trail", "export-public-keys", "--data", str(server.data_dir),
                    "--out", str(keys)], check=True, capture_output=True, timeout=30)
    for path in (empty, tmp_path / "absent"):
        done = validate("--path", str(path), "--public-keys", str(keys), "--account", server.account_id,
                        "--bucket", BUCKET, "--trail", "main")
        assert done.returncode == 1, done.stdout + done.stderr
    # Every digest deleted (the logs kept): nothing validates.
    copy = data_copy(stopped, tmp_path)
    for p in (copy / "buckets" / BUCKET).rglob("*"):
        if "CloudTrail-Digest" in p.as_posix() and p.is_file():
            p.unlink()
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 1, done.stdout


def test_a_replayed_digest_and_swapped_log_files_are_named(stopped, tmp_path):
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    chain = chain_of(bucket)
    # An old digest replayed over the newest (its metadata too).
    (old, _), (newest, _) = chain[0], chain[-1]
    shutil.copy(old, newest)
    shutil.copy(str(old) + ".metadata", str(newest) + ".metadata")
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 1
    assert f"Digest file\t{newest.relative_to(bucket).as_posix()}\tINVALID" in done.stdout, done.stdout
    # Two listed log files swapped (no digest touched).
    copy = data_copy(stopped, tmp_path / "second")
    bucket = copy / "buckets" / BUCKET
    logs = files(bucket, "CloudTrail")
    a, b = logs[0], logs[-1]
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 1
    for p in (a, b):
        assert f"Log file\t{p.relative_to(bucket).as_posix()}\tINVALID" in done.stdout, done.stdout


def test_a_replayed_digest_does_not_hide_edited_logs_beneath_it(stopped, tmp_path):
    """One digest replayed over another breaks the chain there; the older digests are still
    genuine and signed (AWS's validate-logs goes on from the next digest it finds), so a log file
    edited under them must still be named -- not skipped with its digest called forged."""
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    chain = chain_of(bucket)
    older = [(p, d) for p, d in chain[:-1] if d["logFiles"]]
    assert older and len(chain) >= 3
    (victim_digest, listing) = older[0]
    victim = bucket / listing["logFiles"][0]["s3Object"]
    records = json.loads(gzip.decompress(victim.read_bytes()))
    records["Records"][0]["sourceIPAddress"] = "203.0.113.66"
    victim.write_bytes(gzip.compress(json.dumps(records).encode()))
    first, newest = chain[0][0], chain[-1][0]
    shutil.copy(first, newest)
    shutil.copy(str(first) + ".metadata", str(newest) + ".metadata")
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 1
    assert f"Log file\t{victim.relative_to(bucket).as_posix()}\tINVALID" in done.stdout, done.stdout
    assert f"Digest file\t{victim_digest.relative_to(bucket).as_posix()}\tvalid" in done.stdout, done.stdout


def test_a_metadata_file_edited_or_removed_is_named(stopped, tmp_path):
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    chain = chain_of(bucket)
    first, middle = chain[0][0], chain[len(chain) // 2][0]
    meta = json.loads(Path(str(first) + ".metadata").read_text())
    sig = meta["x-amz-meta-signature"]
    meta["x-amz-meta-signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    Path(str(first) + ".metadata").write_text(json.dumps(meta))
    Path(str(middle) + ".metadata").unlink()
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 1
    for p in (first, middle):
        assert f"Digest file\t{p.relative_to(bucket).as_posix()}\tINVALID" in done.stdout, done.stdout


def test_malformed_files_give_a_clean_report(stopped, tmp_path):
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    chain = chain_of(bucket)
    garbage = [b"", b"\x1f\x8b\x08\x00garbage", gzip.compress(b"not json"), gzip.compress(b"[1,2,3]"),
               gzip.compress(b'{"digestS3Object": 7, "logFiles": "x"}'), gzip.compress(b"\xff\xfe" * 1000)]
    for (path, _), junk in zip(chain, garbage):
        path.write_bytes(junk)
        Path(str(path) + ".metadata").write_bytes(b"\x00{not json")
    # Stray names in the digest directory: bad dates, non-UTF-8, a directory named like a digest.
    day = chain[0][0].parent
    (day / f"{stopped[0].account_id}_CloudTrail-Digest_us-east-1_main_us-east-1_99999999T999999Z.json.gz"
     ).write_bytes(b"x")
    os.makedirs(day / f"{stopped[0].account_id}_CloudTrail-Digest_us-east-1_main_us-east-1_20200101T000000Z.json.gz")
    (day / os.fsdecode(b"\xff\xfe.json.gz")).write_bytes(b"x")
    # A symlink loop must not hang the walk.
    os.symlink(day, day / "loop")
    done = validate("--data", str(copy), "--trail", "main")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "panicked" not in done.stderr and "INVALID" in done.stdout


def test_a_log_file_replaced_by_a_fifo_does_not_hang_the_validator(stopped, tmp_path):
    """An attacker who can write the bucket replaces a listed log file (or a digest's metadata) by
    a named pipe: the validator must report it, not block forever."""
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    victim = files(bucket, "CloudTrail")[0]
    victim.unlink()
    os.mkfifo(victim)
    meta = Path(str(chain_of(bucket)[0][0]) + ".metadata")
    meta.unlink()
    os.mkfifo(meta)
    try:
        done = validate("--data", str(copy), "--trail", "main", timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("rampart trail validate hangs on a named pipe in the bucket")
    assert done.returncode == 1
    assert f"Log file\t{victim.relative_to(bucket).as_posix()}\tINVALID" in done.stdout, done.stdout


def test_a_window_still_checks_the_link_into_it(stopped, tmp_path):
    """--start-time hides digests older than the window, but the oldest digest in the window still
    names its predecessor: deleting it is reported, not hidden."""
    copy = data_copy(stopped, tmp_path)
    bucket = copy / "buckets" / BUCKET
    chain = chain_of(bucket)
    assert len(chain) >= 3
    start = chain[1][1]["digestEndTime"]
    victim = chain[0][0]
    victim.unlink()
    Path(str(victim) + ".metadata").unlink()
    done = validate("--data", str(copy), "--trail", "main", "--start-time", start)
    assert done.returncode == 1, done.stdout
    assert chain[0][1]["digestS3Object"] in done.stdout


# --------------------------------------------------------------------------
# trails of the same name, delete and re-create
# --------------------------------------------------------------------------

def test_a_same_named_trail_of_another_region_neither_overwrites_nor_vouches_for_the_digests(server_factory,
                                                                                            tmp_path):
    """Trail names are unique per region only. A user allowed to create trails in us-west-2 makes a
    `main` there into the security team's bucket: its digests of the global (IAM) events must not
    take the names of the us-east-1 `main`'s digests (AWS names digests
    ACCOUNT_CloudTrail-Digest_REGION_NAME_HOMEREGION_TIME), and the east trail's validation must not
    count them."""
    server = server_factory(extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "1"])
    east = server.client("cloudtrail")
    west = server.client("cloudtrail", region="us-west-2")
    east_arn = east.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)["TrailARN"]
    west.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
    east.start_logging(Name="main")
    west.start_logging(Name="main")
    iam = server.client("iam")
    bucket = server.data_dir / "buckets" / BUCKET
    for i in range(3):
        iam.create_user(UserName=f"shared-{i}")
        time.sleep(1.1)
    # Stopped together, both trails digest their us-east-1 (global) files in the same pass.
    east.stop_logging(Name="main")
    west.stop_logging(Name="main")
    time.sleep(2)
    server.stop()
    no_panic(server)
    east_region = [p.name for p in files(bucket, "CloudTrail-Digest") if "/CloudTrail-Digest/us-east-1/" in p.as_posix()]
    assert any("_us-east-1_main_us-west-2_" in n for n in east_region), (
        f"the us-west-2 trail's digests of its us-east-1 files must name its home region: {east_region}")
    done = validate("--data", str(server.data_dir), "--trail", east_arn)
    assert done.returncode == 0, done.stdout + done.stderr
    # Deleting every digest of the east trail: the west trail's digests must not make it pass.
    copy = tmp_path / "copy"
    shutil.copytree(server.data_dir, copy)
    for p in (copy / "buckets" / BUCKET).rglob("*"):
        if p.is_file() and "CloudTrail-Digest" in p.as_posix() and "_us-east-1_main_us-east-1_" in p.name:
            p.unlink()
    done = validate("--data", str(copy), "--trail", east_arn)
    assert done.returncode != 0, "the east trail's digests are all gone, yet:\n" + done.stdout


def test_a_trail_deleted_and_created_again_still_validates(server_factory):
    """A new trail of the same name starts a new chain; the old chain's genuine digests are a gap
    (AWS's validate-logs reports no log files for the gap), not forgeries."""
    server = server_factory(extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "1"])
    ct = server.client("cloudtrail")
    iam = server.client("iam")
    for generation in range(2):
        ct.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
        ct.start_logging(Name="main")
        iam.create_user(UserName=f"gen-{generation}")
        time.sleep(2.2)
        ct.stop_logging(Name="main")
        time.sleep(1.5)
        if generation == 0:
            ct.delete_trail(Name="main")
    server.stop()
    no_panic(server)
    done = validate("--data", str(server.data_dir), "--trail", "main")
    assert done.returncode == 0, done.stdout + done.stderr


def test_validate_from_the_data_directory_finds_a_mapped_bucket(server_factory, tmp_path):
    mapped = tmp_path / "elsewhere"
    server = server_factory(extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "1",
                                        "--trail-bucket", f"mapped-logs={mapped}"])
    ct = server.client("cloudtrail")
    ct.create_trail(Name="mapped", S3BucketName="mapped-logs", EnableLogFileValidation=True)
    ct.start_logging(Name="mapped")
    server.client("iam").create_user(UserName="mapped-user")
    wait_for(lambda: files(mapped, "CloudTrail-Digest"))
    server.stop()
    assert not (server.data_dir / "buckets" / "mapped-logs").exists() or not files(
        server.data_dir / "buckets" / "mapped-logs", "CloudTrail")
    done = validate("--data", str(server.data_dir), "--trail", "mapped")
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------
# the API: escapes, bad input, authorization
# --------------------------------------------------------------------------

@pytest.fixture
def server(server_factory):
    return server_factory(extra_args=["--trail-delivery-seconds", "1"])


def test_names_and_prefixes_cannot_leave_the_buckets_directory(server):
    ct = server.client("cloudtrail")
    root = server.data_dir / "buckets"
    for prefix in ["../escape", "a/../../escape", "/tmp/escape", "a//b", ".", "..", "a/./b", "a\\..\\b",
                   "x/\x00y", "p" * 201, "a/" + "../" * 5, "%2e%2e/escape"[:0] + "../../../../tmp/escape"]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name="escape", S3BucketName=BUCKET, S3KeyPrefix=prefix)
        assert code_of(e) in ("InvalidS3PrefixException", "ValidationException"), prefix
        assert 400 <= status_of(e) < 500
    for bucket in ["..", "../x", "a/b", "/abs", ".hidden", "a..b", "x" * 64, "a\\b", "buck\x00et"]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name="escape", S3BucketName=bucket)
        assert code_of(e) in ("InvalidS3BucketNameException", "ValidationException"), bucket
    for name in ["../x", "a/b", "..", "a" * 129, "x\x00y", "a.b/../c"]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name=name, S3BucketName=BUCKET)
        assert code_of(e) in ("InvalidTrailNameException", "ValidationException"), name
    ct.create_trail(Name="okay", S3BucketName=BUCKET)
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="okay", S3KeyPrefix="../../../outside")
    assert code_of(e) == "InvalidS3PrefixException"
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="okay", S3BucketName="../outside")
    assert code_of(e) == "InvalidS3BucketNameException"
    # A long, deep but valid prefix delivers inside the bucket.
    deep = "/".join(["d" * 20] * 9)
    ct.update_trail(Name="okay", S3KeyPrefix=deep + "/")
    ct.start_logging(Name="okay")
    server.client("iam").create_user(UserName="deep")
    wait_for(lambda: list((root / BUCKET / deep).rglob("*.json.gz")))
    outside = [p for p in server.workdir.rglob("*.json.gz") if root not in p.parents]
    assert outside == []
    no_panic(server)


def test_a_prefix_that_climbs_out_writes_nothing_outside_the_buckets(server):
    """A user with cloudtrail:CreateTrail/StartLogging names S3KeyPrefix `../../../escaped`: it must
    be refused, and in no case may a log file land outside DATA/buckets."""
    ct = server.client("cloudtrail")
    accepted = []
    for i, prefix in enumerate(["../../../escaped", "../../data-escape", "x/../../../../escaped2"]):
        try:
            ct.create_trail(Name=f"climb-{i}", S3BucketName=BUCKET, S3KeyPrefix=prefix)
            ct.start_logging(Name=f"climb-{i}")
            accepted.append(prefix)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidS3PrefixException", prefix
    if accepted:
        server.client("iam").create_user(UserName="climber")
        time.sleep(2.5)
    root = server.data_dir / "buckets"
    outside = [p for p in server.workdir.rglob("*.json.gz") if root not in p.parents]
    assert outside == [], f"log files written outside {root}: {outside}"
    assert accepted == [], f"prefixes accepted: {accepted}"


def test_bad_input_to_every_operation_is_a_4xx(server):
    ct = server.client("cloudtrail")
    ct.create_trail(Name="target", S3BucketName=BUCKET)
    foreign = "arn:aws:cloudtrail:us-east-1:999999999999:trail/target"
    calls = [
        ("GetTrail", {"Name": ""}), ("GetTrail", {"Name": "arn:"}), ("GetTrail", {"Name": "arn:aws:cloudtrail"}),
        ("GetTrail", {"Name": "arn:aws:cloudtrail:us-east-1:1:trail/"}), ("GetTrail", {"Name": 5}),
        ("GetTrail", {}), ("GetTrail", {"Name": "x" * 5000}), ("GetTrail", {"Name": foreign}),
        ("GetTrailStatus", {"Name": "arn:aws:cloudtrail:us-east-1:" + "9" * 12 + ":trail/" + "x" * 300}),
        ("DescribeTrails", {"trailNameList": "notalist"}), ("DescribeTrails", {"trailNameList": [1, None]}),
        ("ListTrails", {"NextToken": "garbage"}), ("ListTrails", {"NextToken": 7}),
        ("UpdateTrail", {"Name": "target", "S3BucketName": ""}),
        ("UpdateTrail", {"Name": "target", "IsMultiRegionTrail": "yes"}),
        ("UpdateTrail", {"Name": "nope-nope"}),
        ("DeleteTrail", {"Name": foreign}), ("StartLogging", {"Name": "x"}), ("StopLogging", {}),
        ("PutEventSelectors", {"TrailName": "target"}),
        ("PutEventSelectors", {"TrailName": "target", "EventSelectors": []}),
        ("PutEventSelectors", {"TrailName": "target", "EventSelectors": [{"ReadWriteType": "Both"}] * 6}),
        ("PutEventSelectors", {"TrailName": "target", "AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"] * 600}]}]}),
        ("PutEventSelectors", {"TrailName": "target", "AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventCategory"}]}]}),
        ("PutEventSelectors", {"TrailName": "target", "AdvancedEventSelectors": [{"FieldSelectors": "x"}]}),
        ("GetEventSelectors", {"TrailName": foreign}),
        ("AddTags", {"ResourceId": foreign, "TagsList": [{"Key": "a", "Value": "b"}]}),
        ("AddTags", {"ResourceId": "target", "TagsList": [{"Key": f"k{i}"} for i in range(51)]}),
        ("AddTags", {"ResourceId": "target", "TagsList": [{"Key": "a"}, {"Key": "a"}]}),
        ("AddTags", {"ResourceId": "target", "TagsList": [{"Value": "no key"}]}),
        ("RemoveTags", {"ResourceId": "arn:aws:s3:::bucket", "TagsList": [{"Key": "a"}]}),
        ("ListTags", {}), ("ListTags", {"ResourceIdList": ["target"]}), ("ListTags", {"ResourceIdList": [foreign]}),
        ("ListTags", {"ResourceIdList": ["arn:aws:cloudtrail:us-east-1:1:trail/x"] * 30}),
        ("ListPublicKeys", {"StartTime": 10, "EndTime": 1}), ("ListPublicKeys", {"NextToken": "x"}),
        ("ListPublicKeys", {"StartTime": "yesterday"}),
        ("CreateTrail", {"Name": "target2"}), ("CreateTrail", {"Name": "t3", "S3BucketName": BUCKET,
                                                               "TagsList": "x"}),
        ("CreateTrail", {"Name": "t4", "S3BucketName": BUCKET, "S3KeyPrefix": 5}),
    ]
    for operation, body in calls:
        resp = server.json_call("cloudtrail", operation, body)
        assert 400 <= resp.status_code < 500, (operation, body, resp.status_code, resp.text[:300])
        assert "InternalFailure" not in resp.text, (operation, body, resp.text[:300])
    # Not JSON at all, or a JSON array.
    for raw in (b"{", b"[]", b"null", b'"x"'):
        resp = server.json_call("cloudtrail", "GetTrail", raw)
        assert 400 <= resp.status_code < 500, (raw, resp.status_code, resp.text[:200])
    no_panic(server)


def test_a_user_reaches_only_the_trails_the_policy_names(server):
    ct = server.client("cloudtrail")
    west = server.client("cloudtrail", region="us-west-2")
    mine = ct.create_trail(Name="mine", S3BucketName=BUCKET)["TrailARN"]
    secret = ct.create_trail(Name="secret", S3BucketName=BUCKET, IsMultiRegionTrail=True,
                             TagsList=[{"Key": "team", "Value": "sec"}])["TrailARN"]
    user = new_user(server, "trail-user")
    server.client("iam").put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": mine},
            {"Effect": "Allow", "Action": ["cloudtrail:DescribeTrails", "cloudtrail:ListTrails"], "Resource": "*"}]}))
    as_user = server.client("cloudtrail", creds=user["creds"])
    as_user_west = server.client("cloudtrail", creds=user["creds"], region="us-west-2")
    assert as_user.get_trail(Name="mine")["Trail"]["TrailARN"] == mine
    denied = [
        lambda: as_user.get_trail(Name="secret"), lambda: as_user.get_trail(Name=secret),
        lambda: as_user_west.get_trail(Name="secret"), lambda: as_user_west.get_trail_status(Name=secret),
        lambda: as_user.stop_logging(Name=secret), lambda: as_user.delete_trail(Name="secret"),
        lambda: as_user.update_trail(Name="secret", S3KeyPrefix="gone"),
        lambda: as_user.put_event_selectors(TrailName="secret", EventSelectors=[
            {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": False}]),
        lambda: as_user.get_event_selectors(TrailName=secret),
        lambda: as_user.remove_tags(ResourceId=secret, TagsList=[{"Key": "team"}]),
        lambda: as_user.add_tags(ResourceId=secret, TagsList=[{"Key": "x", "Value": "y"}]),
        lambda: as_user.list_tags(ResourceIdList=[mine, secret]),
        lambda: as_user.list_tags(ResourceIdList=[secret, mine]),
    ]
    for call in denied:
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "AccessDeniedException"
    # ARNs spelled differently do not find the guarded trail (and are not authorized as `mine`).
    for spelled in [secret.replace("us-east-1", "us-west-2"), secret.upper(), secret + "/", mine + "/../secret",
                    secret.replace(":trail/", ":trail//")]:
        with pytest.raises(ClientError) as e:
            as_user.get_trail_status(Name=spelled)
        assert code_of(e) in ("AccessDeniedException", "TrailNotFoundException", "CloudTrailARNInvalidException",
                              "InvalidTrailNameException"), spelled
    # DescribeTrails on `*` is allowed, as AWS: a foreign account's ARN finds nothing.
    foreign = secret.replace(server.account_id, "999999999999")
    assert as_user.describe_trails(trailNameList=[foreign])["trailList"] == []
    with pytest.raises(ClientError) as e:
        as_user.get_trail(Name=foreign)
    assert code_of(e) in ("AccessDeniedException", "TrailNotFoundException")
    assert ct.get_trail(Name="secret")["Trail"].get("S3KeyPrefix") is None
    assert west.get_trail_status(Name="secret")["IsLogging"] is False
    no_panic(server)


def test_tag_conditions_on_trails_are_honoured(server):
    """CloudTrail's requests carry tags in `TagsList`: aws:RequestTag/* and aws:TagKeys must be read
    from it, or a policy limiting which tags a user may set is bypassed."""
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name="tagged", S3BucketName=BUCKET)["TrailARN"]
    user = new_user(server, "tagger")
    server.client("iam").put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudtrail:AddTags", "Resource": arn,
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}},
            {"Effect": "Allow", "Action": "cloudtrail:CreateTrail", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}}]}))
    as_user = server.client("cloudtrail", creds=user["creds"])
    as_user.add_tags(ResourceId=arn, TagsList=[{"Key": "team", "Value": "sec"}])
    with pytest.raises(ClientError) as e:
        as_user.add_tags(ResourceId=arn, TagsList=[{"Key": "owner", "Value": "attacker"}])
    assert code_of(e) == "AccessDeniedException", "a tag key the policy does not allow was set"
    with pytest.raises(ClientError) as e:
        as_user.create_trail(Name="untagged", S3BucketName=BUCKET)
    assert code_of(e) == "AccessDeniedException"
    as_user.create_trail(Name="prod-trail", S3BucketName=BUCKET, TagsList=[{"Key": "env", "Value": "prod"}])


# --------------------------------------------------------------------------
# exactly once under repeated kill -9
# --------------------------------------------------------------------------

def test_repeated_kill_9_under_load_delivers_each_record_once_and_digests_validate(server_factory):
    server = server_factory(extra_args=["--trail-delivery-seconds", "1", "--trail-digest-seconds", "1"])
    ct = server.client("cloudtrail")
    ct.create_trail(Name="durable", S3BucketName=BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name="durable")
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def workload():
        while not stop.is_set():
            try:
                sts = server.client("sts")
                while not stop.is_set():
                    rid = sts.get_caller_identity()["ResponseMetadata"]["RequestId"]
                    with lock:
                        acknowledged.append(rid)
            except Exception:  # the node is down for a moment
                time.sleep(0.05)

    threads = [threading.Thread(target=workload) for _ in range(3)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    try:
        for _ in range(8):
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill9()
            server.start()
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    bucket = server.data_dir / "buckets" / BUCKET

    def all_in():
        ids = [r["requestID"] for r in records_in(bucket) if r["eventName"] == "GetCallerIdentity"]
        return ids if set(acknowledged) <= set(ids) else None
    ids = wait_for(all_in, timeout=20, what="every acknowledged call")
    records = records_in(bucket)
    event_ids = [r["eventID"] for r in records]
    assert len(acknowledged) > 50
    assert len(ids) == len(set(ids)), "a request delivered twice"
    assert len(event_ids) == len(set(event_ids)), "an event delivered twice"
    server.stop()
    assert not list(bucket.rglob("*.partial"))
    no_panic(server)
    done = validate("--data", str(server.data_dir), "--trail", "durable")
    assert done.returncode == 0, done.stdout + done.stderr
