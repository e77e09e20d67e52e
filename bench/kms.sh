#!/usr/bin/env bash
# KMS load benchmark: Encrypt, Decrypt and GenerateDataKey of 1 KiB as an IAM
# user, header-signed, over loopback — each through the whole pipeline (SigV4,
# the key policy and the user's IAM policy evaluated, the audit record
# committed) — replayed by wrk against Rampart (file keys, and the root of
# trust in SoftHSM2), moto_server and a bare nginx answering 200, in one run.
#
# usage: [THREADS=1] bench/kms.sh [DURATION_SECONDS] [CONNECTIONS]
# Needs: wrk, nginx, softhsm2 (apt), moto_server and the aws CLI (pip);
# installs what is missing as bench/load.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
for tool in wrk nginx softhsm2-util; do
    command -v "$tool" >/dev/null || command -v "/usr/sbin/$tool" >/dev/null || {
        apt-get update -qq && apt-get install -y -qq wrk nginx softhsm2 >/dev/null
    }
done
command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
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
export AWS_ACCESS_KEY_ID=AKIAROOTBENCH0000000 AWS_SECRET_ACCESS_KEY=rootbenchsecret AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
plaintext=$(head -c 1024 /dev/urandom | base64 -w0)

# A SoftHSM2 token for the second Rampart.
export SOFTHSM2_CONF="$work/softhsm2.conf"
mkdir -p "$work/tokens"
echo "directories.tokendir = $work/tokens" > "$SOFTHSM2_CONF"
slot=$(softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 12345678 | sed -n 's/.*reassigned to slot \([0-9]*\).*/\1/p')
hsm_lib=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)

# One Rampart: an IAM user allowed the three operations on one key (whose
# default key policy delegates to IAM), and the three signed requests.
start_rampart() { # port name [serve args...]
    local port=$1 name=$2; shift 2
    RAMPART_ACCOUNT_ID=123456789012 RAMPART_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
    RAMPART_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY RAMPART_LOG=warn RAMPART_HSM_PIN=1234 \
        "$RAMPART_BIN" serve --listen "127.0.0.1:$port" --data "$work/$name" "$@" >"$work/$name.log" 2>&1 & pids+=($!)
    wait_http "http://127.0.0.1:$port/_rampart/health"
    local url="http://127.0.0.1:$port"
    local key; key=$(aws --endpoint-url "$url" kms create-key --query KeyMetadata.Arn --output text)
    aws --endpoint-url "$url" iam create-user --user-name bench >/dev/null
    aws --endpoint-url "$url" iam put-user-policy --user-name bench --policy-name kms --policy-document \
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\",\"kms:GenerateDataKey\"],\"Resource\":\"$key\"}]}"
    read -r ak sk < <(aws --endpoint-url "$url" iam create-access-key --user-name bench \
        --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
    requests "$name" "$url" "$key" "$ak" "$sk"
}

# The three requests for one target, signed by AK/SK.
requests() { # name url key ak sk
    local name=$1 url=$2 key=$3 ak=$4 sk=$5
    local blob
    blob=$(python3 - "$url" "$ak" "$sk" "$key" "$plaintext" <<'PY'
import base64, sys, boto3
url, ak, sk, key, plaintext = sys.argv[1:6]
kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk)
print(base64.b64encode(kms.encrypt(KeyId=key, Plaintext=base64.b64decode(plaintext))["CiphertextBlob"]).decode())
PY
)
    python3 bench/sign_request.py "$url" "$ak" "$sk" "$work/$name-encrypt.lua" kms \
        "{\"KeyId\":\"$key\",\"Plaintext\":\"$plaintext\"}" TrentService.Encrypt
    python3 bench/sign_request.py "$url" "$ak" "$sk" "$work/$name-decrypt.lua" kms \
        "{\"CiphertextBlob\":\"$blob\"}" TrentService.Decrypt
    python3 bench/sign_request.py "$url" "$ak" "$sk" "$work/$name-datakey.lua" kms \
        "{\"KeyId\":\"$key\",\"NumberOfBytes\":1024}" TrentService.GenerateDataKey
}

rp=$(free_port); start_rampart "$rp" rampart
hp=$(free_port); start_rampart "$hp" rampart-hsm --hsm-module "$hsm_lib" --hsm-slot "$slot"

# moto_server: its own key (moto checks no signatures or policies).
mp=$(free_port)
moto_server -H 127.0.0.1 -p "$mp" >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$mp/"
mkey=$(aws --endpoint-url "http://127.0.0.1:$mp" kms create-key --query KeyMetadata.Arn --output text)
requests moto "http://127.0.0.1:$mp" "$mkey" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"

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
for op in encrypt decrypt datakey; do cp "$work/rampart-$op.lua" "$work/nginx-$op.lua"; done

run() { # script port
    local out
    out=$(wrk -t"${THREADS:-1}" -c"$connections" -d"${duration}s" -s "$work/$1.lua" "http://127.0.0.1:$2/")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$1: some responses were errors, the measurement is void:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
for op in encrypt decrypt datakey; do
    r=$(run "rampart-$op" "$rp"); h=$(run "rampart-hsm-$op" "$hp"); m=$(run "moto-$op" "$mp"); n=$(run "nginx-$op" "$np")
    python3 - "$op" "$r" "$h" "$m" "$n" <<'PY'
import sys
op, (r, h, m, n) = sys.argv[1], map(float, sys.argv[2:6])
print(f"{op:8} rampart {r:7.0f} req/s  rampart+softhsm {h:7.0f} req/s  moto {m:5.0f} req/s  nginx {n:7.0f} req/s"
      f"  rampart/moto {r/m:4.0f}x  rampart/nginx {100*r/n:3.0f}%")
PY
done
