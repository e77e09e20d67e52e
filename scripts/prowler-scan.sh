#!/usr/bin/env bash
# Runs the prowler security scanner's IAM checks against Rampart nodes, as a
# new user would point a scanner at it, and prints each check's findings.
# A manual tool, not part of CI (prowler is a large install).
#
#   scripts/prowler-scan.sh            # two fresh --dev nodes: "weak", then "hardened"
#
# The weak node has a user with a console password, an access key and
# AdministratorAccess, a role that trusts everyone, no password policy and no
# MFA; the hardened node has a strong password policy and hardware TOTP
# tokens (registered with --hardware-mfa-tokens) on the root and the user,
# enabled with codes from pyotp. The findings should tell them apart
# truthfully: what fails on the first and passes on the second is what
# Rampart really enforces and reports (password policy, MFA in the
# credential report and the virtual-device list, attached policies).
#
# Environment:
#   RAMPART_BIN      the binary to scan (default target/release/rampart)
#   PROWLER_VERSION  prowler release (default 5.46.0)
#   PROWLER_CACHE    where its venv goes (default ${XDG_CACHE_HOME:-~/.cache}/rampart/prowler)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${RAMPART_BIN:-target/release/rampart}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "prowler-scan: no Rampart binary at $bin (build it, or set RAMPART_BIN)" >&2; exit 2; }
version=${PROWLER_VERSION:-5.46.0}
cache=${PROWLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rampart/prowler}
venv="$cache/venv-$version"
if [ ! -x "$venv/bin/prowler" ]; then
    echo "prowler-scan: installing prowler $version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "prowler==$version" boto3 pyotp
fi

work=$(mktemp -d)
server=
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

scan() { # scan NAME: a fresh --dev node, set up as NAME, scanned
    local name=$1 port
    port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Two hardware TOTP tokens, as their vendor would list them.
    "$venv/bin/python" -c 'import pyotp; print("GAHT10000001," + pyotp.random_base32(32)); print("GAHT10000002," + pyotp.random_base32(32))' \
        >"$work/tokens.csv"
    env -u RAMPART_ACCOUNT_ID -u RAMPART_ROOT_ACCESS_KEY_ID -u RAMPART_ROOT_SECRET_ACCESS_KEY \
        "$bin" serve --dev --listen "127.0.0.1:$port" --data "$work/$name" --hardware-mfa-tokens "$work/tokens.csv" \
        >"$work/$name.log" 2>&1 &
    server=$!
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=FOOBARKEY AWS_SECRET_ACCESS_KEY=FOOBARSECRET
    export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    for _ in $(seq 100); do
        "$venv/bin/python" -c "import urllib.request as u; u.urlopen('$AWS_ENDPOINT_URL/_rampart/health', timeout=1)" \
            2>/dev/null && break
        sleep 0.1
    done
    "$venv/bin/python" - "$name" "$work/tokens.csv" <<'EOF'
import json, sys, time
import boto3, pyotp
iam = boto3.client("iam")
iam.create_user(UserName="alice")
iam.create_login_profile(UserName="alice", Password="Str0ng!Passw0rd#1")
if sys.argv[1] == "weak":
    iam.create_access_key(UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
else:
    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
                                       MaxPasswordAge=90, PasswordReusePrevention=24)
    account = boto3.client("sts").get_caller_identity()["Account"]
    tokens = [line.strip().split(",") for line in open(sys.argv[2]) if line.strip()]
    # The root and alice each enable a hardware token (the root names itself by its account id).
    for user, (serial, seed) in zip((account, "alice"), tokens):
        totp, now = pyotp.TOTP(seed), time.time()
        iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                              AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
EOF
    "$venv/bin/prowler" aws --services iam -f us-east-1 --no-banner -M csv \
        --output-directory "$work/$name-out" >"$work/$name-prowler.log" 2>&1 || true
    echo "== $name"
    "$venv/bin/python" - "$work/$name-out" <<'EOF'
import csv, glob, sys
files = glob.glob(f"{sys.argv[1]}/*.csv")
if not files:
    sys.exit("prowler wrote no findings")
rows = list(csv.DictReader(open(files[0]), delimiter=";"))
for r in sorted(rows, key=lambda r: (r["CHECK_ID"], r["STATUS"])):
    print(f"  {r['STATUS']:<4} {r['CHECK_ID']}: {r['STATUS_EXTENDED'][:110]}")
print(f"  {sum(r['STATUS'] == 'PASS' for r in rows)} passed, {sum(r['STATUS'] == 'FAIL' for r in rows)} failed")
EOF
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
}

scan weak
scan hardened
