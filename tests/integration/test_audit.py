"""Audit: every request (allowed, denied, failed authentication, failed validation, unknown
operation) leaves a CloudTrail-schema record that cloudtrail:LookupEvents returns.

Records of read-only calls are written asynchronously, so lookups poll (AUDIT_WAIT). Tests find
their own records by unique names or by a unique token in the User-Agent (recorded as userAgent).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest

from rampart_testlib import (
    new_user,
    FORM_CONTENT_TYPE,
    Creds,
    attr,
    lookup_all,
    presigned_get,
    raises_aws,
    record,
    send_signed,
    ua_marker,
    uniq,
    wait_for_events,
)

EVENT_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def ct(rampart):
    return rampart.client("cloudtrail")


@pytest.fixture(scope="module")
def alice(rampart):
    return new_user(rampart, "alice")


def since(seconds: float = 60) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)


def by_marker(marker: str):
    return lambda e, r: marker in (r.get("userAgent") or "")


def _recent(iso: str) -> bool:
    t = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    return abs((dt.datetime.now(dt.timezone.utc) - t).total_seconds()) < 300


# ---------------------------------------------------------------- record contents

def test_root_create_user_record(rampart, ct):
    marker = ua_marker()
    iam = rampart.client("iam", user_agent_extra=marker)
    name = uniq("audited")
    resp = iam.create_user(UserName=name)
    user = resp["User"]

    [ev] = wait_for_events(
        ct, lambda e, r: (r.get("requestParameters") or {}).get("userName") == name,
        LookupAttributes=attr("EventName", "CreateUser"))
    rec = record(ev)

    # LookupEvents' own view
    assert ev["EventName"] == "CreateUser"
    assert ev["EventSource"] == "iam.amazonaws.com"
    assert ev["Username"] == "root"
    assert ev["AccessKeyId"] == rampart.creds.access_key_id
    assert ev["ReadOnly"] == "false"
    assert ev["EventId"] == rec["eventID"]

    # the CloudTrail record
    assert rec["eventVersion"].startswith("1.")
    ui = rec["userIdentity"]
    assert ui["type"] == "Root"
    assert ui["principalId"] == rampart.account_id
    assert ui["arn"] == rampart.root_arn
    assert ui["accountId"] == rampart.account_id
    assert ui["accessKeyId"] == rampart.creds.access_key_id
    assert EVENT_TIME_RE.match(rec["eventTime"]) and _recent(rec["eventTime"]), rec["eventTime"]
    assert rec["eventSource"] == "iam.amazonaws.com"
    assert rec["eventName"] == "CreateUser"
    assert rec["awsRegion"] == "us-east-1"
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert marker in rec["userAgent"]
    assert "errorCode" not in rec and "errorMessage" not in rec
    assert rec["requestParameters"]["userName"] == name
    ru = rec["responseElements"]["user"]
    assert ru["userName"] == name and ru["userId"] == user["UserId"] and ru["arn"] == user["Arn"]
    assert rec["requestID"] == resp["ResponseMetadata"]["RequestId"]
    assert UUID_RE.match(rec["eventID"]), rec["eventID"]
    assert rec["readOnly"] is False
    assert rec["eventType"] == "AwsApiCall"
    assert rec["managementEvent"] is True
    assert rec["recipientAccountId"] == rampart.account_id
    assert "tlsDetails" not in rec, "tlsDetails only for calls made over TLS"


def test_mutation_record_visible_when_call_returns(rampart, ct):
    # a mutation and its audit record commit together: no polling here
    name = uniq("sync")
    rampart.client("iam").create_user(UserName=name)
    events = lookup_all(ct, LookupAttributes=attr("EventName", "CreateUser"), StartTime=since())
    assert any((record(e).get("requestParameters") or {}).get("userName") == name for e in events)


def test_denied_call_record(rampart, ct, alice):
    marker = ua_marker()
    with raises_aws("AccessDenied", 403) as denied:
        rampart.client("iam", alice["creds"], user_agent_extra=marker).list_users()

    [ev] = wait_for_events(ct, by_marker(marker), LookupAttributes=attr("Username", alice["name"]))
    rec = record(ev)
    assert ev["EventName"] == "ListUsers"
    assert ev["Username"] == alice["name"]
    assert ev["AccessKeyId"] == alice["key"]
    assert ev["ReadOnly"] == "true"
    assert rec["errorCode"] == "AccessDenied"
    assert rec["errorMessage"] == denied.message
    ui = rec["userIdentity"]
    assert ui["type"] == "IAMUser"
    assert ui["arn"] == alice["arn"]
    assert ui["principalId"] == alice["id"]
    assert ui["accountId"] == rampart.account_id
    assert ui["accessKeyId"] == alice["key"]
    assert ui["userName"] == alice["name"]
    assert rec["eventSource"] == "iam.amazonaws.com"
    assert rec.get("responseElements") is None
    assert rec["readOnly"] is True


def test_allowed_user_call_record(rampart, ct, alice):
    marker = ua_marker()
    resp = rampart.client("sts", alice["creds"], user_agent_extra=marker).get_caller_identity()
    [ev] = wait_for_events(ct, by_marker(marker), LookupAttributes=attr("EventName", "GetCallerIdentity"))
    rec = record(ev)
    assert ev["EventSource"] == "sts.amazonaws.com"
    assert ev["Username"] == alice["name"]
    assert ev["ReadOnly"] == "true"
    assert rec["userIdentity"]["type"] == "IAMUser"
    assert rec["userIdentity"]["arn"] == alice["arn"]
    assert "errorCode" not in rec
    assert rec["requestID"] == resp["ResponseMetadata"]["RequestId"]
    assert rec["readOnly"] is True


def test_failed_signature_record(rampart, ct, alice):
    marker = ua_marker()
    wrong = Creds(alice["key"], "Z" * 40)
    with raises_aws("SignatureDoesNotMatch", 403):
        rampart.client("sts", wrong, user_agent_extra=marker).get_caller_identity()
    [ev] = wait_for_events(ct, by_marker(marker), StartTime=since())
    rec = record(ev)
    assert rec["errorCode"] == "SignatureDoesNotMatch"
    assert rec["eventSource"] == "sts.amazonaws.com"
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert "Z" * 40 not in ev["CloudTrailEvent"]
    # decode precedes authenticate in the pipeline: the operation is known even when the
    # signature is not
    assert rec["eventName"] == "GetCallerIdentity"


def lz4_block_decompress(src: bytes, size: int) -> bytes:
    """An LZ4 block (the format lz4_flex writes), decoded: literal runs and
    back-references, each sequence led by a token of two 4-bit lengths."""
    out = bytearray()
    i = 0

    def length(n):
        nonlocal i
        if n == 15:
            while True:
                b = src[i]
                i += 1
                n += b
                if b != 255:
                    break
        return n

    while i < len(src):
        token = src[i]
        i += 1
        literals = length(token >> 4)
        out += src[i:i + literals]
        i += literals
        if i >= len(src):
            break
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        match = length(token & 15) + 4
        for _ in range(match):  # byte by byte: a match may overlap its own output
            out.append(out[-offset])
    assert len(out) == size, "damaged compressed batch"
    return bytes(out)


def decode_event_batch(blob: bytes) -> list[dict]:
    """The store's batch format (crates/store/src/batch.rs): `RLZ2` (or the
    older `RLZ4`, whose events have no region field), the u32-LE size and an
    LZ4 block of: per event, u32-LE length-prefixed fields (NONE = 0xffffffff
    for absent optional ones)."""
    import struct

    with_region = blob.startswith(b"RLZ2")
    if with_region or blob.startswith(b"RLZ4"):
        (size,) = struct.unpack("<I", blob[4:8])
        blob = lz4_block_decompress(blob[8:], size)
    pos = 0

    def take(n):
        nonlocal pos
        chunk = blob[pos:pos + n]
        assert len(chunk) == n, "truncated batch"
        pos += n
        return chunk

    def string(optional=False):
        (n,) = struct.unpack("<I", take(4))
        if optional and n == 0xFFFFFFFF:
            return None
        return take(n).decode()

    events = []
    while pos < len(blob):
        account = string()
        take(8)  # event time
        string(); string(); string()  # event id, name, source
        if with_region:
            string()  # region
        string(True); string(True)  # username, access key id
        take(1)  # read only
        (count,) = struct.unpack("<I", take(4))
        for _ in range(count):
            string(); string()
        events.append({"account": account, "record": json.loads(string())})
    return events


def unattributed_records(rampart, marker: str) -> list[dict]:
    """Records the node keeps for requests no account can be named for.

    AWS delivers no event for an unknown key or an unsigned request to any
    account's trail, and neither does Rampart's LookupEvents; the node still
    records them, under no account, for its operators (apart, in a table
    whose rows expire). Read them from the store.
    """
    import sqlite3
    import time

    deadline = time.time() + 5
    while True:
        con = sqlite3.connect(f"file:{rampart.data_dir / 'rampart.db'}?mode=ro", uri=True)
        try:
            blobs = [r[0] for r in con.execute("SELECT events FROM unattributed_events")]
        finally:
            con.close()
        found = [
            e["record"]
            for blob in blobs
            for e in decode_event_batch(blob)
            if e["account"] == "" and marker in json.dumps(e["record"])
        ]
        if found or time.time() > deadline:
            return found
        time.sleep(0.1)


def test_unknown_key_record(rampart, ct):
    marker = ua_marker()
    bogus = Creds("AKIA" + "X" * 16, "Y" * 40)
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("iam", bogus, user_agent_extra=marker).list_users()
    visible = [e for e in lookup_all(ct, StartTime=since()) if marker in e["CloudTrailEvent"]]
    assert not visible, "an unattributable request must not appear in an account's events"
    [rec] = unattributed_records(rampart, marker)
    assert rec["errorCode"] == "InvalidClientTokenId"
    assert rec["eventSource"] == "iam.amazonaws.com"
    assert rec["eventName"] == "ListUsers"
    assert rec["userIdentity"]["accessKeyId"] == bogus.access_key_id
    assert "Y" * 40 not in json.dumps(rec)


def test_unsigned_request_record(rampart, ct):
    marker = ua_marker()
    with raises_aws("MissingAuthenticationToken", 403):
        rampart.unsigned_client("sts", user_agent_extra=marker).get_caller_identity()
    [rec] = unattributed_records(rampart, marker)
    assert rec["errorCode"] == "MissingAuthenticationToken"
    assert rec["eventName"] == "GetCallerIdentity"


def test_validation_failure_record(rampart, ct):
    marker = ua_marker()
    loose = rampart.client("iam", parameter_validation=False, user_agent_extra=marker)
    with raises_aws("ValidationError", 400):
        loose.create_user(UserName="no spaces allowed")
    [ev] = wait_for_events(ct, by_marker(marker), StartTime=since())
    rec = record(ev)
    assert rec["errorCode"] == "ValidationError"
    assert rec["eventName"] == "CreateUser"
    assert rec["userIdentity"]["type"] == "Root"


def test_unknown_operation_record(rampart, ct):
    marker = ua_marker()
    r = send_signed("POST", rampart.url("/"), "iam", rampart.creds,
                    data="Action=FrobnicateWidgets&Version=2010-05-08",
                    headers={"Content-Type": FORM_CONTENT_TYPE, "User-Agent": marker})
    assert r.status_code == 400
    [ev] = wait_for_events(ct, by_marker(marker), StartTime=since())
    rec = record(ev)
    assert rec["errorCode"] == "InvalidAction"
    assert rec["eventSource"] == "iam.amazonaws.com"


def test_lookup_events_is_itself_audited(rampart, ct):
    marker = ua_marker()
    rampart.client("cloudtrail", user_agent_extra=marker).lookup_events(MaxResults=1)
    [ev] = wait_for_events(ct, by_marker(marker), LookupAttributes=attr("EventSource", "cloudtrail.amazonaws.com"))
    assert ev["EventName"] == "LookupEvents"
    assert ev["ReadOnly"] == "true"


def test_create_access_key_record_has_no_secret(rampart, ct):
    iam = rampart.client("iam")
    name = uniq("keyrec")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    [ev] = wait_for_events(
        ct, lambda e, r: (r.get("requestParameters") or {}).get("userName") == name,
        LookupAttributes=attr("EventName", "CreateAccessKey"))
    rec = record(ev)
    ak = rec["responseElements"]["accessKey"]
    assert ak["accessKeyId"] == k["AccessKeyId"]
    assert ak["userName"] == name
    assert ak["status"] == "Active"
    assert "secretAccessKey" not in ak
    assert k["SecretAccessKey"] not in ev["CloudTrailEvent"]


def test_records_are_consistent(rampart, ct, alice):
    rampart.client("sts", alice["creds"]).get_caller_identity()
    events = lookup_all(ct)
    assert events, "no audit events at all"
    for ev in events:
        rec = record(ev)
        for f in ("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
                  "sourceIPAddress", "eventID", "eventType"):
            assert f in rec, f"{f} missing in {rec}"
        assert ev["EventId"] == rec["eventID"]
        assert ev["EventName"] == rec["eventName"]
        assert ev["EventSource"] == rec["eventSource"]
        if "readOnly" in rec:
            assert isinstance(rec["readOnly"], bool), rec["readOnly"]
            assert ev["ReadOnly"] == ("true" if rec["readOnly"] else "false")
        assert EVENT_TIME_RE.match(rec["eventTime"]), rec["eventTime"]
    ids = [e["EventId"] for e in events]
    assert len(ids) == len(set(ids)), "duplicate event ids"


# ---------------------------------------------------------------- secrets

def test_secrets_never_recorded_or_logged(rampart, ct, alice):
    # use the key in every way: allowed, denied, presigned
    rampart.client("sts", alice["creds"]).get_caller_identity()
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", alice["creds"]).list_users()
    import requests

    marker = ua_marker()
    url = presigned_get(rampart.client("sts", alice["creds"]), "get_caller_identity", expires=300)
    assert requests.get(url, headers={"User-Agent": marker}, timeout=30).status_code == 200
    # the presigned call is the last one; once its record is visible the others are too
    wait_for_events(ct, by_marker(marker), LookupAttributes=attr("Username", alice["name"]))

    everything = json.dumps(lookup_all(ct), default=str)
    for secret in (alice["secret"], rampart.creds.secret_access_key):
        assert secret not in everything, "a secret access key appears in an audit record"
        assert secret not in rampart.log_text(), "a secret access key appears in the server log"


# ---------------------------------------------------------------- LookupAttributes

@pytest.fixture(scope="module")
def traffic(rampart, alice, ct):
    """Some known traffic: alice reads (allowed + denied), root writes."""
    rampart.client("sts", alice["creds"]).get_caller_identity()
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", alice["creds"]).list_users()
    names = [uniq("traffic") for _ in range(3)]
    for n in names:
        rampart.client("iam").create_user(UserName=n)
    wait_for_events(ct, lambda e, r: True, LookupAttributes=attr("Username", alice["name"]), min_count=2)
    return names


def test_filter_event_name(ct, traffic):
    events = lookup_all(ct, LookupAttributes=attr("EventName", "CreateUser"))
    assert all(e["EventName"] == "CreateUser" for e in events)
    got = {(record(e).get("requestParameters") or {}).get("userName") for e in events}
    assert set(traffic) <= got


def test_filter_username(ct, alice, traffic):
    events = lookup_all(ct, LookupAttributes=attr("Username", alice["name"]))
    assert events and all(e["Username"] == alice["name"] for e in events)
    assert {"GetCallerIdentity", "ListUsers"} <= {e["EventName"] for e in events}


def test_filter_username_root(ct, traffic):
    events = lookup_all(ct, LookupAttributes=attr("Username", "root"))
    assert events and all(e["Username"] == "root" for e in events)
    assert all(record(e)["userIdentity"]["type"] == "Root" for e in events)


def test_filter_access_key_id(ct, alice, traffic):
    events = lookup_all(ct, LookupAttributes=attr("AccessKeyId", alice["key"]))
    assert events and all(e["AccessKeyId"] == alice["key"] for e in events)
    assert all(record(e)["userIdentity"]["accessKeyId"] == alice["key"] for e in events)


def test_filter_event_source(ct, traffic):
    sts_events = lookup_all(ct, LookupAttributes=attr("EventSource", "sts.amazonaws.com"))
    assert sts_events and all(e["EventSource"] == "sts.amazonaws.com" for e in sts_events)
    iam_events = lookup_all(ct, LookupAttributes=attr("EventSource", "iam.amazonaws.com"))
    assert iam_events and all(e["EventSource"] == "iam.amazonaws.com" for e in iam_events)
    assert not {e["EventId"] for e in sts_events} & {e["EventId"] for e in iam_events}


def test_filter_read_only(ct, traffic):
    ro = lookup_all(ct, LookupAttributes=attr("ReadOnly", "true"))
    rw = lookup_all(ct, LookupAttributes=attr("ReadOnly", "false"))
    assert ro and all(e["ReadOnly"] == "true" for e in ro)
    assert rw and all(e["ReadOnly"] == "false" for e in rw)
    assert "CreateUser" in {e["EventName"] for e in rw}
    assert "CreateUser" not in {e["EventName"] for e in ro}
    assert "GetCallerIdentity" in {e["EventName"] for e in ro}


def test_filter_event_id(ct, traffic):
    some = lookup_all(ct, LookupAttributes=attr("EventName", "CreateUser"))[0]
    got = lookup_all(ct, LookupAttributes=attr("EventId", some["EventId"]))
    assert [e["EventId"] for e in got] == [some["EventId"]]
    assert lookup_all(ct, LookupAttributes=attr("EventId", str(uuid.uuid4()))) == []


def test_filter_no_match(ct, traffic):
    assert lookup_all(ct, LookupAttributes=attr("Username", uniq("nobody"))) == []


def test_more_than_one_lookup_attribute(ct):
    with raises_aws("InvalidLookupAttributesException", 400):
        ct.lookup_events(LookupAttributes=attr("EventName", "CreateUser") + attr("Username", "root"))


def test_unknown_lookup_attribute_key(rampart):
    loose = rampart.client("cloudtrail", parameter_validation=False)
    with raises_aws({"InvalidLookupAttributesException", "ValidationException"}, 400):
        loose.lookup_events(LookupAttributes=attr("Colour", "blue"))


# ---------------------------------------------------------------- time range and pagination

def test_time_window(rampart, ct):
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    name = uniq("window")
    rampart.client("iam").create_user(UserName=name)
    t1 = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)

    def mine(events):
        return [e for e in events if (record(e).get("requestParameters") or {}).get("userName") == name]

    inside = lookup_all(ct, LookupAttributes=attr("EventName", "CreateUser"), StartTime=t0, EndTime=t1)
    assert len(mine(inside)) == 1
    for e in inside:
        assert t0 - dt.timedelta(seconds=1) <= e["EventTime"] <= t1 + dt.timedelta(seconds=1)
    before = lookup_all(ct, LookupAttributes=attr("EventName", "CreateUser"),
                        StartTime=t0 - dt.timedelta(hours=2), EndTime=t0 - dt.timedelta(hours=1))
    assert mine(before) == []


def test_start_after_end(ct):
    now = dt.datetime.now(dt.timezone.utc)
    with raises_aws("InvalidTimeRangeException", 400):
        ct.lookup_events(StartTime=now, EndTime=now - dt.timedelta(hours=1))


def test_pagination(rampart, ct):
    path_names = [uniq("pager") for _ in range(7)]
    iam = rampart.client("iam")
    for n in path_names:
        iam.create_user(UserName=n)
    wanted = set(path_names)

    pages, seen, token = 0, [], None
    while True:
        kw = {"LookupAttributes": attr("EventName", "CreateUser"), "MaxResults": 3}
        if token:
            kw["NextToken"] = token
        page = ct.lookup_events(**kw)
        pages += 1
        assert len(page["Events"]) <= 3
        seen += page["Events"]
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 200
    ids = [e["EventId"] for e in seen]
    assert len(ids) == len(set(ids)), "an event was returned twice across pages"
    names = {(record(e).get("requestParameters") or {}).get("userName") for e in seen}
    assert wanted <= names
    assert pages >= 3
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True), "LookupEvents returns the most recent first"


def test_max_results_one(ct):
    page = ct.lookup_events(MaxResults=1)
    assert len(page["Events"]) == 1
    assert page.get("NextToken")


def test_invalid_next_token(ct):
    with raises_aws("InvalidNextTokenException", 400):
        ct.lookup_events(NextToken="this-is-not-a-token")


@pytest.mark.parametrize("n", [0, 51])
def test_max_results_out_of_range(rampart, n):
    loose = rampart.client("cloudtrail", parameter_validation=False)
    with raises_aws({"InvalidMaxResultsException", "ValidationException"}, 400):
        loose.lookup_events(MaxResults=n)
