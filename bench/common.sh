# What the load benchmarks share (sourced by bench/load.sh and bench/kms.sh):
# the tools (installed when missing), the binary, a work directory whose
# servers stop at exit, free ports, and nginx answering 200 as the ceiling.
# Expects $duration and $connections; $extra_packages names more Debian
# packages the caller needs.
missing=()
for package in wrk nginx ${extra_packages:-}; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
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

# nginx answering 200 to everything on port $1: the ceiling of this
# machine's loopback HTTP (two workers, unlimited keep-alive).
start_nginx() {
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
    server { listen 127.0.0.1:$1; location / { return 200 "ok"; } }
}
CONF
    $(command -v nginx || echo /usr/sbin/nginx) -c "$work/nginx/nginx.conf" -g 'daemon off;' & pids+=($!)
    wait_http "http://127.0.0.1:$1/"
}

# Requests per second of wrk replaying $work/$1.lua against port $2; any
# non-2xx answer voids the run.
wrk_rate() {
    local out
    out=$(wrk -t"${THREADS:-1}" -c"$connections" -d"${duration}s" -s "$work/$1.lua" "http://127.0.0.1:$2/")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$1: some responses were errors, the measurement is void:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
