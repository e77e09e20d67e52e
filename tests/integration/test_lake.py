"""CloudTrail Lake: event data stores with AWS's statuses, quota and errors, and SQL queries over
them (StartQuery, DescribeQuery, GetQueryResults, ListQueries, CancelQuery) answered from the
node's own audit records — the same answer from `rampart trail query` offline."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from rampart_testlib import (new_user, rampart_bin, result_cells as cells, run_lake_query as run_query, store_id,
                             uniq, wait_for)

DENIED_BY_CODE = """
    SELECT userIdentity.arn AS caller, eventName, errorCode, count(*) AS calls
    FROM {eds}
    WHERE errorCode IS NOT NULL AND eventTime > now() - interval '24' hour
    GROUP BY userIdentity.arn, eventName, errorCode
    ORDER BY calls DESC, eventName
"""


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def server(server_factory):
    return server_factory()


def test_event_data_store_lifecycle_follows_aws(server):
    ct = server.client("cloudtrail")
    name = uniq("eds")
    out = ct.create_event_data_store(Name=name, TagsList=[{"Key": "team", "Value": "sec"}])
    arn = out["EventDataStoreArn"]
    assert arn.startswith(f"arn:aws:cloudtrail:us-east-1:{server.account_id}:eventdatastore/")
    assert out["Status"] == "CREATED" and out["MultiRegionEnabled"] is True
    assert out["RetentionPeriod"] == 366 and out["TerminationProtectionEnabled"] is True
    assert out["BillingMode"] == "EXTENDABLE_RETENTION_PRICING"
    assert out["AdvancedEventSelectors"][0]["FieldSelectors"] == [{"Field": "eventCategory", "Equals": ["Management"]}]
    got = ct.get_event_data_store(EventDataStore=store_id(arn))
    assert got["Status"] == "ENABLED" and got["Name"] == name
    assert ct.get_event_data_store(EventDataStore=arn)["EventDataStoreArn"] == arn
    assert [s["EventDataStoreArn"] for s in ct.list_event_data_stores()["EventDataStores"]] == [arn]
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"] == [{"Key": "team", "Value": "sec"}]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "env", "Value": "prod"}])
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "team"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"] == [{"Key": "env", "Value": "prod"}]

    with pytest.raises(ClientError) as e:
        ct.create_event_data_store(Name=name)
    assert code_of(e) == "EventDataStoreAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        ct.create_event_data_store(Name=uniq("eds"), BillingMode="FIXED_RETENTION_PRICING", RetentionPeriod=3000)
    assert code_of(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ct.create_event_data_store(Name=uniq("eds"), OrganizationEnabled=True)
    assert code_of(e) == "OrganizationsNotInUseException"
    with pytest.raises(ClientError) as e:
        ct.create_event_data_store(Name=uniq("eds"), AdvancedEventSelectors=[
            {"FieldSelectors": [{"Field": "eventName", "Equals": ["CreateUser"]}]}])
    assert code_of(e) == "InvalidEventSelectorsException"
    with pytest.raises(ClientError) as e:
        ct.get_event_data_store(EventDataStore="00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "EventDataStoreNotFoundException"

    updated = ct.update_event_data_store(EventDataStore=arn, RetentionPeriod=90, Name=name + "-2")
    assert updated["RetentionPeriod"] == 90 and updated["Name"] == name + "-2"
    assert updated["UpdatedTimestamp"] >= updated["CreatedTimestamp"]

    ct.stop_event_data_store_ingestion(EventDataStore=arn)
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "STOPPED_INGESTION"
    with pytest.raises(ClientError) as e:
        ct.stop_event_data_store_ingestion(EventDataStore=arn)
    assert code_of(e) == "InvalidEventDataStoreStatusException"
    ct.start_event_data_store_ingestion(EventDataStore=arn)
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "ENABLED"

    with pytest.raises(ClientError) as e:
        ct.delete_event_data_store(EventDataStore=arn)
    assert code_of(e) == "EventDataStoreTerminationProtectedException"
    ct.update_event_data_store(EventDataStore=arn, TerminationProtectionEnabled=False)
    ct.delete_event_data_store(EventDataStore=arn)
    assert ct.get_event_data_store(EventDataStore=arn)["Status"] == "PENDING_DELETION"
    with pytest.raises(ClientError) as e:
        ct.start_query(QueryStatement=f"SELECT eventName FROM {store_id(arn)}")
    assert code_of(e) == "InactiveEventDataStoreException"
    with pytest.raises(ClientError) as e:
        ct.update_event_data_store(EventDataStore=arn, RetentionPeriod=30)
    assert code_of(e) == "InactiveEventDataStoreException"
    assert ct.restore_event_data_store(EventDataStore=arn)["Status"] == "ENABLED"
    with pytest.raises(ClientError) as e:
        ct.restore_event_data_store(EventDataStore=arn)
    assert code_of(e) == "InvalidEventDataStoreStatusException"

    # The store, its settings and its state survive a restart.
    server.restart()
    ct = server.client("cloudtrail")
    got = ct.get_event_data_store(EventDataStore=arn)
    assert (got["Status"], got["RetentionPeriod"], got["Name"]) == ("ENABLED", 90, name + "-2")


def test_ten_event_data_stores_per_region(server):
    ct = server.client("cloudtrail")
    for _ in range(10):
        ct.create_event_data_store(Name=uniq("eds"))
    with pytest.raises(ClientError) as e:
        ct.create_event_data_store(Name=uniq("eds"))
    assert code_of(e) == "EventDataStoreMaxLimitExceededException"
    listed = ct.list_event_data_stores(MaxResults=4)
    assert len(listed["EventDataStores"]) == 4 and "NextToken" in listed
    rest = ct.list_event_data_stores(NextToken=listed["NextToken"], MaxResults=10)["EventDataStores"]
    assert len(rest) == 6


def test_who_denied_whom_by_error_code_is_one_query(server):
    ct = server.client("cloudtrail")
    iam = server.client("iam")
    iam.create_user(UserName="before-the-store")
    eds = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    mallory = new_user(server, "mallory")
    as_mallory = server.client("iam", creds=mallory["creds"])
    for _ in range(3):
        with pytest.raises(ClientError):
            as_mallory.list_users()
    with pytest.raises(ClientError):
        as_mallory.create_user(UserName="backdoor")
    with pytest.raises(ClientError):
        iam.get_user(UserName="nobody-" + uniq())

    described, rows = run_query(ct, DENIED_BY_CODE.format(eds=store_id(eds)))
    assert described["QueryStatus"] == "FINISHED", described
    stats = described["QueryStatistics"]
    assert stats["EventsScanned"] >= stats["EventsMatched"] >= 5 and stats["BytesScanned"] > 0
    table = cells(rows)
    assert table[0] == [mallory["arn"], "ListUsers", "AccessDenied", "3"], table
    assert [mallory["arn"], "CreateUser", "AccessDenied", "1"] in table
    assert [server.root_arn, "GetUser", "NoSuchEntity", "1"] in table
    assert [list(c)[0] for c in rows[0]] == ["caller", "eventName", "errorCode", "calls"]

    # Who did what, when and from where: the store holds what was recorded after it was made.
    _, rows = run_query(ct, f"SELECT eventTime, sourceIPAddress, userAgent, requestParameters['userName'] AS who "
                            f"FROM {eds} WHERE eventName = 'CreateUser' ORDER BY eventTime")
    table = cells(rows)
    assert [r[3] for r in table] == [mallory["name"], "backdoor"]
    assert all(r[1] == "127.0.0.1" and r[2] and r[0][:4].isdigit() for r in table)

    # The offline command answers the same.
    done = subprocess.run([str(rampart_bin()), "trail", "query", "--data", str(server.data_dir), "--json",
                           DENIED_BY_CODE.format(eds=eds)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    offline = [json.loads(line) for line in done.stdout.splitlines()]
    assert offline[0] == {"caller": mallory["arn"], "eventName": "ListUsers", "errorCode": "AccessDenied", "calls": "3"}
    assert len(offline) == len(cells(run_query(ct, DENIED_BY_CODE.format(eds=eds))[1]))


def test_query_errors_and_states(server):
    ct = server.client("cloudtrail")
    eds = store_id(ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"])
    for bad in ["DELETE FROM " + eds, f"SELECT * FROM {eds} JOIN x ON 1 = 1", f"SELECT nosuch(1) FROM {eds}",
                f"SELECT eventName, count(*) FROM {eds}", "SELECT 1 FROM", f"SELECT '{eds}"]:
        with pytest.raises(ClientError) as e:
            ct.start_query(QueryStatement=bad)
        assert code_of(e) == "InvalidQueryStatementException", bad
    with pytest.raises(ClientError) as e:
        ct.start_query(QueryStatement="SELECT eventName FROM 00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "EventDataStoreNotFoundException"

    described, _ = run_query(ct, f"SELECT 1 / 0 FROM {eds}")
    assert described["QueryStatus"] == "FAILED" and described["ErrorMessage"] == "Division by zero"
    qid = ct.start_query(QueryStatement=f"SELECT eventName FROM {eds} WHERE eventName = ?",
                         QueryParameters=["CreateEventDataStore"])["QueryId"]
    wait_for(lambda: ct.describe_query(QueryId=qid)["QueryStatus"] == "FINISHED", what="the query")
    page = ct.get_query_results(QueryId=qid, EventDataStore=eds)
    assert cells(page["QueryResultRows"]) == [["CreateEventDataStore"]]
    assert page["QueryStatistics"]["TotalResultsCount"] == 1
    with pytest.raises(ClientError) as e:
        ct.cancel_query(QueryId=qid)
    assert code_of(e) == "InactiveQueryException"
    with pytest.raises(ClientError) as e:
        ct.describe_query(QueryId="00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "QueryIdNotFoundException"
    with pytest.raises(ClientError) as e:
        ct.get_query_results(QueryId=qid, NextToken="not-a-token")
    assert code_of(e) == "InvalidNextTokenException"
    listed = ct.list_queries(EventDataStore=eds)["Queries"]
    assert qid in [q["QueryId"] for q in listed]
    assert [q["QueryId"] for q in ct.list_queries(EventDataStore=eds, QueryStatus="FAILED")["Queries"]] != [qid]

    # Results page by MaxQueryResults; NULL cells are empty maps.
    for n in range(5):
        ct.add_tags(ResourceId=ct.get_event_data_store(EventDataStore=eds)["EventDataStoreArn"],
                    TagsList=[{"Key": f"k{n}", "Value": "v"}])
    qid = ct.start_query(QueryStatement=f"SELECT eventName, errorCode FROM {eds} WHERE eventName = 'AddTags'")["QueryId"]
    wait_for(lambda: ct.describe_query(QueryId=qid)["QueryStatus"] == "FINISHED", what="the query")
    first = ct.get_query_results(QueryId=qid, MaxQueryResults=2)
    assert len(first["QueryResultRows"]) == 2 and first["QueryResultRows"][0] == [{"eventName": "AddTags"}, {}]
    second = ct.get_query_results(QueryId=qid, MaxQueryResults=10, NextToken=first["NextToken"])
    assert len(second["QueryResultRows"]) == 3 and "NextToken" not in second


def test_a_store_holds_what_it_selects_while_it_ingests(server):
    ct = server.client("cloudtrail")
    iam = server.client("iam")
    writes = ct.create_event_data_store(Name=uniq("eds"), AdvancedEventSelectors=[{
        "Name": "writes", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                             {"Field": "readOnly", "Equals": ["false"]}]}])["EventDataStoreArn"]
    iam.create_user(UserName="while-ingesting")
    iam.list_users()
    ct.stop_event_data_store_ingestion(EventDataStore=writes)
    iam.create_user(UserName="while-stopped")
    ct.start_event_data_store_ingestion(EventDataStore=writes)
    iam.create_user(UserName="after-resuming")
    _, rows = run_query(ct, f"SELECT eventName, readOnly, element_at(requestParameters, 'userName') FROM {writes}")
    table = cells(rows)
    assert not [r for r in table if r[1] != "false"], "read-only calls are not selected"
    users = {r[2] for r in table if r[0] == "CreateUser"}
    assert users == {"while-ingesting", "after-resuming"}, table


def test_queries_are_authorized_on_the_store_they_read(server):
    ct = server.client("cloudtrail")
    mine = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    other = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    analyst = new_user(server, "analyst")
    server.client("iam").put_user_policy(UserName=analyst["name"], PolicyName="lake", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["cloudtrail:StartQuery", "cloudtrail:DescribeQuery",
                                                     "cloudtrail:GetQueryResults", "cloudtrail:CancelQuery"],
                       "Resource": mine}]}))
    as_analyst = server.client("cloudtrail", creds=analyst["creds"])

    def allowed():
        try:
            return as_analyst.start_query(QueryStatement=f"SELECT count(*) FROM {store_id(mine)}")["QueryId"]
        except ClientError:
            return None
    qid = wait_for(allowed, what="the analyst's policy")
    wait_for(lambda: as_analyst.describe_query(QueryId=qid)["QueryStatus"] == "FINISHED", what="the query")
    for spelling in [store_id(other), other, f'"{other}"', f"{store_id(other)} AS t"]:
        with pytest.raises(ClientError) as e:
            as_analyst.start_query(QueryStatement=f"SELECT eventName FROM {spelling}")
        assert code_of(e) == "AccessDeniedException", spelling
    # A query on the other store is not readable by naming the allowed store beside its id.
    theirs = ct.start_query(QueryStatement=f"SELECT eventName FROM {store_id(other)}")["QueryId"]
    wait_for(lambda: ct.describe_query(QueryId=theirs)["QueryStatus"] == "FINISHED", what="the query")
    for call in (lambda: as_analyst.get_query_results(QueryId=theirs),
                 lambda: as_analyst.get_query_results(QueryId=theirs, EventDataStore=mine),
                 lambda: as_analyst.describe_query(QueryId=theirs, EventDataStore=mine)):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) in ("AccessDeniedException", "QueryIdNotFoundException")
    with pytest.raises(ClientError) as e:
        as_analyst.list_queries(EventDataStore=mine)
    assert code_of(e) == "AccessDeniedException"


def test_cancel_a_running_query(server):
    ct = server.client("cloudtrail")
    eds = store_id(ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"])
    qid = ct.start_query(QueryStatement=f"SELECT eventName FROM {eds}")["QueryId"]
    try:
        out = ct.cancel_query(QueryId=qid)
        assert out["QueryStatus"] == "CANCELLED"
        time.sleep(0.5)
        assert ct.describe_query(QueryId=qid)["QueryStatus"] == "CANCELLED"
        assert "QueryResultRows" not in ct.get_query_results(QueryId=qid)
    except ClientError as e:
        # The query finished first: it cannot be cancelled then.
        assert e.response["Error"]["Code"] == "InactiveQueryException"
        assert ct.describe_query(QueryId=qid)["QueryStatus"] == "FINISHED"


def test_a_store_resource_policy_grants_and_denies(server):
    ct = server.client("cloudtrail")
    arn = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    analyst = new_user(server, "analyst")
    as_analyst = server.client("cloudtrail", creds=analyst["creds"])
    statement = f"SELECT count(*) FROM {store_id(arn)}"
    with pytest.raises(ClientError) as e:
        as_analyst.start_query(QueryStatement=statement)
    assert code_of(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        ct.get_resource_policy(ResourceArn=arn)
    assert code_of(e) == "ResourcePolicyNotFoundException"

    grant = {"Version": "2012-10-17", "Statement": [{
        "Sid": "analysts", "Effect": "Allow", "Principal": {"AWS": analyst["arn"]},
        "Action": ["cloudtrail:StartQuery", "cloudtrail:DescribeQuery", "cloudtrail:GetQueryResults"],
        "Resource": arn}]}
    out = ct.put_resource_policy(ResourceArn=arn, ResourcePolicy=json.dumps(grant))
    assert out["ResourceArn"] == arn and json.loads(out["ResourcePolicy"]) == grant
    assert json.loads(ct.get_resource_policy(ResourceArn=arn)["ResourcePolicy"]) == grant
    qid = as_analyst.start_query(QueryStatement=statement)["QueryId"]
    wait_for(lambda: as_analyst.describe_query(QueryId=qid)["QueryStatus"] == "FINISHED", what="the query")
    assert cells(as_analyst.get_query_results(QueryId=qid)["QueryResultRows"])[0][0].isdigit()
    with pytest.raises(ClientError) as e:
        as_analyst.get_event_data_store(EventDataStore=arn)
    assert code_of(e) == "AccessDeniedException", "the policy grants the query actions only"

    # A Deny in the store's policy overrides an identity policy's Allow; the policy survives a restart.
    server.client("iam").put_user_policy(UserName=analyst["name"], PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"}]}))
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"AWS": analyst["arn"]}, "Action": "cloudtrail:StartQuery", "Resource": arn}]}
    ct.put_resource_policy(ResourceArn=arn, ResourcePolicy=json.dumps(deny))
    server.restart()
    as_analyst = server.client("cloudtrail", creds=analyst["creds"])
    with pytest.raises(ClientError) as e:
        as_analyst.start_query(QueryStatement=statement)
    assert code_of(e) == "AccessDeniedException"
    assert as_analyst.get_event_data_store(EventDataStore=arn)["EventDataStoreArn"] == arn
    ct = server.client("cloudtrail")
    ct.delete_resource_policy(ResourceArn=arn)
    as_analyst.start_query(QueryStatement=statement)
    with pytest.raises(ClientError) as e:
        ct.delete_resource_policy(ResourceArn=arn)
    assert code_of(e) == "ResourcePolicyNotFoundException"

    for policy, code in [("{not json", "ResourcePolicyNotValidException"),
                         (json.dumps({"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Action": "cloudtrail:StartQuery", "Resource": arn}]}),
                          "ResourcePolicyNotValidException")]:
        with pytest.raises(ClientError) as e:
            ct.put_resource_policy(ResourceArn=arn, ResourcePolicy=policy)
        assert code_of(e) == code
    channel = arn.replace("eventdatastore/", "channel/")
    for resource, code in [(channel, "ResourceTypeNotSupportedException"),
                           (arn[:-4] + "0000", "ResourceNotFoundException"),
                           ("not-an-arn", "ResourceARNNotValidException")]:
        with pytest.raises(ClientError) as e:
            ct.get_resource_policy(ResourceArn=resource)
        assert code_of(e) == code, resource
