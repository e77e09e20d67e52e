"""CloudTrail trails: management with AWS's rules, and delivery of log files laid out as AWS lays
them out in S3 (a bucket is a directory under the data directory), from the event cursor, exactly
once across restarts and kill -9."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from rampart_testlib import Creds, new_user, wait_for

BUCKET = "audit-logs"
FILE_NAME = re.compile(r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([0-9a-f]{16})\.json\.gz")


def error_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def server(server_factory):
    return server_factory(extra_args=["--trail-delivery-seconds", "1"])


def log_files(server, bucket=BUCKET) -> list[Path]:
    root = server.data_dir / "buckets" / bucket
    return sorted(p for p in root.rglob("*") if p.is_file())


def delivered(server, bucket=BUCKET) -> list[dict]:
    records = []
    for path in log_files(server, bucket):
        assert not path.name.endswith(".partial"), path
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def test_a_started_trail_delivers_allowed_denied_and_unsigned_calls(server):
    ct = server.client("cloudtrail")
    out = ct.create_trail(Name="main", S3BucketName=BUCKET)
    account = server.account_id
    assert out["TrailARN"] == f"arn:aws:cloudtrail:us-east-1:{account}:trail/main"
    assert out["IncludeGlobalServiceEvents"] is True and out["IsMultiRegionTrail"] is False
    status = ct.get_trail_status(Name="main")
    assert status["IsLogging"] is False and "LatestDeliveryTime" not in status
    iam = server.client("iam")
    iam.create_user(UserName="before-logging")
    ct.start_logging(Name="main")
    assert ct.get_trail_status(Name="main")["IsLogging"] is True

    user = new_user(server, "trailed")
    with pytest.raises(ClientError) as e:
        server.client("iam", creds=user["creds"]).list_users()
    assert error_of(e) == "AccessDenied"
    forged = Creds(user["key"], "not-the-secret", account)
    with pytest.raises(ClientError) as e:
        server.client("sts", creds=forged).get_caller_identity()
    assert error_of(e) == "SignatureDoesNotMatch"

    def arrived():
        records = delivered(server)
        names = {(r["eventName"], r.get("errorCode")) for r in records}
        return records if {("CreateUser", None), ("ListUsers", "AccessDenied"),
                           ("GetCallerIdentity", "SignatureDoesNotMatch")} <= names else None
    records = wait_for(arrived)
    by_name = {(r["eventName"], r.get("errorCode")): r for r in records}
    denied = by_name[("ListUsers", "AccessDenied")]
    assert denied["userIdentity"]["type"] == "IAMUser" and denied["userIdentity"]["arn"] == user["arn"]
    assert denied["eventSource"] == "iam.amazonaws.com" and "errorMessage" in denied
    assert by_name[("StartLogging", None)]["userIdentity"]["type"] == "Root"
    assert ("CreateUser", None) in by_name and by_name[("CreateUser", None)]["requestParameters"]["userName"] != "before-logging"
    assert "before-logging" not in json.dumps(records), "calls before StartLogging are not the trail's"
    for path in log_files(server):
        m = FILE_NAME.fullmatch(path.name)
        assert m and m.group(1) == account and m.group(2) == "us-east-1", path.name
        rel = path.relative_to(server.data_dir / "buckets" / BUCKET).parts
        assert rel[:4] == ("AWSLogs", account, "CloudTrail", "us-east-1") and len(rel) == 8, rel
        assert "".join(rel[4:7]) == m.group(3)[:8]
    ids = [r["eventID"] for r in records]
    assert len(ids) == len(set(ids)), "each record once"
    status = ct.get_trail_status(Name="main")
    assert status["LatestDeliveryTime"] and "LatestDeliveryError" not in status

    # Stopped, it delivers what came before and nothing after.
    ct.stop_logging(Name="main")
    iam.create_user(UserName="after-logging")
    time.sleep(2.5)
    assert "after-logging" not in json.dumps(delivered(server))
    status = ct.get_trail_status(Name="main")
    assert status["IsLogging"] is False and status["StopLoggingTime"] >= status["StartLoggingTime"]


def test_selectors_decide_what_is_delivered(server):
    ct = server.client("cloudtrail")
    ct.create_trail(Name="writes", S3BucketName="writes-only", S3KeyPrefix="team/a")
    default = ct.get_event_selectors(TrailName="writes")
    assert default["EventSelectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                          "DataResources": [], "ExcludeManagementEventSources": []}]
    out = ct.put_event_selectors(TrailName="writes", EventSelectors=[
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
    assert out["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    assert ct.get_trail(Name="writes")["Trail"]["HasCustomEventSelectors"] is True
    ct.create_trail(Name="errors", S3BucketName="errors-only")
    ct.put_event_selectors(TrailName="errors", AdvancedEventSelectors=[{"Name": "denied", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]},
        {"Field": "errorCode", "StartsWith": ["Access"]}]}])
    for name in ("writes", "errors"):
        ct.start_logging(Name=name)
    iam = server.client("iam")
    iam.create_user(UserName="selected")
    iam.list_users()
    user = new_user(server, "denied")
    with pytest.raises(ClientError):
        server.client("iam", creds=user["creds"]).list_roles()
    writes = wait_for(lambda: [r for r in delivered(server, "writes-only") if r["eventName"] == "CreateUser"] and
                      delivered(server, "writes-only"))
    assert all(not r["readOnly"] for r in writes), "WriteOnly delivers no read"
    assert all(p.relative_to(server.data_dir / "buckets" / "writes-only").parts[:3] == ("team", "a", "AWSLogs")
               for p in log_files(server, "writes-only"))
    errors = wait_for(lambda: delivered(server, "errors-only"))
    assert {r["eventName"] for r in errors} == {"ListRoles"} and all(r["errorCode"] == "AccessDenied" for r in errors)
    with pytest.raises(ClientError) as e:
        ct.put_event_selectors(TrailName="writes", EventSelectors=[
            {"ReadWriteType": "All", "DataResources": [{"Type": "AWS::EC2::Instance", "Values": ["x"]}]}])
    assert error_of(e) == "InvalidEventSelectorsException"
    with pytest.raises(ClientError) as e:
        ct.put_event_selectors(TrailName="writes", AdvancedEventSelectors=[{"FieldSelectors": [
            {"Field": "eventName", "Equals": ["CreateUser"]}]}])
    assert error_of(e) == "InvalidEventSelectorsException"
    with pytest.raises(ClientError) as e:
        ct.put_event_selectors(TrailName="writes", EventSelectors=[{"ReadWriteType": "All"}],
                               AdvancedEventSelectors=[{"FieldSelectors": [
                                   {"Field": "eventCategory", "Equals": ["Management"]}]}])
    assert error_of(e) == "InvalidParameterCombinationException"


def test_trail_management_follows_aws_rules(server):
    ct = server.client("cloudtrail")
    west = server.client("cloudtrail", region="us-west-2")
    for bad in ["ab", "-starts", "ends-", "two--dashes", "10.1.2.3", "has space"]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name=bad, S3BucketName=BUCKET)
        assert error_of(e) == "InvalidTrailNameException", bad
    for bad in ["UPPER", "ab", "under_score", "192.168.0.1"]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name="good", S3BucketName=bad)
        assert error_of(e) == "InvalidS3BucketNameException", bad
    for refused, code in [({"SnsTopicName": "topic"}, "InvalidSnsTopicNameException"),
                          ({"KmsKeyId": "alias/x"}, "KmsKeyNotFoundException"),
                          ({"IsOrganizationTrail": True}, "OrganizationsNotInUseException"),
                          ({"CloudWatchLogsLogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:g:*"},
                           "CloudWatchLogsDeliveryUnavailableException")]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name="good", S3BucketName=BUCKET, **refused)
        assert error_of(e) == code, refused
    everywhere = ct.create_trail(Name="everywhere", S3BucketName=BUCKET, IsMultiRegionTrail=True,
                                 TagsList=[{"Key": "team", "Value": "sec"}])
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="everywhere", S3BucketName=BUCKET)
    assert error_of(e) == "TrailAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        west.create_trail(Name="everywhere", S3BucketName=BUCKET)
    assert error_of(e) == "TrailAlreadyExistsException"
    # A multi-Region trail is seen from every region, changed only from its home.
    shadow = west.describe_trails()["trailList"]
    assert [(t["Name"], t["HomeRegion"]) for t in shadow] == [("everywhere", "us-east-1")]
    assert west.describe_trails(includeShadowTrails=False)["trailList"] == []
    assert west.get_trail(Name=everywhere["TrailARN"])["Trail"]["IsMultiRegionTrail"] is True
    for call in (lambda: west.update_trail(Name="everywhere", S3KeyPrefix="x"),
                 lambda: west.delete_trail(Name="everywhere"),
                 lambda: west.start_logging(Name="everywhere")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == "InvalidHomeRegionException"
    # Five per region, the multi-Region trail counting in each.
    for i in range(4):
        ct.create_trail(Name=f"east-{i}", S3BucketName=BUCKET)
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="sixth", S3BucketName=BUCKET)
    assert error_of(e) == "MaximumNumberOfTrailsExceededException"
    for i in range(4):
        west.create_trail(Name=f"west-{i}", S3BucketName=BUCKET)
    with pytest.raises(ClientError) as e:
        west.create_trail(Name="west-5", S3BucketName=BUCKET)
    assert error_of(e) == "MaximumNumberOfTrailsExceededException"
    names = {t["Name"] for t in ct.list_trails()["Trails"]}
    assert names == {"everywhere", "east-0", "east-1", "east-2", "east-3"}
    updated = ct.update_trail(Name="east-0", S3KeyPrefix="p", IncludeGlobalServiceEvents=False)
    assert updated["S3KeyPrefix"] == "p" and updated["IncludeGlobalServiceEvents"] is False
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="east-0", IsMultiRegionTrail=True)
    assert error_of(e) == "MaximumNumberOfTrailsExceededException"
    # Tags on the trail's ARN.
    arn = everywhere["TrailARN"]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "env", "Value": "prod"}])
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "team"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"] == [
        {"ResourceId": arn, "TagsList": [{"Key": "env", "Value": "prod"}]}]
    for call, code in [(lambda: ct.get_trail(Name="nope"), "TrailNotFoundException"),
                       (lambda: ct.get_trail_status(Name=f"arn:aws:cloudtrail:us-east-1:{server.account_id}:trail/nope"),
                        "TrailNotFoundException"),
                       (lambda: ct.get_trail(Name="arn:aws:s3:::bucket"), "CloudTrailARNInvalidException"),
                       (lambda: ct.delete_trail(Name="nope"), "TrailNotFoundException")]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == code
    ct.delete_trail(Name="east-0")
    assert "east-0" not in {t["Name"] for t in ct.describe_trails()["trailList"]}
    # Trails survive a restart.
    server.restart()
    ct = server.client("cloudtrail")
    assert ct.get_trail(Name="everywhere")["Trail"]["TrailARN"] == arn


def test_trail_calls_are_authorized_on_the_trail(server):
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name="guarded", S3BucketName=BUCKET)["TrailARN"]
    ct.create_trail(Name="other", S3BucketName=BUCKET)
    user = new_user(server, "trail-reader")
    server.client("iam").put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudtrail:GetTrailStatus", "cloudtrail:StopLogging"], "Resource": arn}]}))
    mine = server.client("cloudtrail", creds=user["creds"])
    assert mine.get_trail_status(Name="guarded")["IsLogging"] is False
    for call in (lambda: mine.get_trail_status(Name="other"), lambda: mine.start_logging(Name="guarded"),
                 lambda: mine.delete_trail(Name="guarded"), lambda: mine.describe_trails()):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == "AccessDeniedException"


def test_every_acknowledged_call_is_delivered_once_across_kill_9(server):
    ct = server.client("cloudtrail")
    ct.create_trail(Name="durable", S3BucketName=BUCKET)
    ct.start_logging(Name="durable")
    acknowledged: list[str] = []
    stop = threading.Event()

    def workload():
        sts = server.client("sts")
        while not stop.is_set():
            try:
                acknowledged.append(sts.get_caller_identity()["ResponseMetadata"]["RequestId"])
            except Exception:  # the node is down for a moment
                time.sleep(0.05)

    threads = [threading.Thread(target=workload) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    server.kill9()
    server.start()
    time.sleep(2.5)
    stop.set()
    for t in threads:
        t.join()
    ct = server.client("cloudtrail")

    def all_delivered():
        ids = [r["requestID"] for r in delivered(server) if r["eventName"] == "GetCallerIdentity"]
        return ids if set(acknowledged) <= set(ids) else None
    ids = wait_for(all_delivered, timeout=20, what="every acknowledged call's record")
    assert len(acknowledged) > 50
    assert len(ids) == len(set(ids)), "no record delivered twice"
    assert not [p for p in (server.data_dir / "buckets").rglob("*.partial")]
