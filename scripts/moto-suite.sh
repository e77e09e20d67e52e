#!/usr/bin/env bash
# Runs moto's own tests in moto's "server mode" against a Rampart node, and
# prints a pass/fail summary. A manual tool, not part of CI: most failures are
# expected (tests that need services other than IAM and STS, and tests that
# lean on moto-only behaviour). Each failure is classified by a hint on its
# message or by scripts/moto-suite-judgements.txt, where failures read one by
# one are judged; the report ends with the pass rate over the tests that
# depend on neither, and names every open failure.
#
#   scripts/moto-suite.sh                        # the default access-control set
#   scripts/moto-suite.sh tests/test_core/test_auth.py
#   scripts/moto-suite.sh tests/test_iam/test_iam_policies.py -- -k invalid
#
# Arguments are moto test files or node ids, relative to the root of moto's
# source distribution; anything after `--` goes to pytest.
#
# What "server mode" means: with TEST_SERVER_MODE=true, moto's `mock_aws`
# decorator mocks nothing; it points every boto3 client it creates at
# TEST_SERVER_MODE_ENDPOINT, signs with FOOBARKEY/FOOBARSECRET and calls
# `POST /moto-api/reset` before and after each test. `set_initial_no_auth_action_count(n)`
# calls `POST /moto-api/reset-auth` with body `n` before the test (and with the
# returned PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT after it): in moto it lets the
# next n requests through without authentication. Rampart's --dev mode answers
# both endpoints (each returns the node to a fresh bootstrap, reset-auth
# included; it runs outside the test body, so no test data is lost), but
# always enforces SigV4 and IAM. The account root (FOOBARKEY) is unrestricted,
# as in AWS, so the warm-up rarely matters.
#
# Environment:
#   RAMPART_BIN          the binary to test (default target/release/rampart)
#   MOTO_VERSION         moto release whose tests to run (default: the version of
#                        moto importable by python3, else 5.2.1)
#   MOTO_EXTRAS          pip extras for moto (default s3: test_iam imports moto.s3)
#   MOTO_SUITE_CACHE     where the sdist, the venv and the runs go
#                        (default ${XDG_CACHE_HOME:-~/.cache}/rampart/moto-suite)
#   MOTO_SUITE_TIMEOUT   seconds per test file (default 900)
#   MOTO_SUITE_STRICT=1  exit 1 when any test fails (default: exit 0 once the run completes)
#
# Needs python3 with venv and network access to PyPI on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

default_tests=(
    tests/test_core/test_auth.py
    tests/test_iam/test_iam.py
    tests/test_iam/test_iam_groups.py
    tests/test_iam/test_iam_policies.py
    tests/test_iam/test_iam_access_integration.py
    tests/test_iam/test_iam_response_attributes.py
    tests/test_sts/test_sts.py
    tests/test_sts/test_sts_integration.py
)
# Not in the list: tests/test_*/test_server.py start moto's own server in-process
# (they never reach the endpoint), and test_core's other files test moto itself.

tests=()
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) tests+=("$1"); shift ;;
    esac
done
[ ${#tests[@]} -gt 0 ] || tests=("${default_tests[@]}")

bin=${RAMPART_BIN:-target/release/rampart}
case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
if [ ! -x "$bin" ]; then
    echo "moto-suite: no Rampart binary at $bin (build it, or set RAMPART_BIN)" >&2
    exit 2
fi

version=${MOTO_VERSION:-}
if [ -z "$version" ]; then
    version=$(python3 -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true)
fi
version=${version:-5.2.1}
extras=${MOTO_EXTRAS-s3}
cache=${MOTO_SUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rampart/moto-suite}
mkdir -p "$cache"

# moto's tests are not in its wheel: take them from the sdist.
src="$cache/moto-$version"
if [ ! -d "$src/tests" ]; then
    echo "moto-suite: downloading moto $version (sdist)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        -d "$cache/sdist" "moto==$version"
    sdist=$(ls "$cache"/sdist/moto-"$version".tar.gz)
    tar -xzf "$sdist" -C "$cache"
fi

# The same moto release (for the test helpers and moto's dependencies), pytest
# and what the tests import.
venv="$cache/venv-$version"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.ready-$extras" ]; then
    echo "moto-suite: preparing $venv"
    python3 -m venv "$venv"
    spec="moto==$version"
    [ -z "$extras" ] || spec="moto[$extras]==$version"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" pytest freezegun
    touch "$venv/.ready-$extras"
fi
py="$venv/bin/python"

run="$cache/runs/$(date +%Y%m%dT%H%M%S)"
mkdir -p "$run"
data=$(mktemp -d)
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"

# A clean environment for the node: dev defaults (FOOBARKEY / FOOBARSECRET, 123456789012).
env -u RAMPART_ACCOUNT_ID -u RAMPART_ROOT_ACCESS_KEY_ID -u RAMPART_ROOT_SECRET_ACCESS_KEY \
    "$bin" serve --dev --listen "127.0.0.1:$port" --data "$data" >"$run/rampart.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 100); do
    if ! kill -0 "$server" 2>/dev/null; then
        echo "moto-suite: rampart exited; its log:" >&2
        cat "$run/rampart.log" >&2
        exit 1
    fi
    if "$py" -c "import urllib.request as u; u.urlopen('$endpoint/_rampart/health', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

echo "moto-suite: moto $version tests against $bin at $endpoint; output in $run"

export TEST_SERVER_MODE=true TEST_SERVER_MODE_ENDPOINT="$endpoint"
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=FOOBARKEY AWS_SECRET_ACCESS_KEY=FOOBARSECRET
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL MOTO_TEST_ALLOW_AWS_REQUEST 2>/dev/null || true

timeout_cmd=()
if command -v timeout >/dev/null; then
    timeout_cmd=(timeout "${MOTO_SUITE_TIMEOUT:-900}")
fi

i=0
for t in "${tests[@]}"; do
    i=$((i + 1))
    name=$(printf '%03d-%s' "$i" "$(echo "$t" | tr '/:[]' '____')")
    echo "moto-suite: $t"
    (cd "$src" && ${timeout_cmd[@]+"${timeout_cmd[@]}"} "$py" -m pytest "$t" -p no:cacheprovider -o addopts= -q --color=no \
        --tb=short --junitxml="$run/$name.xml" ${pytest_args[@]+"${pytest_args[@]}"}) >"$run/$name.log" 2>&1 || true
    if [ ! -s "$run/$name.xml" ]; then
        echo "moto-suite:   no results (collection error or timeout); see $run/$name.log" >&2
    fi
done

"$py" - "$run" "$repo/scripts/moto-suite-judgements.txt" "${tests[@]}" <<'EOF'
import collections, glob, os, re, sys
import xml.etree.ElementTree as ET

run, judgements_path, tests = sys.argv[1], sys.argv[2], sys.argv[3:]
MOTO_ONLY, OTHER_SERVICE, OPEN = "moto-only", "another service", "open"
# Failures classified by their message: (reason, pattern, class).
HINTS = [
    ("IAM signed for a partition other than aws (moto accepts any region)",
     r"Credential should be scoped to a valid region", MOTO_ONLY),
    ("signed at a frozen past time (freezegun; moto does not check the date)",
     r"Signature expired", MOTO_ONLY),
    ("Path not of the form /.../ in the test (AWS refuses it too)",
     r"at 'path' failed to satisfy constraint", MOTO_ONLY),
    ("CreateRole with a trust policy that is not one (moto does not check it; AWS does)",
     r"CreateRole operation: Syntax errors in policy", MOTO_ONLY),
    ("needs a service outside IAM and STS (CloudFormation, S3, Config, DynamoDB)",
     r"Rampart does not serve the (service|target prefix)|Rampart does not implement config:", OTHER_SERVICE),
    ("an IAM or STS operation Rampart does not implement",
     r"Rampart does not (implement|serve)|UnknownOperationException", OPEN),
]

# The judgements file: "## reason" headings, test ids under them.
judged, reason = {}, None
with open(judgements_path) as f:
    for line in f:
        line = line.strip()
        if line.startswith("## "):
            reason = line[3:]
        elif line and not line.startswith("#") and reason:
            if reason.startswith("open: "):
                judged[line] = (reason[len("open: "):], OPEN)
            else:
                judged[line] = (reason, MOTO_ONLY)

def outcome(tc):
    for tag in ("failure", "error"):
        node = tc.find(tag)
        if node is not None:
            return "fail", (node.get("message") or "") + "\n" + (node.text or "")
    if tc.find("skipped") is not None:
        return "skip", ""
    return "pass", ""

totals, classes = collections.Counter(), collections.Counter()
rows, failures, stale = [], collections.defaultdict(list), []
for path in sorted(glob.glob(os.path.join(run, "*.xml"))):
    counts = collections.Counter()
    label = tests[int(os.path.basename(path)[:3]) - 1]
    for tc in ET.parse(path).iter("testcase"):
        state, text = outcome(tc)
        counts[state] += 1
        test_id = f"{tc.get('classname', '').split('.')[-1]}::{tc.get('name')}"
        if state == "pass" and test_id in judged:
            stale.append(test_id)
        if state == "fail":
            reason, cls = judged.get(test_id) or next(
                ((h, c) for h, rx, c in HINTS if re.search(rx, text)), ("not classified", OPEN))
            classes[cls] += 1
            first = (text.strip().splitlines() or [""])[0][:220]
            failures[(cls, reason)].append(f"{test_id}: {first}")
    rows.append((label, counts))
    totals.update(counts)

width = max([len(r[0]) for r in rows] + [5])
print()
print(f"{'file':<{width}}  pass  fail  skip")
for label, c in rows:
    print(f"{label:<{width}}  {c['pass']:>4}  {c['fail']:>4}  {c['skip']:>4}")
print(f"{'total':<{width}}  {totals['pass']:>4}  {totals['fail']:>4}  {totals['skip']:>4}")
order = {OPEN: 2, OTHER_SERVICE: 1, MOTO_ONLY: 0}
for cls, reason in sorted(failures, key=lambda k: (order[k[0]], k[1])):
    items = failures[(cls, reason)]
    print(f"\n== failed, {cls}: {reason} ({len(items)})")
    for line in items:
        print("  " + line)
for test_id in stale:
    print(f"\njudged a failure in {os.path.basename(judgements_path)} but passed: {test_id}")
counted = totals["pass"] + classes[OPEN]
print(f"\nfailures judged moto-only: {classes[MOTO_ONLY]}; needing a service outside IAM and STS: "
      f"{classes[OTHER_SERVICE]}; open: {classes[OPEN]}")
if counted:
    print(f"pass rate over the tests that do not depend on moto-only behaviour or other services: "
          f"{totals['pass']}/{counted} = {100 * totals['pass'] / counted:.1f}%")
print(f"\nper-file pytest output and JUnit XML: {run}")
sys.exit(1 if totals["fail"] and os.environ.get("MOTO_SUITE_STRICT") == "1" else 0)
EOF
