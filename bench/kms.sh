#!/usr/bin/env bash
# KMS load benchmark: Encrypt, Decrypt and GenerateDataKey of 1 KiB as an IAM
# user, header-signed, over loopback — each through the whole pipeline (SigV4,
# the key policy and the user's IAM policy evaluated, the audit record
# committed) — replayed by wrk against Rampart (file keys, and the root of
# trust in SoftHSM2), moto_server and a bare nginx answering 200, in one run.
#
# usage: [THREADS=1] bench/kms.sh [DURATION_SECONDS] [CONNECTIONS]
# Needs: wrk, nginx, softhsm2 (apt), moto_server and the aws CLI (pip);
# installs what is missing (bench/common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
extra_packages=softhsm2
source bench/common.sh
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
start_nginx "$np"
for op in encrypt decrypt datakey; do cp "$work/rampart-$op.lua" "$work/nginx-$op.lua"; done

for op in encrypt decrypt datakey; do
    r=$(wrk_rate "rampart-$op" "$rp"); h=$(wrk_rate "rampart-hsm-$op" "$hp")
    m=$(wrk_rate "moto-$op" "$mp"); n=$(wrk_rate "nginx-$op" "$np")
    python3 - "$op" "$r" "$h" "$m" "$n" <<'PY'
import sys
op, (r, h, m, n) = sys.argv[1], map(float, sys.argv[2:6])
print(f"{op:8} rampart {r:7.0f} req/s  rampart+softhsm {h:7.0f} req/s  moto {m:5.0f} req/s  nginx {n:7.0f} req/s"
      f"  rampart/moto {r/m:4.0f}x  rampart/nginx {100*r/n:3.0f}%")
PY
done
