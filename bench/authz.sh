#!/usr/bin/env bash
# Load benchmark of the authorization path, as an IAM user with three inline
# policies (as many statements with conditions as IAM's 2,048-character inline
# quota allows), in the same run:
#   allow: iam:GetUser on itself (allowed through ${aws:username})
#   deny:  iam:ListUsers (no statement allows it: refused, audit record written)
#   spine: sts:GetCallerIdentity (never evaluated against policies)
#   root:  iam:GetUser on the same user as the account root (not evaluated:
#          the same work as `allow` minus the decision, so allow/root is what
#          enforcement costs)
# usage: [ROUNDS=3] bench/authz.sh [DURATION_SECONDS_PER_RUN] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# RAMPART_BIN: measure that binary instead of building this checkout's.
if [ -z "${RAMPART_BIN:-}" ]; then
    cargo build --release --bin rampart >/dev/null
    RAMPART_BIN=target/release/rampart
fi
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RAMPART_ACCOUNT_ID=123456789012 RAMPART_ROOT_ACCESS_KEY_ID=AKIAROOTBENCH0000000 \
RAMPART_ROOT_SECRET_ACCESS_KEY=rootbenchsecret RAMPART_LOG=warn \
    "$RAMPART_BIN" serve --listen "127.0.0.1:$port" --data "$work/data" & pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/_rampart/health" && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=AKIAROOTBENCH0000000 AWS_SECRET_ACCESS_KEY=rootbenchsecret AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
endpoint="http://127.0.0.1:$port"
python3 - "$endpoint" "$work/keys" <<'PY'
import json, sys, boto3
endpoint, out = sys.argv[1:3]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
iam.create_user(UserName="bench")
key = iam.create_access_key(UserName="bench")["AccessKey"]
for p in range(3):
    statements = [{"Sid": f"S{p}x{s}", "Effect": "Allow", "Action": f"ec2:Describe{p}x{s}*",
                   "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"},
                                                  "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
                  for s in range(2)]
    if p == 2:
        statements.append({"Sid": "Self", "Effect": "Allow", "Action": "iam:GetUser",
                           "Resource": "arn:aws:iam::123456789012:user/${aws:username}"})
    else:
        statements.append({"Sid": f"Deny{p}", "Effect": "Deny", "Action": "iam:Delete*", "Resource": "*",
                           "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    iam.put_user_policy(UserName="bench", PolicyName=f"p{p}",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
open(out, "w").write(f"{key['AccessKeyId']} {key['SecretAccessKey']}\n")
PY
read -r ak sk < "$work/keys"
python3 bench/sign_request.py "$endpoint" "$ak" "$sk" "$work/allow.lua" iam "Action=GetUser&Version=2010-05-08&UserName=bench"
python3 bench/sign_request.py "$endpoint" "$ak" "$sk" "$work/deny.lua" iam "Action=ListUsers&Version=2010-05-08"
python3 bench/sign_request.py "$endpoint" "$ak" "$sk" "$work/spine.lua" sts "Action=GetCallerIdentity&Version=2011-06-15"
python3 bench/sign_request.py "$endpoint" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$work/root.lua" iam \
    "Action=GetUser&Version=2010-05-08&UserName=bench"
run() { # name, and whether every response must be refused
    local out
    out=$(wrk -t1 -c"$connections" -d"${duration}s" -s "$work/$1.lua" "$endpoint/")
    if [ "$2" = refused ] && ! grep -q "Non-2xx" <<<"$out"; then
        echo "$1: expected every request to be refused" >&2; exit 1
    fi
    if [ "$2" = ok ] && grep -q "Non-2xx" <<<"$out"; then
        echo "$1: some requests failed, the measurement is void:" >&2; echo "$out" >&2; exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
# Interleaved rounds, medians: this VM drifts by ±15% within a minute, which
# would swamp a 10% difference measured one target after the other.
rounds=${ROUNDS:-3}
results=()
for _ in $(seq "$rounds"); do
    results+=("$(run spine ok) $(run root ok) $(run allow ok) $(run deny refused)")
done
python3 - "${results[@]}" <<'PY'
import statistics, sys
rounds = [list(map(float, r.split())) for r in sys.argv[1:]]
s, r, a, d = (statistics.median(x[i] for x in rounds) for i in range(4))
print(f"medians of {len(rounds)} interleaved rounds:")
print(f"spine (GetCallerIdentity) {s:.0f} req/s, root (GetUser, not evaluated) {r:.0f} req/s, "
      f"allow (GetUser, evaluated) {a:.0f} req/s, deny (ListUsers, refused) {d:.0f} req/s")
print(f"allow/root = {100*a/r:.0f}%, deny/allow = {100*d/a:.0f}%")
PY
