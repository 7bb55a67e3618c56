#!/usr/bin/env bash
# Queue benchmark: create N tasks over HTTP, then run them through a no-op Lua agent, and print the
# engine's rates beside what bare SQLite does on the same disk (sqlite_ceiling.c).
#
#   scripts/bench/queue_bench.sh [--tasks N] [--threads T] [--bin PATH]
#                                [--connections C] [--wrk-threads W] [--events-ceiling] [--keep]
#
# See scripts/bench/README.md for what is measured and how to read the output.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

TASKS=50000
THREADS=2
BIN="$ROOT/build/agency"
CONNS=64
WRK_THREADS=2
EVENTS_CEILING=0
KEEP=0

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) TASKS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --wrk-threads) WRK_THREADS="$2"; shift 2 ;;
    --events-ceiling) EVENTS_CEILING=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "queue_bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

case "$TASKS$THREADS$CONNS$WRK_THREADS" in *[!0-9]*) echo "queue_bench: numeric options expected" >&2; exit 2 ;; esac
[ "$TASKS" -gt 0 ] && [ "$THREADS" -gt 0 ] && [ "$WRK_THREADS" -gt 0 ] && [ "$CONNS" -ge "$WRK_THREADS" ] ||
  { echo "queue_bench: --tasks/--threads/--wrk-threads must be > 0 and --connections >= --wrk-threads" >&2; exit 2; }
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
[ -x "$BIN" ] || { echo "queue_bench: engine binary $BIN not found (build it: cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
[ -f /usr/include/sqlite3.h ] || need_apt+=(libsqlite3-dev)
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "queue_bench: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null; }
fi

# --- temp dir, cleanup ---------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/agency-bench.XXXXXX")"
DB="$TMP/bench.db"
LOG="$TMP/engine.log"
ENGINE_PID=""
WRK_PID=""

stop_engine() {
  # SIGTERM our own engine (by pid), wait for it, SIGKILL after 30 s.
  [ -n "$ENGINE_PID" ] || return 0
  if kill -0 "$ENGINE_PID" 2>/dev/null; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$ENGINE_PID" 2>/dev/null; then
      echo "queue_bench: engine $ENGINE_PID ignored SIGTERM for 30 s, killing it" >&2
      kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
  fi
  wait "$ENGINE_PID" 2>/dev/null && ENGINE_RC=0 || ENGINE_RC=$?
  ENGINE_PID=""
}

cleanup() {
  local rc=$?
  if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  stop_engine || true
  if [ "$KEEP" -eq 1 ] || [ "$rc" -ne 0 ]; then
    [ "$rc" -ne 0 ] && [ -s "$LOG" ] && { echo "--- last lines of the engine log ($LOG):" >&2; tail -n 20 "$LOG" >&2; }
    if [ "$KEEP" -eq 1 ]; then echo "queue_bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { echo "$EPOCHREALTIME"; }                       # seconds, microsecond resolution (bash 5)
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }
fint() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print 0; else printf "%.0f", a / b }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sq() { sqlite3 -cmd ".timeout 5000" "$DB" "$@"; }

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    while :; do
      p=$((20000 + RANDOM % 40000))
      ss -ltn "sport = :$p" 2>/dev/null | grep -q ":$p" || { echo "$p"; return; }
    done
  fi
}

start_engine() {
  # Starts the engine in the background and waits until /api/v1/health answers 200.
  # Sets ENGINE_PID, PORT, T_LAUNCH, T_READY.
  PORT="$(free_port)"
  T_LAUNCH="$(now)"
  env -u AGENCY_CONFIG \
    AGENCY_LISTEN="127.0.0.1:$PORT" \
    AGENCY_DATABASE_URL="sqlite:$DB" \
    AGENCY_DOMAINS="$TMP/domains" \
    AGENCY_THREADS="$THREADS" \
    AGENCY_LOG_LEVEL=warn AGENCY_RATE_LIMIT=0 \
    "$BIN" serve >>"$LOG" 2>&1 &
  ENGINE_PID=$!
  local i
  for i in $(seq 1 3000); do   # 30 s
    if curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/api/v1/health" 2>/dev/null | grep -q '^200$'; then
      T_READY="$(now)"
      return 0
    fi
    kill -0 "$ENGINE_PID" 2>/dev/null || { echo "queue_bench: engine exited during startup" >&2; ENGINE_PID=""; exit 1; }
    sleep 0.01
  done
  echo "queue_bench: engine did not answer /api/v1/health within 30 s" >&2
  exit 1
}

# both phases run one build even when build/agency is rebuilt mid-run
cp "$BIN" "$TMP/agency"
BIN_ORIG="$BIN"
BIN="$TMP/agency"

# --- the bench domain ----------------------------------------------------------------------------
mkdir -p "$TMP/domains/bench/tasks" "$TMP/domains/bench/agents"
cat >"$TMP/domains/bench/tasks/noop.lua" <<'EOF'
return { agent = "noop", max_attempts = 1 }
EOF
cat >"$TMP/domains/bench/agents/noop.lua" <<'EOF'
return { name = "noop", run = function(task, ctx) return { ok = true } end }
EOF

echo "# queue_bench: tasks=$TASKS engine_threads=$THREADS wrk=-t$WRK_THREADS/-c$CONNS bin=$BIN_ORIG ($(date -u -r "$BIN_ORIG" +%FT%TZ), sha256 $(sha256sum "$BIN" | cut -c1-12))"
echo "# machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), tmp=$TMP ($(df -PT "$TMP" | awk 'NR == 2 { print $2 }'))"

# --- 0. SQLite ceiling ---------------------------------------------------------------------------
gcc -O2 -std=c17 -o "$TMP/sqlite_ceiling" "$HERE/sqlite_ceiling.c" -lsqlite3
ceiling_args=(-n "$TASKS" -d "$TMP")
[ "$EVENTS_CEILING" -eq 1 ] && ceiling_args+=(--events)
echo "# phase 0: bare SQLite ceiling ($TASKS rows)"
"$TMP/sqlite_ceiling" "${ceiling_args[@]}" | tee "$TMP/ceiling.out"
SQL_INSERT="$(awk '$1 == "sqlite_insert_per_s" { print $2 }' "$TMP/ceiling.out")"
SQL_CLAIM="$(awk '$1 == "sqlite_claim_complete_per_s" { print $2 }' "$TMP/ceiling.out")"

# --- 1. HTTP creation ----------------------------------------------------------------------------
echo "# phase 1: HTTP creation of $TASKS pending tasks"
start_engine
echo "engine_startup_ms $(awk -v a="$T_LAUNCH" -v b="$T_READY" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
sleep 1
IDLE_RSS="$(status_kb "$ENGINE_PID" VmRSS)"
echo "idle_rss_kb $IDLE_RSS"
# fail early, and readably, if the bench task type did not load
probe="$(curl -s -X POST -H 'Content-Type: application/json' --data '{"type":"bench.noop","input":{"i":-1},"execute":false}' \
  -w '\n%{http_code}' "http://127.0.0.1:$PORT/api/v1/tasks")"
[ "${probe##*$'\n'}" = "201" ] || { echo "queue_bench: probe POST failed: $probe" >&2; exit 1; }
sq "DELETE FROM tasks" >/dev/null

quota=$(( (TASKS + WRK_THREADS - 1) / WRK_THREADS ))
wrk_secs=$(( TASKS / 100 + 60 ))   # an upper bound only: each wrk thread stops after its quota
mkdir -p "$TMP/markers"
T1="$(now)"
wrk -t"$WRK_THREADS" -c"$CONNS" -d"${wrk_secs}s" -T30s -s "$HERE/create_tasks.lua" \
  "http://127.0.0.1:$PORT" -- "$quota" "$TMP/markers" >"$TMP/wrk.out" 2>&1 &
WRK_PID=$!
# wrk's main thread sleeps for all of -d even after every thread stopped; SIGINT ends that sleep
while kill -0 "$WRK_PID" 2>/dev/null; do
  if [ "$(find "$TMP/markers" -name 'wrk-done.*' | wc -l)" -ge "$WRK_THREADS" ]; then
    kill -INT "$WRK_PID" 2>/dev/null || true
    break
  fi
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "queue_bench: engine died during HTTP creation" >&2; kill -INT "$WRK_PID"; ENGINE_PID=""; exit 1; }
  sleep 0.02
done
wait "$WRK_PID" || { cat "$TMP/wrk.out" >&2; echo "queue_bench: wrk failed" >&2; exit 1; }
WRK_PID=""
T2="$(now)"
grep -E '^wrk_' "$TMP/wrk.out" || { cat "$TMP/wrk.out" >&2; exit 1; }
WRK_US="$(awk '$1 == "wrk_elapsed_us" { print $2 }' "$TMP/wrk.out")"
if [ -z "$WRK_US" ] || [ "$WRK_US" -le 0 ]; then
  echo "queue_bench: wrk reported no elapsed time (did every thread reach its quota?); using the wall clock" >&2
  WRK_US="$(awk -v a="$T1" -v b="$T2" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')"
fi
CREATED="$(sq "SELECT count(*) FROM tasks")"
PENDING="$(sq "SELECT count(*) FROM tasks WHERE state = 'pending'")"
echo "db_tasks_created $CREATED"
echo "db_tasks_pending $PENDING"
HTTP_CREATE="$(fint "$CREATED" "$(awk -v u="$WRK_US" 'BEGIN { print u / 1e6 }')")"
echo "http_create_seconds $(awk -v u="$WRK_US" 'BEGIN { printf "%.3f", u / 1e6 }')"
echo "http_create_per_s $HTTP_CREATE"
HWM1="$(status_kb "$ENGINE_PID" VmHWM)"
echo "phase1_peak_rss_kb $HWM1"
stop_engine
echo "engine_exit_status_phase1 $ENGINE_RC"

if [ "$CREATED" -lt "$TASKS" ]; then
  echo "queue_bench: only $CREATED of $TASKS tasks were created; processing those" >&2
  N="$CREATED"
else
  N="$TASKS"
fi
[ "$N" -gt 0 ] || { echo "queue_bench: no tasks were created" >&2; exit 1; }

# --- 2. processing -------------------------------------------------------------------------------
echo "# phase 2: processing $N queued tasks"
# trim the few extra tasks wrk's in-flight requests created, queue the rest, start from a clean WAL
sq "DELETE FROM tasks WHERE id NOT IN (SELECT id FROM tasks ORDER BY id LIMIT $N);
    UPDATE tasks SET state = 'queued' WHERE state <> 'queued';
    PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
QUEUED="$(sq "SELECT count(*) FROM tasks WHERE state = 'queued'")"
echo "db_tasks_queued $QUEUED"

start_engine
T_START="$T_READY"
# both counts walk a partial index (tasks_ready, tasks_leases), so the poll stays cheap
deadline=$(( $(date +%s) + N / 100 + 120 ))
while :; do
  left="$(sq "SELECT (SELECT count(*) FROM tasks WHERE state IN ('queued','failed')) + (SELECT count(*) FROM tasks WHERE state = 'running')" 2>/dev/null || echo "?")"
  if [ "$left" = "0" ]; then T_DONE="$(now)"; break; fi
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "queue_bench: engine died while processing ($left tasks left)" >&2; ENGINE_PID=""; exit 1; }
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "queue_bench: gave up waiting; $left tasks still queued/running" >&2
    sq "SELECT state, count(*) FROM tasks GROUP BY state" >&2
    exit 1
  fi
  sleep 0.05
done
SUCCEEDED="$(sq "SELECT count(*) FROM tasks WHERE state = 'succeeded'")"
echo "db_tasks_succeeded $SUCCEEDED"
if [ "$SUCCEEDED" -ne "$N" ]; then
  echo "queue_bench: WARNING: $SUCCEEDED of $N tasks succeeded; states:" >&2
  sq "SELECT state, count(*) FROM tasks GROUP BY state" >&2
fi
PROC_SECS="$(awk -v a="$T_START" -v b="$T_DONE" 'BEGIN { printf "%.3f", b - a }')"
PROCESS="$(fint "$N" "$PROC_SECS")"
echo "process_seconds $PROC_SECS"
echo "process_per_s $PROCESS"
echo "process_from_launch_per_s $(fint "$N" "$(awk -v a="$T_LAUNCH" -v b="$T_DONE" 'BEGIN { print b - a }')")"
sleep 1
AFTER_RSS="$(status_kb "$ENGINE_PID" VmRSS)"
HWM2="$(status_kb "$ENGINE_PID" VmHWM)"
echo "phase2_peak_rss_kb $HWM2"
echo "rss_after_load_kb $AFTER_RSS"
stop_engine
echo "engine_exit_status_phase2 $ENGINE_RC"

PEAK=$(( HWM1 > HWM2 ? HWM1 : HWM2 ))
echo "peak_rss_kb $PEAK"
PROC_RATIO="$(fdiv "$PROCESS" "$SQL_CLAIM")"
CREATE_RATIO="$(fdiv "$HTTP_CREATE" "$SQL_INSERT")"
echo "process_vs_sqlite_ceiling $PROC_RATIO"
echo "create_vs_sqlite_insert_ceiling $CREATE_RATIO"

WARNS="$(grep -ciE '"level" *: *"(warn|error)"|\b(WARN|ERROR)\b' "$LOG" || true)"
echo "engine_log_warn_error_lines $WARNS"
if [ "$WARNS" -gt 0 ]; then
  echo "# first engine log lines at warn/error:"
  grep -iE '"level" *: *"(warn|error)"|\b(WARN|ERROR)\b' "$LOG" | head -n 5 | sed 's/^/#   /'
fi

# --- summary ---------------------------------------------------------------------------------------
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v < t); print ok ? "PASS" : "FAIL" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
echo
printf '%-22s %14s %12s %24s %8s %6s\n' "metric" "engine" "target" "bare SQLite ceiling" "ratio" ""
printf '%-22s %14s %12s %24s %8s %6s\n' "HTTP creation (t/s)" "$HTTP_CREATE" ">= 20000" "$SQL_INSERT insert/s" "$CREATE_RATIO" "$(verdict "$HTTP_CREATE" 20000 '>=')"
printf '%-22s %14s %12s %24s %8s %6s\n' "processing (t/s)" "$PROCESS" ">= 80000" "$SQL_CLAIM claim+done/s" "$PROC_RATIO" "$(verdict "$PROCESS" 80000 '>=')"
printf '%-22s %14s %12s %24s %8s %6s\n' "idle RSS" "$(mb "$IDLE_RSS")" "< 20 MB" "-" "-" "$(verdict "$IDLE_RSS" 20480 '<')"
printf '%-22s %14s %12s %24s %8s %6s\n' "peak RSS" "$(mb "$PEAK")" "-" "-" "-" ""
