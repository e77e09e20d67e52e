#!/usr/bin/env bash
# What a trail costs: sts:GetCallerIdentity as an IAM user (header-signed,
# replayed by wrk) against one Rampart node, first with no trail, then with a
# started trail with log-file validation delivering every second and writing
# a digest every 10 seconds (AWS: every 5 minutes and hourly; shorter here so
# the measurement includes the delivery work), and against moto_server; then
# the delivery lag of the trail's records (the time from a record's event to
# its log file) and whether the delivered files validate.
#
# usage: [THREADS=1] bench/trail.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
source bench/common.sh
export AWS_ACCESS_KEY_ID=AKIAROOTBENCH0000000 AWS_SECRET_ACCESS_KEY=rootbenchsecret AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null

rp=$(free_port)
RAMPART_ACCOUNT_ID=123456789012 RAMPART_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
RAMPART_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY RAMPART_LOG=warn \
    "$RAMPART_BIN" serve --listen "127.0.0.1:$rp" --data "$work/data" \
    --trail-delivery-seconds 1 --trail-digest-seconds 10 & pids+=($!)
wait_http "http://127.0.0.1:$rp/_rampart/health"
url="http://127.0.0.1:$rp"
aws --endpoint-url "$url" iam create-user --user-name bench >/dev/null
read -r ak sk < <(aws --endpoint-url "$url" iam create-access-key --user-name bench \
    --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
python3 bench/sign_request.py "$url" "$ak" "$sk" "$work/rampart.lua"

mp=$(free_port)
moto_server -H 127.0.0.1 -p "$mp" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$mp/"
python3 bench/sign_request.py "http://127.0.0.1:$mp" "$ak" "$sk" "$work/moto.lua"

without=$(wrk_rate rampart "$rp")
aws --endpoint-url "$url" cloudtrail create-trail --name bench --s3-bucket-name bench-logs \
    --enable-log-file-validation >/dev/null
aws --endpoint-url "$url" cloudtrail start-logging --name bench
with=$(wrk_rate rampart "$rp")
moto=$(wrk_rate moto "$mp")
sleep 3  # the last second's records
python3 - "$without" "$with" "$moto" "$work/data/buckets/bench-logs" <<'PY'
import datetime, gzip, json, os, sys
without, with_trail, moto = map(float, sys.argv[1:4])
lags = []
for root, _, names in os.walk(sys.argv[4]):
    for name in names:
        if "/CloudTrail/" not in root + "/" or not name.endswith(".json.gz"):
            continue
        path = os.path.join(root, name)
        written = os.stat(path).st_mtime
        for record in json.loads(gzip.decompress(open(path, "rb").read()))["Records"]:
            t = datetime.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
            lags.append(written - t.timestamp())
lags.sort()
p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(f"without a trail {without:.0f} req/s, with a started trail {with_trail:.0f} req/s "
      f"({100 * (1 - with_trail / without):.1f}% cost), moto {moto:.0f} req/s, rampart+trail/moto = {with_trail / moto:.0f}x")
print(f"{len(lags)} records delivered; delivery lag p50 {p(0.5):.2f} s, p99 {p(0.99):.2f} s, max {lags[-1]:.2f} s "
      "(eventTime has 1 s resolution)")
PY
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
"$RAMPART_BIN" trail validate --data "$work/data" --trail bench | tail -2
