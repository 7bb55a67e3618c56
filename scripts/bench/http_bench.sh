#!/usr/bin/env bash
# HTTP benchmark (issue 3): wrk against GET /api/v1/health, GET /api/v1/tasks/{id} and POST /api/v1/tasks
# with a valid JWT, and against a bare h2o hello-world built here, all with the same wrk settings.
# Prints req/s and p99 latency for each and the ratio to the bare server.
#   scripts/bench/http_bench.sh [--bin build/agency] [--threads 2] [--duration 5] [--connections 64]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/agency THREADS=2 DURATION=5 CONNS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    -h|--help) sed -n 2,5p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
TMP=$(mktemp -d /tmp/agency-httpbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

# wrk prints latency percentiles with --latency; take Requests/sec and the 99% line
run_wrk() { # name url [lua-script]
  local name=$1 url=$2 script=${3:-}
  local out
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency ${script:+-s "$script"} "$url")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%s_req_per_s %s\n%s_p99 %s\n' "$name" "${rps%.*}" "$name" "$p99"
  [ -z "$non2xx" ] || printf '%s_non2xx %s\n' "$name" "$non2xx"
  eval "R_$name=${rps%.*}; P_$name=$p99"
}

echo "# http_bench: threads=$THREADS wrk=-t2/-c$CONNS/${DURATION}s bin=$BIN"
echo "# machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# bare h2o
gcc -O2 -o "$TMP/h2o_hello" scripts/bench/h2o_hello.c $(pkg-config --cflags --libs libh2o libuv) -lssl -lcrypto -lpthread
HP=$(free_port)
"$TMP/h2o_hello" "$HP" "$THREADS" & PIDS+=($!)
wait_http "http://127.0.0.1:$HP/"
run_wrk bare "http://127.0.0.1:$HP/"

# the engine, with a secret, and its rate limiter off (wrk is one client)
mkdir -p "$TMP/domains"
cp -r domains/* "$TMP/domains/"
mkdir -p "$TMP/domains/bench/tasks" "$TMP/domains/bench/agents"
echo 'return { agent = "noop", max_attempts = 1 }' > "$TMP/domains/bench/tasks/noop.lua"
echo 'return { name = "noop", run = function(task, ctx) return { ok = true } end }' > "$TMP/domains/bench/agents/noop.lua"
EP=$(free_port)
export AGENCY_LISTEN=127.0.0.1:$EP AGENCY_DATABASE_URL=sqlite:$TMP/bench.db AGENCY_DOMAINS=$TMP/domains \
       AGENCY_THREADS=$THREADS AGENCY_LOG_LEVEL=warn AGENCY_RATE_LIMIT=0 \
       AGENCY_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOKEN=$("$BIN" token --sub bench --scope "tasks:read tasks:write" --ttl 1h)
"$BIN" serve > "$TMP/engine.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$EP/api/v1/health"
ID=$(curl -s -X POST "http://127.0.0.1:$EP/api/v1/tasks" -H "Authorization: Bearer $TOKEN" \
     -H 'Content-Type: application/json' -d '{"type":"bench.noop","execute":true}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

cat > "$TMP/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"bench.noop","input":{"n":1}}'
LUA
run_wrk health "http://127.0.0.1:$EP/api/v1/health"
run_wrk get_task "http://127.0.0.1:$EP/api/v1/tasks/$ID" "$TMP/auth.lua"
run_wrk post_task "http://127.0.0.1:$EP/api/v1/tasks" "$TMP/post.lua"

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo
printf '%-22s %10s %10s %14s %s\n' endpoint req/s p99 "ratio to bare" target
printf '%-22s %10s %10s %14s %s\n' "bare h2o" "$R_bare" "$P_bare" 1.00 ""
printf '%-22s %10s %10s %14s %s\n' "GET /health" "$R_health" "$P_health" "$(ratio "$R_health" "$R_bare")" ">= 0.70 of bare"
printf '%-22s %10s %10s %14s %s\n' "GET /tasks/{id}" "$R_get_task" "$P_get_task" "$(ratio "$R_get_task" "$R_bare")" ">= 40000 req/s"
printf '%-22s %10s %10s %14s %s\n' "POST /tasks" "$R_post_task" "$P_post_task" "$(ratio "$R_post_task" "$R_bare")" ">= 20000 req/s"
echo "p99 target: under 10 ms at 64 connections"
