"""Attacks on CloudTrail Lake: event data stores, StartQuery's authorization by the statement's FROM
clause, reading other stores' results, events a store never ingested, secrets in records, and
statements built to crash, hang or exhaust the node (parser and evaluator overflows, deep trees,
string blow-ups, CPU-bound rows, the concurrency quota) — online and with `rampart trail query`.
A test for a defect asserts the correct (secure, AWS-like) behaviour and fails until it is fixed."""

from __future__ import annotations

import json
import resource
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from rampart_testlib import (new_user, rampart_bin, result_cells as cells, run_lake_query as run_query, store_id,
                             uniq, wait_for)

FINAL = ("FINISHED", "FAILED", "CANCELLED", "TIMED_OUT")


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def settle(ct, qid: str, timeout: float = 20.0) -> dict:
    """DescribeQuery once the query has ended (fails the test if it has not within `timeout`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = ct.describe_query(QueryId=qid)
        if d["QueryStatus"] in FINAL:
            return d
        time.sleep(0.2)
    pytest.fail(f"query {qid} still {d['QueryStatus']} after {timeout}s: {d.get('QueryString', '')[:200]}")


def alive(server) -> None:
    """The node still runs, answers, and has not panicked or aborted."""
    assert server.is_running(), f"rampart died (exit {server.proc.returncode}):\n{server.log_tail(40)}"
    assert server.health() == 200
    log = server.log_text()
    for sign in ("panicked", "overflowed its stack", "memory allocation of"):
        assert sign not in log, server.log_tail(60)


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def blown_up(levels: int) -> str:
    """An expression whose value is 10 ** (levels + 1) 'a's, from a statement of ~30 chars a level."""
    expr = "'aaaaaaaaaa'"
    for _ in range(levels):
        expr = f"replace({expr}, 'a', 'aaaaaaaaaa')"
    return expr


def endless(eds: str) -> str:
    """One row whose LIKE costs ~10^10 steps (a minute of CPU), within the 1 MiB a value may
    hold: a query that stays RUNNING."""
    return f"SELECT {blown_up(5)} LIKE '%' || {blown_up(3)} || 'b' FROM {eds} LIMIT 1"


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def eds(server):
    ct = server.client("cloudtrail")
    return ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]


# --------------------------------------------------------------------------
# statements that panic the parser, the evaluator or the runtime
# --------------------------------------------------------------------------

PARSE_PANICS = [
    # parse_timestamp: only `hour > 23` is checked, a huge negative hour/minute/second overflows
    "SELECT TIMESTAMP '2024-01-01 -9223372036854775808:00:00' FROM {eds}",
    "SELECT TIMESTAMP '2024-01-01 00:-9223372036854775808' FROM {eds}",
    "SELECT TIMESTAMP '2024-01-01 00:00:-9223372036854775808' FROM {eds}",
    # interval(): `-ms` of i64::MIN
    "SELECT INTERVAL - '-9223372036854775808' millisecond FROM {eds}",
]
PARSE_IDS = ["timestamp-hour", "timestamp-minute", "timestamp-second", "interval-negate"]


@pytest.mark.parametrize("statement", PARSE_PANICS, ids=PARSE_IDS)
def test_statements_that_overflow_the_parser_are_refused_not_a_dropped_connection(server, eds, statement):
    """Integer overflow while parsing literals (overflow-checks are on) panics inside access() /
    the StartQuery handler: the client sees its connection closed. It must be an
    InvalidQueryStatementException (or a FAILED query), and the node must not panic."""
    ct = server.client("cloudtrail")
    try:
        qid = ct.start_query(QueryStatement=statement.format(eds=store_id(eds)))["QueryId"]
        assert settle(ct, qid)["QueryStatus"] == "FAILED"
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidQueryStatementException"
    alive(server)


EVAL_PANICS = [
    # Negate of Interval(i64::MIN): `-ms` unchecked (eval.rs, Expr::Negate)
    "SELECT -(INTERVAL '-9223372036854775807' millisecond - INTERVAL '1' millisecond) FROM {eds} LIMIT 1",
    # date_diff: `time(&b)? - time(&a)?` unchecked
    "SELECT date_diff('millisecond', TIMESTAMP '1970-01-01' - INTERVAL '9223372036854775807' millisecond, "
    "TIMESTAMP '1970-01-01' + INTERVAL '9223372036854775807' millisecond) FROM {eds} LIMIT 1",
    # Execution::push: `2 * limit + 1024` overflows for a huge LIMIT with ORDER BY
    "SELECT eventName FROM {eds} ORDER BY eventName LIMIT 18446744073709551615",
    # a string compared with eventTime goes through parse_timestamp at run time (time_range / compare)
    "SELECT eventName FROM {eds} WHERE eventTime > '2024-01-01 00:00:-9223372036854775807'",
]
EVAL_IDS = ["negate-interval", "date_diff", "order-by-huge-limit", "eventTime-vs-string"]


@pytest.mark.parametrize("statement", EVAL_PANICS, ids=EVAL_IDS)
def test_overflows_while_running_fail_the_query_instead_of_leaving_it_running_forever(server, eds, statement):
    """A panic on the blocking pool kills the query's thread without `finish`: the query stays
    RUNNING forever (and holds one of the account's 10 concurrent-query slots). It must end
    FAILED with a message, be refused as an invalid statement, or (a huge LIMIT) answer."""
    ct = server.client("cloudtrail")
    try:
        qid = ct.start_query(QueryStatement=statement.format(eds=store_id(eds)))["QueryId"]
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidQueryStatementException"
    else:
        d = settle(ct, qid, timeout=10)
        # A huge LIMIT is a fine LIMIT: the query may answer; anything else must fail with a reason.
        assert (d["QueryStatus"] == "FAILED" and d.get("ErrorMessage")) or (
            "LIMIT" in statement and d["QueryStatus"] == "FINISHED"), d
    alive(server)


def test_queries_that_died_do_not_hold_the_concurrency_quota_forever(server, eds):
    """Ten statements that panic the evaluator leave ten queries RUNNING forever: from then on
    every StartQuery of the account is MaxConcurrentQueriesException until the node restarts — a
    permanent denial of Lake for the whole account by any principal allowed StartQuery."""
    ct = server.client("cloudtrail")
    bad = EVAL_PANICS[0].format(eds=store_id(eds))
    for _ in range(10):
        try:
            ct.start_query(QueryStatement=bad)
        except ClientError:
            pass  # refused outright: the quota is not touched either
    time.sleep(2)
    described, rows = run_query(ct, f"SELECT count(*) FROM {store_id(eds)}")
    assert described["QueryStatus"] == "FINISHED"
    alive(server)


def test_a_long_chain_of_operators_does_not_overflow_the_stack(server, eds):
    """MAX_DEPTH counts parentheses, NOT and unary signs, but `1+1+…+1` is built by a loop into a
    left-deep tree 3,000 levels deep (6,000 characters, well under the 10,000 limit); evaluating
    (or dropping/comparing) it recurses past the 2 MiB thread stack and the whole node aborts.
    The statement must be refused (too deep) or answered, and the node must live."""
    ct = server.client("cloudtrail")
    chain = "+".join(["1"] * 3000)
    try:
        qid = ct.start_query(QueryStatement=f"SELECT {chain} FROM {store_id(eds)} LIMIT 1")["QueryId"]
        settle(ct, qid)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidQueryStatementException"
    time.sleep(1)
    alive(server)


def test_a_string_blow_up_fails_the_query_rather_than_exhausting_memory(server, eds):
    """Nested replace() multiplies a string's length by 10 a level: ten levels (~350 characters)
    ask for 100 GB. Nothing bounds a value's size, so the node allocates until it dies (here under
    a 3 GiB address-space limit it aborts at once: 'memory allocation failed'; without one the
    kernel's OOM killer ends it). The query must FAIL with a message and the node must live."""
    pid = server.proc.pid
    resource.prlimit(pid, resource.RLIMIT_AS, (3 << 30, 3 << 30))
    ct = server.client("cloudtrail")
    qid = ct.start_query(QueryStatement=f"SELECT length({blown_up(10)}) FROM {store_id(eds)} LIMIT 1")["QueryId"]
    deadline = time.time() + 30
    status = "RUNNING"
    while time.time() < deadline and server.is_running():
        try:
            status = ct.describe_query(QueryId=qid)["QueryStatus"]
        except Exception:  # noqa: BLE001 - the node may be gone
            break
        if status in FINAL:
            break
        time.sleep(0.5)
    alive(server)
    assert status == "FAILED"


# --------------------------------------------------------------------------
# denial of service by CPU: cancel, shutdown, the concurrency quota
# --------------------------------------------------------------------------

def test_a_cancelled_query_stops_using_the_cpu(server, eds):
    """A single row can cost minutes (LIKE is O(text × pattern), and both can be built large by
    replace()). CancelQuery marks the query CANCELLED, but the cancel flag (and the one-hour
    timeout) is looked at only between scan steps, so the thread keeps burning a core until the
    row is done. A cancelled query must stop consuming the node."""
    ct = server.client("cloudtrail")
    try:
        qid = ct.start_query(QueryStatement=endless(store_id(eds)))["QueryId"]
        time.sleep(1.5)
        assert ct.cancel_query(QueryId=qid)["QueryStatus"] == "CANCELLED"
        time.sleep(1.0)
        before = cpu_seconds(server.proc.pid)
        time.sleep(3.0)
        used = cpu_seconds(server.proc.pid) - before
        assert ct.describe_query(QueryId=qid)["QueryStatus"] == "CANCELLED"
        assert used < 1.0, f"the node used {used:.1f} s of CPU in 3 s after the query was cancelled"
    finally:
        server.kill9()


def test_sigterm_stops_the_node_promptly_while_a_query_runs(server, eds):
    """The runtime is dropped at the end of main, which waits for every spawn_blocking task: a
    running query (up to its one-hour timeout, or forever for a CPU-bound row) keeps a SIGTERMed
    node from exiting. A node must stop within the usual 15 s."""
    ct = server.client("cloudtrail")
    ct.start_query(QueryStatement=endless(store_id(eds)))
    time.sleep(1.5)
    try:
        rc = server.stop()
    except AssertionError as e:
        pytest.fail(str(e))
    assert rc == 0


def test_the_concurrent_query_quota_holds_under_a_burst(server, eds):
    """The running-query count is checked in the handler, but the query is inserted only in the
    commit's `apply`: StartQuery calls arriving together all see fewer than 10 and all start. At
    most 10 may run at once per account (MaxConcurrentQueriesException for the rest), including
    the next call after the burst."""
    statement = endless(store_id(eds))
    clients = [server.client("cloudtrail") for _ in range(25)]
    barrier = threading.Barrier(len(clients))
    outcomes: list[str] = []
    lock = threading.Lock()

    def start(ct):
        barrier.wait()
        try:
            ct.start_query(QueryStatement=statement)
            out = "started"
        except ClientError as e:
            out = e.response["Error"]["Code"]
        with lock:
            outcomes.append(out)

    try:
        threads = [threading.Thread(target=start, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        started = outcomes.count("started")
        assert set(outcomes) <= {"started", "MaxConcurrentQueriesException"}, outcomes
        with pytest.raises(ClientError) as e:
            clients[0].start_query(QueryStatement=f"SELECT 1 FROM {store_id(eds)}")
        assert code_of(e) == "MaxConcurrentQueriesException"
        running = [q for q in clients[0].list_queries(EventDataStore=eds)["Queries"]
                   if q["QueryStatus"] in ("QUEUED", "RUNNING")]
        assert started == 10 and len(running) == 10, f"{started} started, {len(running)} running"
    finally:
        server.kill9()


def test_huge_in_lists_like_patterns_and_group_by_stay_bounded(server, eds):
    """Wide (not deep) statements: an 800-item IN list, a LIKE of many `%`, count(distinct) and a
    GROUP BY over every event's id — all answer, quickly, and the node lives."""
    ct = server.client("cloudtrail")
    iam = server.client("iam")
    for i in range(20):
        iam.create_user(UserName=f"bulk-{i}")
    sid = store_id(eds)
    in_list = ", ".join(f"'n{i}'" for i in range(800))
    for statement in [
        f"SELECT count(*) FROM {sid} WHERE eventName IN ({in_list}, 'CreateUser')",
        f"SELECT count(*) FROM {sid} WHERE eventJson LIKE '{'%_' * 2000}%'",
        f"SELECT eventID, count(DISTINCT eventJson), approx_distinct(requestID) FROM {sid} GROUP BY eventID",
        f"SELECT DISTINCT eventJson FROM {sid} ORDER BY eventJson DESC LIMIT 5",
    ]:
        t = time.time()
        described, _ = run_query(ct, statement)
        assert described["QueryStatus"] in ("FINISHED", "FAILED"), described
        assert time.time() - t < 15, statement[:80]
    alive(server)


def test_statement_length_and_odd_characters_are_refused_cleanly(server, eds):
    """Giant statements, unicode next to the lexer's slicing, NUL bytes, lone quotes after FROM,
    numbers like 1e309 or 1e: each is an InvalidQueryStatementException/ValidationException
    (never a 500), and the node lives."""
    ct = server.client("cloudtrail")
    sid = store_id(eds)
    for statement in [
        f"SELECT '{'x' * 10_000}' FROM {sid}",
        f"SELECT 1e309 FROM {sid}", f"SELECT 1e FROM {sid}", f"SELECT .5e FROM {sid}", f"SELECT 1..2 FROM {sid}",
        f"SELECT é FROM {sid}", f"SELECT 'é FROM {sid}", "SELECT 1 FROM é", "SELECT 1 FROM \"é", "SELECT 1 FROM '",
        f"SELECT 1 FROM {sid}\u00a0", f"SELECT \u2028 1 FROM {sid}", f"SELECT 1 FROM {sid} WHERE x = 'a\x00'",
        f"SELECT 1 FROM ?", f"SELECT requestParameters.é FROM {sid}", f"SELECT 1 FROM {sid} /* é",
        f"SELECT CAST(1 AS varchar(é)) FROM {sid}", f"SELECT CAST(1 AS varchar( FROM {sid}",
    ]:
        try:
            qid = ct.start_query(QueryStatement=statement)["QueryId"]
            settle(ct, qid)
        except ClientError as e:
            assert e.response["Error"]["Code"] in (
                "InvalidQueryStatementException", "ValidationException", "EventDataStoreNotFoundException",
                "InvalidParameterException"), (statement[:80], e.response)
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    alive(server)


def test_a_statement_of_fewer_than_10000_characters_is_not_refused_as_too_long(server, eds):
    """The model's limit is 10,000 characters; parse() counts bytes (`statement.len()`), so a
    5,100-character statement of accented text is refused as 'longer than 10,000 characters'."""
    ct = server.client("cloudtrail")
    statement = f"SELECT '{'é' * 5000}' AS e FROM {store_id(eds)} LIMIT 1"
    assert len(statement) < 10_000 < len(statement.encode())
    described, rows = run_query(ct, statement)
    assert described["QueryStatus"] == "FINISHED" and cells(rows) == [["é" * 5000]]


def test_scalar_function_edge_cases_fail_or_answer_but_never_crash(server, eds):
    """substr/split_part/round/json_extract_scalar/CAST/date_add with extreme arguments: each query
    FINISHES or FAILS with a message; none is left RUNNING and the node lives."""
    ct = server.client("cloudtrail")
    sid = store_id(eds)
    for expr in [
        "substr('héllo', 9223372036854775807, 9223372036854775807)", "substr('héllo', -9223372036854775807)",
        "substr('héllo', -2, -5)", "substring('é', 1, 0)", "split_part('a,b', ',', 9223372036854775807)",
        "split_part('a', '', 1)", "strpos('ééé', 'é')", "round(1.5, 9223372036854775807)", "round(1e308, -18)",
        "json_extract_scalar('{\"a\":[1]}', '$.a[99999999999999999999999]')", "json_extract_scalar(eventJson, '$[')",
        "json_extract_scalar(eventJson, '$..')", "json_extract_scalar(eventJson, '$.[é]')",
        "json_extract_scalar('é', '$')", "CAST(1e300 * 1e300 AS bigint)", "CAST('9223372036854775808' AS bigint)",
        "CAST('nan' AS double)", "CAST('inf' AS double)", "CAST(-9223372036854775807 - 1 AS double)",
        "abs(-9223372036854775807 - 1)", "(-9223372036854775807 - 1) / -1", "(-9223372036854775807 - 1) % -1",
        "date_add('week', 9223372036854775807, now())", "date_add('millisecond', -9223372036854775807, now())",
        "date_trunc('year', TIMESTAMP '1970-01-01' - INTERVAL '9223372036854775807' millisecond)",
        "to_iso8601(TIMESTAMP '1970-01-01' + INTERVAL '9223372036854775807' millisecond)",
        "date_diff('week', now(), TIMESTAMP '9999-12-31')", "from_iso8601_timestamp('2024-02-30')",
        "TIMESTAMP '2024-01-01 -1:-1:-1'", "INTERVAL '9223372036854775807' millisecond * 2",
        "element_at(requestParameters, 9223372036854775807)", "cardinality(eventJson)",
        "'é' LIKE '_'", "'%' LIKE '%%%%%%%%'", "eventTime - (TIMESTAMP '1970-01-01' - INTERVAL '9223372036854775807' millisecond)",
    ]:
        try:
            qid = ct.start_query(QueryStatement=f"SELECT {expr} FROM {sid} LIMIT 1")["QueryId"]
            d = settle(ct, qid, timeout=10)
            assert d["QueryStatus"] in ("FINISHED", "FAILED"), (expr, d)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidQueryStatementException", (expr, e.response)
    alive(server)


# --------------------------------------------------------------------------
# the offline command
# --------------------------------------------------------------------------

CLI_STATEMENTS = PARSE_PANICS + EVAL_PANICS + [
    "SELECT {chain} FROM {eds} LIMIT 1",
    "SELECT 1 FROM",
    "SELECT 1 FROM nosuch",
    "SELECT 1 FROM \"é\"",
    "SELECT '{big}' FROM {eds}",
]
CLI_IDS = PARSE_IDS + EVAL_IDS + ["deep-chain", "no-store", "unknown-store", "unicode-store", "too-long"]


@pytest.mark.parametrize("statement", CLI_STATEMENTS, ids=CLI_IDS)
def test_the_offline_query_never_panics(server, eds, statement):
    """`rampart trail query` answers (exit 0) or explains (exit 2 with a message) — never a panic
    (exit 101)."""
    text = statement.format(eds=store_id(eds), chain="+".join(["1"] * 4900), big="x" * 10_001)
    done = subprocess.run([str(rampart_bin()), "trail", "query", "--data", str(server.data_dir), text],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 2), (done.returncode, done.stderr[-800:])
    assert "panicked" not in done.stderr
    if done.returncode == 2:
        assert done.stderr.strip()


def test_the_offline_query_refuses_params_mismatch_and_pending_deletion(server, eds):
    """--param fills `?`s (and a missing or extra one is an error); a store pending deletion is
    not queried offline either; a store of another data dir is not found."""
    ct = server.client("cloudtrail")
    sid = store_id(eds)
    base = [str(rampart_bin()), "trail", "query", "--data", str(server.data_dir)]
    ok = subprocess.run(base + ["--json", "--param", "CreateEventDataStore",
                                f"SELECT eventName FROM {sid} WHERE eventName = ?"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout.splitlines()[0]) == {"eventName": "CreateEventDataStore"}
    for extra in (["--param", "a", "--param", "b"], []):
        bad = subprocess.run(base + extra + [f"SELECT eventName FROM {sid} WHERE eventName = ? AND 1 = 1"],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "parameter" in bad.stderr, bad
    ct.update_event_data_store(EventDataStore=eds, TerminationProtectionEnabled=False)
    ct.delete_event_data_store(EventDataStore=eds)
    gone = subprocess.run(base + [f"SELECT eventName FROM {eds}"], capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2 and "pending deletion" in gone.stderr


# --------------------------------------------------------------------------
# what a store holds
# --------------------------------------------------------------------------

def test_updating_selectors_does_not_reveal_events_the_store_never_ingested(server):
    """A store of write events only never took in ListUsers. UpdateEventDataStore with broader
    selectors applies to events from then on (AWS); Rampart applies the store's *current*
    selectors to the whole audit store, so every past read call appears in it."""
    ct = server.client("cloudtrail")
    iam = server.client("iam")
    writes = ct.create_event_data_store(Name=uniq("eds"), AdvancedEventSelectors=[{
        "Name": "writes", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                             {"Field": "readOnly", "Equals": ["false"]}]}])["EventDataStoreArn"]
    iam.list_users()
    iam.list_roles()
    _, rows = run_query(ct, f"SELECT eventName FROM {writes} WHERE readOnly = true")
    assert rows == []
    cutoff = ct.update_event_data_store(EventDataStore=writes, AdvancedEventSelectors=[{
        "Name": "all", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}])
    assert cutoff["AdvancedEventSelectors"][0]["Name"] == "all"
    _, rows = run_query(ct, f"SELECT eventName FROM {writes} WHERE eventName IN ('ListUsers', 'ListRoles')")
    assert rows == [], f"events the store did not select when they happened: {cells(rows)}"


def test_enabling_multi_region_does_not_reveal_past_events_of_other_regions(server):
    """A single-Region store holds its Region's events. Turning MultiRegionEnabled on takes in
    other Regions' events from then on — not the other Regions' past, which Rampart shows."""
    ct = server.client("cloudtrail")
    local = ct.create_event_data_store(Name=uniq("eds"), MultiRegionEnabled=False)["EventDataStoreArn"]
    server.client("sts", region="us-west-2").get_caller_identity()
    _, rows = run_query(ct, f"SELECT eventName, awsRegion FROM {local} WHERE awsRegion <> 'us-east-1'")
    assert rows == [], "a single-Region store holds no other Region's events"
    ct.update_event_data_store(EventDataStore=local, MultiRegionEnabled=True)
    _, rows = run_query(ct, f"SELECT eventName, awsRegion FROM {local} WHERE awsRegion <> 'us-east-1'")
    assert rows == [], f"other Regions' events from before the change: {cells(rows)}"


def test_a_store_holds_nothing_from_before_it_was_made_or_while_pending_deletion(server):
    """Events before CreateEventDataStore, while the store was stopped and while it was pending
    deletion are not in it after a restore; events of another account are never in it."""
    ct = server.client("cloudtrail")
    iam = server.client("iam")
    iam.create_user(UserName="before-store")
    arn = ct.create_event_data_store(Name=uniq("eds"), TerminationProtectionEnabled=False)["EventDataStoreArn"]
    iam.create_user(UserName="while-on")
    ct.stop_event_data_store_ingestion(EventDataStore=arn)
    iam.create_user(UserName="while-stopped")
    ct.delete_event_data_store(EventDataStore=arn)
    iam.create_user(UserName="while-deleted")
    ct.restore_event_data_store(EventDataStore=arn)
    iam.create_user(UserName="after-restore")
    _, rows = run_query(ct, f"SELECT requestParameters['userName'] FROM {arn} WHERE eventName = 'CreateUser' "
                            f"AND eventTime > TIMESTAMP '2000-01-01' ORDER BY eventTime")
    assert [r[0] for r in cells(rows)] == ["while-on", "after-restore"]
    _, rows = run_query(ct, f"SELECT count(*) FROM {arn} WHERE recipientAccountId <> '{server.account_id}'")
    assert cells(rows) == [["0"]]


def test_queries_on_stores_pending_deletion_or_of_another_region_are_refused(server):
    """StartQuery on a store pending deletion is InactiveEventDataStoreException, also through its
    ARN, a quoted name and an alias; a store of another Region (by ARN, from us-east-1, or by id
    from us-west-2) is EventDataStoreNotFoundException."""
    ct = server.client("cloudtrail")
    arn = ct.create_event_data_store(Name=uniq("eds"), TerminationProtectionEnabled=False)["EventDataStoreArn"]
    west = server.client("cloudtrail", region="us-west-2")
    west_arn = west.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    for spelling in [f"{west_arn}", f'"{west_arn}"', arn.replace("us-east-1", "us-west-2")]:
        with pytest.raises(ClientError) as e:
            ct.start_query(QueryStatement=f"SELECT eventName FROM {spelling}")
        assert code_of(e) == "EventDataStoreNotFoundException", spelling
    with pytest.raises(ClientError) as e:
        west.start_query(QueryStatement=f"SELECT eventName FROM {store_id(arn)}")
    assert code_of(e) == "EventDataStoreNotFoundException"
    ct.delete_event_data_store(EventDataStore=arn)
    for spelling in [store_id(arn), arn, f'"{arn}"', f"{store_id(arn)} AS t", f"/* x */ {arn} t"]:
        with pytest.raises(ClientError) as e:
            ct.start_query(QueryStatement=f"SELECT eventName FROM {spelling}")
        assert code_of(e) == "InactiveEventDataStoreException", spelling


def test_records_never_hold_secrets(server):
    """Secret access keys, session tokens, passwords and KMS plaintexts must not appear in any
    record a query reads: not through SELECT *, eventJson, requestParameters or responseElements."""
    import base64

    ct = server.client("cloudtrail")
    arn = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    iam = server.client("iam")
    user = new_user(server, "victim")
    secrets = {"user secret": user["secret"], "root secret": server.creds.secret_access_key}
    iam.create_login_profile(UserName=user["name"], Password="Sup3r-Secret-Passw0rd!x")
    iam.update_login_profile(UserName=user["name"], Password="An0ther-Secret-Passw0rd!y")
    secrets.update(pw1="Sup3r-Secret-Passw0rd!x", pw2="An0ther-Secret-Passw0rd!y")
    iam.put_user_policy(UserName=user["name"], PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    iam.create_role(RoleName="lake-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["arn"]}, "Action": "sts:AssumeRole"}]}))
    sts = server.client("sts", creds=user["creds"])

    def assumed():
        try:
            return sts.assume_role(RoleArn=f"arn:aws:iam::{server.account_id}:role/lake-role",
                                   RoleSessionName="lake-sess")["Credentials"]
        except ClientError:
            return None
    role = wait_for(assumed, what="the user's policy")
    token = sts.get_session_token()["Credentials"]
    for name, c in (("role", role), ("session", token)):
        secrets[f"{name} secret"] = c["SecretAccessKey"]
        secrets[f"{name} token"] = c["SessionToken"]
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    plaintext = b"PLAINTEXT-SECRET-1234567890"
    blob = kms.encrypt(KeyId=key, Plaintext=plaintext)["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256")["Plaintext"]
    secrets["plaintext"] = base64.b64encode(plaintext).decode()
    secrets["data key"] = base64.b64encode(data_key).decode()
    for statement in (f"SELECT eventJson FROM {arn}", f"SELECT * FROM {arn}",
                      f"SELECT requestParameters, responseElements, additionalEventData FROM {arn}"):
        described, rows = run_query(ct, statement)
        assert described["QueryStatus"] == "FINISHED" and len(rows) > 10
        text = json.dumps(rows)
        leaked = [k for k, v in secrets.items() if v in text]
        assert not leaked, f"{statement}: {leaked}"


# --------------------------------------------------------------------------
# authorization: the store authorized is the store read
# --------------------------------------------------------------------------

def analyst_allowed_on(server, allow: str, deny: str | None = None, probe: str | None = None) -> tuple[dict, object]:
    analyst = new_user(server, "analyst")
    statements = [{"Effect": "Allow", "Action": "cloudtrail:*", "Resource": allow}]
    if deny:
        statements.append({"Effect": "Deny", "Action": "cloudtrail:*", "Resource": deny})
    server.client("iam").put_user_policy(UserName=analyst["name"], PolicyName="lake", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    ct = server.client("cloudtrail", creds=analyst["creds"])
    check = (lambda: ct.get_event_data_store(EventDataStore=probe)) if probe else ct.list_event_data_stores
    wait_for(lambda: _try(check), what="the analyst's policy")
    return analyst, ct


def _try(call):
    try:
        call()
        return True
    except ClientError:
        return False


def test_no_spelling_of_a_denied_store_in_from_reaches_it(server):
    """The analyst may do anything in CloudTrail except on one store. Every way of naming that store
    in FROM (id, ARN, quoted, aliased, commented, other-case ARN parts, `?` parameters, trailing
    `;`, other partition, doubled resource prefix) and in the EventDataStore members is refused —
    AccessDenied, or not found / invalid — and never yields a query id."""
    ct = server.client("cloudtrail")
    secret = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    sid, acct = store_id(secret), server.account_id
    _, as_analyst = analyst_allowed_on(server, "*", deny=secret)
    spellings = [
        sid, secret, f'"{secret}"', f'"{sid}"', f"{sid} AS t", f"{sid} t", f"/* c */ {sid}", f"--c\n{sid}",
        f"{sid};", f'"{sid}" AS "x"', f"{secret} WHERE 1 = 1",
        f"arn:aws-cn:cloudtrail:us-east-1:{acct}:eventdatastore/{sid}",
        f"arn:aws:cloudtrail:us-east-1:{acct}:eventdatastore/eventdatastore/{sid}",
        f"arn:aws:cloudtrail:US-EAST-1:{acct}:eventdatastore/{sid}", sid.upper(), f"{sid}/", f"./{sid}",
    ]
    refused = ("AccessDeniedException", "EventDataStoreNotFoundException", "EventDataStoreARNInvalidException",
               "InvalidQueryStatementException")
    for spelling in spellings:
        with pytest.raises(ClientError) as e:
            as_analyst.start_query(QueryStatement=f"SELECT eventName FROM {spelling}")
        assert code_of(e) in refused, (spelling, e.value.response)
    with pytest.raises(ClientError) as e:
        as_analyst.start_query(QueryStatement="SELECT eventName FROM ?", QueryParameters=[sid])
    assert code_of(e) in refused
    for member in (sid, secret, f"arn:aws-cn:cloudtrail:us-east-1:{acct}:eventdatastore/{sid}",
                   f"arn:aws:cloudtrail:us-east-1:{acct}:eventdatastore/eventdatastore/{sid}"):
        for call in (lambda: as_analyst.get_event_data_store(EventDataStore=member),
                     lambda: as_analyst.list_queries(EventDataStore=member),
                     lambda: as_analyst.stop_event_data_store_ingestion(EventDataStore=member),
                     lambda: as_analyst.list_tags(ResourceIdList=[member]),
                     lambda: as_analyst.add_tags(ResourceId=member, TagsList=[{"Key": "k", "Value": "v"}])):
            with pytest.raises(ClientError) as e:
                call()
            assert code_of(e) in refused + ("ResourceNotFoundException", "CloudTrailARNInvalidException",
                                                "TrailNotFoundException", "InvalidTrailNameException"), member
    assert ct.get_event_data_store(EventDataStore=secret)["Status"] == "ENABLED"


def test_results_of_a_query_on_another_store_are_not_readable(server):
    """The analyst may query `mine` only. A query root ran on `secret` is not readable by its id,
    nor by naming `mine` as the EventDataStore, nor cancellable; its NextToken does not page a
    query of `mine` either."""
    ct = server.client("cloudtrail")
    mine = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    secret = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    _, as_analyst = analyst_allowed_on(server, mine, probe=mine)
    for n in range(3):
        ct.add_tags(ResourceId=secret, TagsList=[{"Key": f"k{n}", "Value": "v"}])
    theirs = ct.start_query(QueryStatement=f"SELECT eventName FROM {secret}")["QueryId"]
    settle(ct, theirs)
    token = ct.get_query_results(QueryId=theirs, MaxQueryResults=1)["NextToken"]
    ours = as_analyst.start_query(QueryStatement=f"SELECT eventName FROM {store_id(mine)}")["QueryId"]
    settle(as_analyst, ours)
    for call in (lambda: as_analyst.get_query_results(QueryId=theirs),
                 lambda: as_analyst.get_query_results(QueryId=theirs, EventDataStore=mine),
                 lambda: as_analyst.get_query_results(QueryId=theirs, EventDataStore=store_id(mine)),
                 lambda: as_analyst.describe_query(QueryId=theirs),
                 lambda: as_analyst.describe_query(QueryId=theirs, EventDataStore=mine),
                 lambda: as_analyst.cancel_query(QueryId=theirs, EventDataStore=mine),
                 lambda: as_analyst.get_query_results(QueryId=theirs.upper(), EventDataStore=mine),
                 lambda: as_analyst.get_query_results(QueryId=f" {theirs}", EventDataStore=mine)):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) in ("AccessDeniedException", "QueryIdNotFoundException", "ValidationException")
    with pytest.raises(ClientError) as e:
        as_analyst.get_query_results(QueryId=ours, NextToken=token)
    assert code_of(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        as_analyst.get_query_results(QueryId=ours, EventDataStore=secret)
    assert code_of(e) in ("AccessDeniedException", "QueryIdNotFoundException")
    listed = as_analyst.list_queries(EventDataStore=mine)["Queries"]
    assert [q["QueryId"] for q in listed] == [ours]


def test_arn_spellings_that_are_not_the_stores_arn_do_not_find_it(server, eds):
    """`find` ignores the ARN's partition and strips `eventdatastore/` repeatedly
    (trim_start_matches), so `arn:aws-cn:…` and `…:eventdatastore/eventdatastore/<id>` name the
    store. Neither is its ARN: AWS answers EventDataStoreNotFoundException/ARNInvalid."""
    ct = server.client("cloudtrail")
    sid, acct = store_id(eds), server.account_id
    for spelling in (f"arn:aws-cn:cloudtrail:us-east-1:{acct}:eventdatastore/{sid}",
                     f"arn:aws-us-gov:cloudtrail:us-east-1:{acct}:eventdatastore/{sid}",
                     f"arn:aws:cloudtrail:us-east-1:{acct}:eventdatastore/eventdatastore/{sid}"):
        with pytest.raises(ClientError) as e:
            ct.get_event_data_store(EventDataStore=spelling)
        assert code_of(e) in ("EventDataStoreNotFoundException", "EventDataStoreARNInvalidException"), spelling
        with pytest.raises(ClientError) as e:
            ct.start_query(QueryStatement=f'SELECT count(*) FROM "{spelling}"')
        assert code_of(e) in ("EventDataStoreNotFoundException", "EventDataStoreARNInvalidException"), spelling


def test_query_error_codes_follow_aws(server, eds):
    """The errors clients branch on: QueryIdNotFoundException for a made-up id, InvalidNextTokenException
    for a forged token and another query's token, InactiveQueryException to cancel a finished query,
    EventDataStoreNotFoundException for an unknown store, MaxConcurrentQueriesException at 10."""
    ct = server.client("cloudtrail")
    sid = store_id(eds)
    with pytest.raises(ClientError) as e:
        ct.get_query_results(QueryId="00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "QueryIdNotFoundException"
    with pytest.raises(ClientError) as e:
        ct.cancel_query(QueryId="00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "QueryIdNotFoundException"
    qid = ct.start_query(QueryStatement=f"SELECT eventName FROM {sid}")["QueryId"]
    settle(ct, qid)
    for token in (f"{qid}:999999", f"{qid}:-1", f"{qid}:18446744073709551616", "x" * 500, f"{qid}:1:2"):
        with pytest.raises(ClientError) as e:
            ct.get_query_results(QueryId=qid, NextToken=token)
        assert code_of(e) in ("InvalidNextTokenException", "ValidationException"), token
    with pytest.raises(ClientError) as e:
        ct.list_queries(EventDataStore=eds, NextToken="00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        ct.list_event_data_stores(NextToken="not-a-store")
    assert code_of(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        ct.cancel_query(QueryId=qid)
    assert code_of(e) == "InactiveQueryException"
    with pytest.raises(ClientError) as e:
        ct.list_queries(EventDataStore="00000000-0000-4000-8000-000000000000")
    assert code_of(e) == "EventDataStoreNotFoundException"
    with pytest.raises(ClientError) as e:
        ct.start_query(QueryStatement=f"SELECT eventName FROM {sid}", EventDataStoreOwnerAccountId="111122223333")
    assert code_of(e) in ("UnsupportedOperationException", "AccessDeniedException", "EventDataStoreNotFoundException")
    alive(server)


def test_query_parameters_are_values_not_sql(server, eds):
    """A `?` takes its parameter as one string literal: quotes, comments and keywords inside it
    are not SQL (no injection through QueryParameters), and a `?` cannot name the store."""
    ct = server.client("cloudtrail")
    sid = store_id(eds)
    for value in ("x' OR '1'='1", "x' --", "CreateEventDataStore' OR eventName <> '", "*/ OR 1=1 /*"):
        described, rows = run_query(ct, f"SELECT eventName FROM {sid} WHERE eventName = ?", QueryParameters=[value])
        assert described["QueryStatus"] == "FINISHED" and rows == [], value
    described, rows = run_query(ct, f"SELECT ? AS v FROM {sid} LIMIT 1", QueryParameters=["'; DROP --"])
    assert cells(rows) == [["'; DROP --"]]


def test_a_query_is_not_found_from_another_region(server, eds):
    """Queries belong to the Region of their store: DescribeQuery, GetQueryResults and CancelQuery
    from us-west-2 do not find a us-east-1 query (find_query matches the account only)."""
    ct = server.client("cloudtrail")
    west = server.client("cloudtrail", region="us-west-2")
    qid = ct.start_query(QueryStatement=f"SELECT eventName FROM {store_id(eds)}")["QueryId"]
    settle(ct, qid)
    for call in (lambda: west.describe_query(QueryId=qid), lambda: west.get_query_results(QueryId=qid)):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "QueryIdNotFoundException"


@pytest.mark.timeout(400)
def test_a_principal_cannot_evict_the_results_of_queries_on_stores_it_cannot_read(server):
    """Results are kept for seven days; `forget_old` keeps at most 1,000 finished queries per
    *account* and drops the oldest first, whatever their store. A principal allowed to query only
    its own scratch store runs 1,000 trivial queries and the results of root's query on another
    store are gone (QueryIdNotFoundException). It must not be able to destroy what it cannot read."""
    ct = server.client("cloudtrail")
    scratch = ct.create_event_data_store(Name=uniq("eds"), StartIngestion=False)["EventDataStoreArn"]
    audit = ct.create_event_data_store(Name=uniq("eds"))["EventDataStoreArn"]
    theirs = ct.start_query(QueryStatement=f"SELECT eventName FROM {audit}")["QueryId"]
    settle(ct, theirs)
    _, as_analyst = analyst_allowed_on(server, scratch, probe=scratch)
    started = 0
    while started < 1000:
        try:
            as_analyst.start_query(QueryStatement=f"SELECT 1 FROM {store_id(scratch)}")
            started += 1
        except ClientError as e:
            assert code_of(e) == "MaxConcurrentQueriesException"
            time.sleep(0.05)
    page = ct.get_query_results(QueryId=theirs)
    assert page["QueryStatus"] == "FINISHED" and page["QueryResultRows"]
