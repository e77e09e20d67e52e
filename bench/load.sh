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
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || command -v "/usr/sbin/$tool" >/dev/null || {
        apt-get update -qq && apt-get install -y -qq wrk nginx >/dev/null
    }
done
command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
# RAMPART_BIN: measure that binary instead of building this checkout's.
if [ -z "${RAMPART_BIN:-}" ]; then
    cargo build --release --bin rampart >/dev/null
    RAMPART_BIN=target/release/rampart
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

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

# nginx answering 200 to everything: the ceiling of this machine's loopback HTTP.
np=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$np; location / { return 200 "ok"; } }
}
CONF
$(command -v nginx || echo /usr/sbin/nginx) -c "$work/nginx/nginx.conf" -g 'daemon off;' & pids+=($!)
wait_http "http://127.0.0.1:$np/"
cp "$work/rampart.lua" "$work/nginx.lua"

run() { # name port
    local out rps
    out=$(wrk -t"${THREADS:-1}" -c"$connections" -d"${duration}s" -s "$work/$1.lua" "http://127.0.0.1:$2/")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$1: some responses were errors, the measurement is void:" >&2
        echo "$out" >&2
        exit 1
    fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
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
