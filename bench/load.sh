#!/usr/bin/env bash
# Load benchmark: sts:GetCallerIdentity as an IAM user, header-signed, over
# loopback, replayed by wrk against Rampart, moto_server and a bare nginx
# answering 200, in the same run. Prints one line per target and the ratios.
#
# usage: [THREADS=1] bench/load.sh [DURATION_SECONDS] [CONNECTIONS]
# (THREADS: wrk's threads; RAMPART_BIN: measure a prebuilt binary)
# Needs: wrk, nginx (apt), moto_server and the aws CLI (pip); installs wrk and
# nginx with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
source bench/common.sh

# Rampart, with an IAM user and its access key.
rp=$(free_port)
RAMPART_ACCOUNT_ID=123456789012 RAMPART_ROOT_ACCESS_KEY_ID=AKIAROOTBENCH0000000 \
RAMPART_ROOT_SECRET_ACCESS_KEY=rootbenchsecret RAMPART_LOG=warn \
    "$RAMPART_BIN" serve --listen "127.0.0.1:$rp" --data "$work/data" & pids+=($!)
wait_http "http://127.0.0.1:$rp/_rampart/health"
export AWS_ACCESS_KEY_ID=AKIAROOTBENCH0000000 AWS_SECRET_ACCESS_KEY=rootbenchsecret AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
aws --endpoint-url "http://127.0.0.1:$rp" iam create-user --user-name bench >/dev/null
read -r ak sk < <(aws --endpoint-url "http://127.0.0.1:$rp" iam create-access-key --user-name bench \
    --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
python3 bench/sign_request.py "http://127.0.0.1:$rp" "$ak" "$sk" "$work/rampart.lua"

# moto_server, signed the same way (moto does not verify signatures).
mp=$(free_port)
moto_server -H 127.0.0.1 -p "$mp" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$mp/"
python3 bench/sign_request.py "http://127.0.0.1:$mp" "$ak" "$sk" "$work/moto.lua"

np=$(free_port)
start_nginx "$np"
cp "$work/rampart.lua" "$work/nginx.lua"

run() { # name port
    local rps
    rps=$(wrk_rate "$1" "$2")
    printf '%-8s %12.0f req/s\n' "$1" "$rps" >&2
    echo "$rps"
}
r=$(run rampart "$rp"); m=$(run moto "$mp"); n=$(run nginx "$np")
python3 - "$r" "$m" "$n" <<'PY'
import sys
r, m, n = map(float, sys.argv[1:4])
print(f"rampart {r:.0f} req/s, moto {m:.0f} req/s, nginx {n:.0f} req/s")
print(f"rampart/moto = {r/m:.0f}x, rampart/nginx = {100*r/n:.0f}%")
PY
