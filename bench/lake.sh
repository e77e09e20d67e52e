#!/usr/bin/env bash
# CloudTrail Lake queries over an event data store of EVENTS audit records
# (default 10^6): sts:GetCallerIdentity as an IAM user replayed by wrk fills
# the store, then each query below runs through StartQuery/DescribeQuery/
# GetQueryResults (boto3) and through `rampart trail query` offline; moto
# is asked the same (its answer is printed).
#
# usage: [EVENTS=1000000] bench/lake.sh
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
connections=64
events=${EVENTS:-1000000}
source bench/common.sh
export AWS_ACCESS_KEY_ID=AKIAROOTBENCH0000000 AWS_SECRET_ACCESS_KEY=rootbenchsecret AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null

rp=$(free_port)
RAMPART_ACCOUNT_ID=123456789012 RAMPART_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
RAMPART_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY RAMPART_LOG=warn \
    "$RAMPART_BIN" serve --listen "127.0.0.1:$rp" --data "$work/data" & pids+=($!)
wait_http "http://127.0.0.1:$rp/_rampart/health"
url="http://127.0.0.1:$rp"
eds=$(aws --endpoint-url "$url" cloudtrail create-event-data-store --name bench \
    --query EventDataStoreArn --output text)
aws --endpoint-url "$url" iam create-user --user-name bench >/dev/null
read -r ak sk < <(aws --endpoint-url "$url" iam create-access-key --user-name bench \
    --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
python3 bench/sign_request.py "$url" "$ak" "$sk" "$work/rampart.lua"
# A few denied calls for the who-denied-whom query.
for _ in 1 2 3; do
    AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk aws --endpoint-url "$url" iam list-users >/dev/null 2>&1 || true
done

sent=0
while [ "$sent" -lt "$events" ]; do
    out=$(wrk -t1 -c"$connections" -d"${duration}s" -s "$work/rampart.lua" "$url/")
    sent=$((sent + $(awk '/requests in/ {print $1}' <<<"$out")))
done
echo "$sent calls recorded"

mp=$(free_port)
moto_server -H 127.0.0.1 -p "$mp" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$mp/"

python3 - "$url" "http://127.0.0.1:$mp" "$eds" "$RAMPART_BIN" "$work/data" <<'PY'
import subprocess, sys, time
import boto3
url, moto_url, eds, binary, data = sys.argv[1:6]
eds_id = eds.rsplit("/", 1)[1]
queries = {
    "count": "SELECT count(*) FROM {eds}",
    "top callers": "SELECT eventName, userIdentity.arn, count(*) AS n FROM {eds} GROUP BY 1, 2 ORDER BY n DESC LIMIT 10",
    "who denied whom, 24 h": "SELECT userIdentity.arn, eventName, errorCode, count(*) AS n FROM {eds} "
                             "WHERE errorCode IS NOT NULL AND eventTime > now() - interval '24' hour "
                             "GROUP BY 1, 2, 3 ORDER BY n DESC",
    "newest 10": "SELECT eventTime, eventName, sourceIPAddress FROM {eds} ORDER BY eventTime DESC LIMIT 10",
    "last minute": "SELECT eventName FROM {eds} WHERE eventTime > now() - interval '1' minute AND eventName = 'ListUsers'",
}
ct = boto3.client("cloudtrail", endpoint_url=url, region_name="us-east-1")
for name, statement in queries.items():
    statement = statement.format(eds=eds_id)
    started = time.perf_counter()
    qid = ct.start_query(QueryStatement=statement)["QueryId"]
    while (d := ct.describe_query(QueryId=qid))["QueryStatus"] in ("QUEUED", "RUNNING"):
        time.sleep(0.02)
    wall = time.perf_counter() - started
    rows = ct.get_query_results(QueryId=qid)["QueryStatistics"]["TotalResultsCount"]
    s = d["QueryStatistics"]
    offline_started = time.perf_counter()
    subprocess.run([binary, "trail", "query", "--data", data, statement], check=True, capture_output=True)
    offline = time.perf_counter() - offline_started
    print(f"{name:24} {d['QueryStatus']}: {s['EventsScanned']} events scanned, {s['EventsMatched']} matched, "
          f"{rows} rows; StartQuery to FINISHED {wall:.2f} s (execution {s['ExecutionTimeInMillis']} ms); "
          f"rampart trail query {offline:.2f} s")
moto = boto3.client("cloudtrail", endpoint_url=moto_url, region_name="us-east-1")
try:
    arn = moto.create_event_data_store(Name="bench")["EventDataStoreArn"]
    moto.start_query(QueryStatement=f"SELECT count(*) FROM {arn.rsplit('/', 1)[1]}")
    print("moto: StartQuery answered")
except Exception as e:
    print(f"moto: {type(e).__name__}: {str(e)[:160]}")
PY
