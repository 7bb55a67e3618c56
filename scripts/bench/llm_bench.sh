#!/usr/bin/env bash
# LLM benchmark (issue 4): N tasks, each making ONE llm.chat call to a fake OpenAI provider that answers
# after 1 s, all released at once on T loop threads; prints wall time, calls/s, the fake's peak of
# concurrent requests, peak RSS and engine CPU per call, beside a baseline run of N no-op tasks.
#
#   scripts/bench/llm_bench.sh [--tasks N] [--threads T] [--bin PATH] [--delay-ms D]
#                              [--release run_at|execute] [--release-delay S] [--concurrency C]
#                              [--claim-batch B] [--connections C] [--wrk-threads W] [--no-baseline]
#                              [--nice N] [--no-calibrate] [--perf] [--keep]
#
# See scripts/bench/README.md ("LLM benchmark") for what is measured and how to read the output.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

TASKS=10000
THREADS=2
BIN="$ROOT/build/agency"
DELAY_MS=1000
RELEASE=run_at
RELEASE_DELAY=""
CONCURRENCY=""
CLAIM_BATCH=""
CONNS=64
WRK_THREADS=2
BASELINE=1
PERF=0
KEEP=0
NICE=""
CALIBRATE=1

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) TASKS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --delay-ms) DELAY_MS="$2"; shift 2 ;;
    --release) RELEASE="$2"; shift 2 ;;
    --release-delay) RELEASE_DELAY="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --claim-batch) CLAIM_BATCH="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --wrk-threads) WRK_THREADS="$2"; shift 2 ;;
    --no-baseline) BASELINE=0; shift ;;
    --nice) NICE="$2"; shift 2 ;;
    --no-calibrate) CALIBRATE=0; shift ;;
    --perf) PERF=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "llm_bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

case "$TASKS$THREADS$DELAY_MS$RELEASE_DELAY$CONCURRENCY$CLAIM_BATCH$CONNS$WRK_THREADS" in
  *[!0-9]*) echo "llm_bench: numeric options expected" >&2; exit 2 ;;
esac
case "$NICE" in ""|-[0-9]*|[0-9]*) ;; *) echo "llm_bench: --nice takes an integer" >&2; exit 2 ;; esac
NICE_CMD=()
[ -n "$NICE" ] && NICE_CMD=(nice -n "$NICE")
case "$RELEASE" in run_at|execute) ;; *) echo "llm_bench: --release is run_at or execute" >&2; exit 2 ;; esac
[ "$TASKS" -gt 0 ] && [ "$THREADS" -gt 0 ] && [ "$WRK_THREADS" -gt 0 ] && [ "$CONNS" -ge "$WRK_THREADS" ] ||
  { echo "llm_bench: --tasks/--threads/--wrk-threads must be > 0 and --connections >= --wrk-threads" >&2; exit 2; }
[ "$WRK_THREADS" -le "$TASKS" ] || WRK_THREADS="$TASKS"
[ "$CONNS" -le "$TASKS" ] || CONNS="$TASKS"
# every task of the run may sit on one thread: no concurrency cap below N unless asked for
[ -n "$CONCURRENCY" ] || CONCURRENCY=$(( TASKS > 1024 ? TASKS : 1024 ))
# run_at mode: seconds between setting run_at (engine stopped) and the release; covers the engine's restart
[ -n "$RELEASE_DELAY" ] || RELEASE_DELAY=5
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac

# --- build check -------------------------------------------------------------------------------------
[ -x "$BIN" ] || { echo "llm_bench: engine binary $BIN not found (build it: cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }
STALE="$(find "$ROOT/engine" "$ROOT/api" "$ROOT/migrations" -newer "$BIN" -type f \( -name '*.c' -o -name '*.h' -o -name '*.lua' -o -name '*.sql' -o -name '*.yaml' \) 2>/dev/null | head -n 3 || true)"
if [ -n "$STALE" ]; then
  echo "llm_bench: WARNING: $BIN is older than these sources (rebuild for current figures):" >&2
  echo "$STALE" | sed 's/^/  /' >&2
fi
FAKE_JS="$ROOT/tests/fakes/fake_llm.js"
[ -f "$FAKE_JS" ] || { echo "llm_bench: $FAKE_JS not found" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
if [ "$CALIBRATE" -eq 1 ]; then
  command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
  [ -f /usr/include/sqlite3.h ] || need_apt+=(libsqlite3-dev)
fi
if [ "$PERF" -eq 1 ] && ! command -v perf >/dev/null 2>&1; then need_apt+=(linux-perf); fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "llm_bench: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null; }
fi

# --- open files: one socket per call in flight in the engine, one per connection in the fake ----------
NOFILE_WANT=65536
ulimit -n "$NOFILE_WANT" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE="$(ulimit -n)"
if [ "$NOFILE" != "unlimited" ] && [ "$NOFILE" -lt "$NOFILE_WANT" ]; then
  echo "llm_bench: note: ulimit -n could only be raised to $NOFILE (hard limit $(ulimit -Hn); $NOFILE_WANT wanted)" >&2
fi
if [ "$NOFILE" != "unlimited" ] && [ "$NOFILE" -lt $(( TASKS + 512 )) ]; then
  echo "llm_bench: ulimit -n is $NOFILE, too low for $TASKS concurrent calls (each holds a socket in the engine and in the fake)" >&2
  exit 1
fi

# --- temp dir, cleanup -----------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/agency-llmbench.XXXXXX")"
LOG="$TMP/engine.log"
ENGINE_PID=""
FAKE_PID=""
WRK_PID=""
POLL_PID=""
PERF_PID=""

stop_pid() {
  # SIGTERM one of our own processes (by pid), wait for it, SIGKILL after 30 s; sets STOP_RC
  local pid="$1" name="$2" i
  STOP_RC=0
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "llm_bench: $name $pid ignored SIGTERM for 30 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null && STOP_RC=0 || STOP_RC=$?
}

stop_engine() { stop_pid "$ENGINE_PID" engine; ENGINE_RC=$STOP_RC; ENGINE_PID=""; }

cleanup() {
  local rc=$?
  if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  if [ -n "$POLL_PID" ]; then kill -TERM "$POLL_PID" 2>/dev/null || true; wait "$POLL_PID" 2>/dev/null || true; fi
  if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
  stop_engine || true
  stop_pid "$FAKE_PID" fake || true
  if [ "$KEEP" -eq 1 ] || [ "$rc" -ne 0 ]; then
    [ "$rc" -ne 0 ] && [ -s "$LOG" ] && { echo "--- last lines of the engine log ($LOG):" >&2; tail -n 20 "$LOG" >&2; }
    if [ "$KEEP" -eq 1 ]; then echo "llm_bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { echo "$EPOCHREALTIME"; }                       # seconds, microsecond resolution (bash 5)
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
calc() { awk "BEGIN { $1 }"; }
iso_ms() { date -u -d "@$(calc "printf \"%.3f\", $1 / 1000")" +%Y-%m-%dT%H:%M:%S.%3NZ; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# the binary is copied, so both runs use one build even when it is rebuilt meanwhile
cp "$BIN" "$TMP/agency"
BIN_ORIG="$BIN"
BIN="$TMP/agency"
cp -r "$HERE/domains" "$TMP/domains"

# --- the completion poller: one python3 process (no process spawned per poll, so the 2 cores stay the engine's)
cat >"$TMP/poll.py" <<'EOF'
# poll.py PID FAKE_PID DB RELEASE_MS READY_FILE TIMEOUT_S
# Samples the engine's (and the fake's) CPU time just before the release, then polls the store every 10 ms
# until no task is pending, queued, running or failed; samples again at once. Prints `key value` lines.
import os, sqlite3, sys, time
pid, fake, db, release_ms, ready, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
tck = os.sysconf("SC_CLK_TCK")
def cpu(p):  # utime + stime of the whole process, in ms
    f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000.0 / tck
def threads(p):
    out = {}
    for t in sorted(os.listdir("/proc/%s/task" % p), key=int):
        try:
            f = open("/proc/%s/task/%s/stat" % (p, t)).read().rsplit(")", 1)[1].split()
            out[t] = (int(f[11]) + int(f[12])) * 1000.0 / tck
        except OSError:
            pass
    return out
def sched(p):  # summed over threads: ns on a CPU, ns runnable but waiting for one (/proc/.../schedstat)
    run = wait = 0
    for t in os.listdir("/proc/%s/task" % p):
        try:
            f = open("/proc/%s/task/%s/schedstat" % (p, t)).read().split()
            run += int(f[0]); wait += int(f[1])
        except (OSError, IndexError, ValueError):
            pass
    return run, wait
def netstat():  # system-wide TCP counters (a short window on loopback: mostly this benchmark's traffic)
    out = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for names, values in zip(lines[0::2], lines[1::2]):
            prefix, names = names.split(":", 1)
            for k, v in zip(names.split(), values.split(":", 1)[1].split()):
                out[prefix + k] = int(v)
    return out
def kb(p, key):
    for line in open("/proc/%s/status" % p):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
if release_ms > 0:
    wake = release_ms / 1000.0 - 0.3
    while time.time() < wake:
        time.sleep(min(0.05, max(0.0, wake - time.time())))
c0, f0, t0, rss0, s0, fs0, n0 = cpu(pid), cpu(fake), threads(pid), kb(pid, "VmRSS"), sched(pid), sched(fake), netstat()
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
open(ready, "w").close()
q = ("SELECT (SELECT count(*) FROM tasks WHERE state IN ('queued','failed')) + "
     "(SELECT count(*) FROM tasks WHERE state = 'running') + (SELECT count(*) FROM tasks WHERE state = 'pending')")
deadline = time.time() + timeout
left, polls = -1, 0
while True:
    if release_ms > 0 and time.time() * 1000 < release_ms - 50:
        time.sleep(0.01)
        continue
    try:
        left = con.execute(q).fetchone()[0]
    except sqlite3.OperationalError:
        left = -1
    polls += 1
    if left == 0 or time.time() > deadline:
        break
    try:
        os.kill(int(pid), 0)
    except OSError:
        break
    time.sleep(0.01)
t_done = time.time()
c1, f1, t1, s1, fs1, n1 = cpu(pid), cpu(fake), threads(pid), sched(pid), sched(fake), netstat()
print("poll_left %d" % left)
print("poll_count %d" % polls)
print("poll_done_ms %.0f" % (t_done * 1000))
print("rss_before_release_kb %d" % rss0)
print("engine_cpu_ms %.0f" % (c1 - c0))
print("fake_cpu_ms %.0f" % (f1 - f0))
print("engine_sched_run_ms %.0f" % ((s1[0] - s0[0]) / 1e6))
print("engine_sched_wait_ms %.0f" % ((s1[1] - s0[1]) / 1e6))
print("fake_sched_wait_ms %.0f" % ((fs1[1] - fs0[1]) / 1e6))
for k, name in (("TcpExtListenOverflows", "listen_overflows"), ("TcpExtListenDrops", "listen_drops"),
                ("TcpRetransSegs", "tcp_retrans_segs"), ("TcpActiveOpens", "tcp_active_opens")):
    print("net_%s %d" % (name, n1.get(k, 0) - n0.get(k, 0)))
print("engine_threads_cpu_ms %s" % " ".join("%s:%.0f" % (t, t1[t] - t0.get(t, 0)) for t in t1))
EOF

start_fake() {
  ${NICE_CMD[@]+"${NICE_CMD[@]}"} node "$FAKE_JS" --port 0 --delay-ms "$DELAY_MS" --no-log >"$TMP/fake.out" 2>"$TMP/fake.err" &
  FAKE_PID=$!
  local i
  for i in $(seq 1 1000); do   # 10 s
    FAKE_PORT="$(awk '$1 == "listening" { print $2 }' "$TMP/fake.out" 2>/dev/null)"
    [ -n "$FAKE_PORT" ] && return 0
    kill -0 "$FAKE_PID" 2>/dev/null || { cat "$TMP/fake.err" >&2; echo "llm_bench: the fake provider exited" >&2; FAKE_PID=""; exit 1; }
    sleep 0.01
  done
  echo "llm_bench: the fake provider did not print 'listening <port>' within 10 s" >&2
  exit 1
}

start_engine() {
  # start_engine DB: starts the engine in the background, waits until /api/v1/health answers 200. Sets ENGINE_PID, PORT.
  PORT="$(free_port)"
  local extra=()
  [ -n "$CLAIM_BATCH" ] && extra+=(AGENCY_CLAIM_BATCH="$CLAIM_BATCH")
  echo "--- engine on $1" >>"$LOG"
  ${NICE_CMD[@]+"${NICE_CMD[@]}"} env -u AGENCY_CONFIG \
    AGENCY_LISTEN="127.0.0.1:$PORT" \
    AGENCY_DATABASE_URL="sqlite:$1" \
    AGENCY_DOMAINS="$TMP/domains" \
    AGENCY_THREADS="$THREADS" \
    AGENCY_WORKER_CONCURRENCY="$CONCURRENCY" \
    AGENCY_LOG_LEVEL=warn AGENCY_RATE_LIMIT=0 \
    AGENCY_LLM_PROVIDER=openai AGENCY_LLM_MODEL=bench-model \
    OPENAI_BASE_URL="http://127.0.0.1:$FAKE_PORT/v1" OPENAI_API_KEY=bench-not-a-key \
    AGENCY_LLM_CONCURRENCY=0 AGENCY_LLM_RPM=0 AGENCY_LLM_TPM=0 AGENCY_LLM_RETRIES=0 AGENCY_LLM_TIMEOUT=60 \
    ${extra[@]+"${extra[@]}"} \
    "$BIN" serve >>"$LOG" 2>&1 &
  ENGINE_PID=$!
  local deadline=$(( $(date +%s) + 30 ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    if curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/api/v1/health" 2>/dev/null | grep -q '^200$'; then
      return 0
    fi
    kill -0 "$ENGINE_PID" 2>/dev/null || { echo "llm_bench: engine exited during startup" >&2; ENGINE_PID=""; exit 1; }
    sleep 0.01
  done
  echo "llm_bench: engine did not answer /api/v1/health within 30 s" >&2
  exit 1
}

run_wrk() {
  # run_wrk OUT ARGS...: wrk with llm_tasks.lua until every thread has its share; stops wrk's sleep with SIGINT
  local out="$1"; shift
  rm -rf "$TMP/markers"; mkdir -p "$TMP/markers"
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"$(( TASKS / 100 + 60 ))s" -T30s -s "$HERE/llm_tasks.lua" \
    "http://127.0.0.1:$PORT" -- "$1" "$TASKS" "$WRK_THREADS" "$TMP/markers" "${@:2}" >"$out" 2>&1 &
  WRK_PID=$!
  while kill -0 "$WRK_PID" 2>/dev/null; do
    if [ "$(find "$TMP/markers" -name 'wrk-done.*' | wc -l)" -ge "$WRK_THREADS" ]; then
      kill -INT "$WRK_PID" 2>/dev/null || true
      break
    fi
    kill -0 "$ENGINE_PID" 2>/dev/null || { echo "llm_bench: engine died under wrk" >&2; kill -INT "$WRK_PID"; ENGINE_PID=""; exit 1; }
    sleep 0.02
  done
  wait "$WRK_PID" || { cat "$out" >&2; echo "llm_bench: wrk failed" >&2; exit 1; }
  WRK_PID=""
  local ok bad
  ok="$(awk '$1 == "wrk_ok" { print $2 }' "$out")"
  bad="$(awk '$1 == "wrk_bad" { print $2 }' "$out")"
  if [ "${ok:-0}" -ne "$TASKS" ] || [ "${bad:-1}" -ne 0 ]; then
    cat "$out" >&2
    echo "llm_bench: wrk $1: $ok of $TASKS requests answered as expected" >&2
    exit 1
  fi
}

kv() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$2"; }

# run_phase NAME TYPE: one engine on a fresh database; creates TASKS tasks of TYPE, releases them at once,
# waits until none is left and writes `key value` lines to $TMP/NAME.out
run_phase() {
  local name="$1" type="$2" db="$TMP/$1.db" out="$TMP/$1.out"
  : >"$out"
  start_engine "$db"
  sleep 0.5
  local idle_rss; idle_rss="$(status_kb "$ENGINE_PID" VmRSS)"
  # probe: one task of the type must succeed (for llm_once, through the fake: the whole path works)
  local probe
  probe="$(curl -s -X POST -H 'Content-Type: application/json' --data "{\"type\":\"$type\",\"input\":{\"i\":-1},\"execute\":false}" \
    "http://127.0.0.1:$PORT/api/v1/tasks")"
  PROBE_ID="$(printf '%s' "$probe" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null || true)"
  [ -n "$PROBE_ID" ] || { echo "llm_bench: probe POST of $type failed: $probe" >&2; exit 1; }
  probe="$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/tasks/$PROBE_ID/execute?wait=$(( DELAY_MS / 1000 + 10 ))")"
  case "$probe" in *'"status":"succeeded"'*) ;; *) echo "llm_bench: probe task $PROBE_ID of $type did not succeed: $probe" >&2; exit 1 ;; esac
  curl -s -X POST "http://127.0.0.1:$FAKE_PORT/_control/reset" >/dev/null
  echo "idle_rss_kb $idle_rss" >>"$out"

  # create. run_at mode: queued tasks due in a day; the engine is then stopped, every task's run_at set to
  # one instant a few seconds ahead, and a fresh engine started, which starts them all at that instant.
  # execute mode: pending tasks, made executable below by one execute request each.
  local release_ms=0
  if [ "$RELEASE" = "run_at" ]; then
    run_wrk "$TMP/$name.create.out" create "$type" "$(iso_ms "$(calc "printf \"%.0f\", ($(now) + 86400) * 1000")")"
  else
    run_wrk "$TMP/$name.create.out" create "$type" -
  fi
  echo "create_seconds $(calc "printf \"%.3f\", $(kv wrk_elapsed_us "$TMP/$name.create.out") / 1e6")" >>"$out"
  local created; created="$(sqlite3 -cmd ".timeout 5000" "$db" "SELECT count(*) FROM tasks WHERE id > $PROBE_ID")"
  [ "$created" -eq "$TASKS" ] || { echo "llm_bench: $created tasks in the store, $TASKS expected" >&2; exit 1; }
  if [ "$RELEASE" = "run_at" ]; then
    stop_engine
    [ "$ENGINE_RC" -eq 0 ] || { echo "llm_bench: the engine exited with status $ENGINE_RC after creating the tasks" >&2; exit 1; }
    local t0_ms t1_ms ready_ms
    t0_ms="$(calc "printf \"%.0f\", $(now) * 1000")"
    release_ms=$(( t0_ms + RELEASE_DELAY * 1000 ))
    sqlite3 -cmd ".timeout 5000" "$db" "UPDATE tasks SET run_at = $release_ms WHERE id > $PROBE_ID AND state = 'queued';
      PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    t1_ms="$(calc "printf \"%.0f\", $(now) * 1000")"
    start_engine "$db"
    ready_ms="$(calc "printf \"%.0f\", $(now) * 1000")"
    echo "release_update_ms $(( t1_ms - t0_ms ))" >>"$out"
    echo "release_restart_ms $(( ready_ms - t1_ms ))" >>"$out"
    if [ $(( release_ms - ready_ms )) -lt 300 ]; then
      echo "llm_bench: the run_at update took $(( t1_ms - t0_ms )) ms and the restart $(( ready_ms - t1_ms )) ms: too close to the release instant; use a larger --release-delay (now $RELEASE_DELAY s)" >&2
      exit 1
    fi
  fi

  # release and measure
  rm -f "$TMP/poll.ready"
  python3 "$TMP/poll.py" "$ENGINE_PID" "$FAKE_PID" "$db" "$release_ms" "$TMP/poll.ready" \
    "$(( TASKS / 100 + DELAY_MS / 1000 * 3 + 120 ))" >"$TMP/$name.poll" &
  POLL_PID=$!
  if [ "$PERF" -eq 1 ] && [ "$name" = "llm" ]; then
    # profile the engine over the execution phase only (starts just before the release)
    if [ "$RELEASE" = "run_at" ]; then
      while [ "$(calc "printf \"%d\", $(now) * 1000 < $release_ms - 200")" = 1 ]; do sleep 0.01; done
    fi
    # shellcheck disable=SC2086
    perf record ${LLM_BENCH_PERF_ARGS:--F 2000 -g} -p "$ENGINE_PID" -o "$TMP/perf.data" >"$TMP/perf.log" 2>&1 &
    PERF_PID=$!
    sleep 0.2
  fi
  local start_ms
  if [ "$RELEASE" = "run_at" ]; then
    start_ms="$release_ms"
  else
    while [ ! -e "$TMP/poll.ready" ]; do sleep 0.005; done
    run_wrk "$TMP/$name.execute.out" execute "$(( PROBE_ID + 1 ))"
    start_ms="$(calc "printf \"%.0f\", $(kv wrk_start_us "$TMP/$name.execute.out") / 1000")"
    echo "execute_requests_seconds $(calc "printf \"%.3f\", $(kv wrk_elapsed_us "$TMP/$name.execute.out") / 1e6")" >>"$out"
  fi
  wait "$POLL_PID" || { echo "llm_bench: the poller failed" >&2; exit 1; }
  POLL_PID=""
  if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; PERF_PID=""; fi
  cat "$TMP/$name.poll" >>"$out"
  [ "$(kv poll_left "$out")" = "0" ] || {
    echo "llm_bench: $name: gave up waiting, $(kv poll_left "$out") tasks left; states:" >&2
    sqlite3 -cmd ".timeout 5000" "$db" "SELECT state, count(*) FROM tasks GROUP BY state" >&2
    exit 1
  }
  echo "peak_rss_kb $(status_kb "$ENGINE_PID" VmHWM)" >>"$out"
  echo "rss_after_kb $(status_kb "$ENGINE_PID" VmRSS)" >>"$out"
  echo "start_ms $start_ms" >>"$out"
  # exact times from the store: when the runs started and finished (ms since the epoch)
  sqlite3 -cmd ".timeout 5000" "$db" "
    SELECT 'succeeded ' || count(*) FROM tasks WHERE id > $PROBE_ID AND state = 'succeeded';
    SELECT 'not_succeeded ' || count(*) FROM tasks WHERE id > $PROBE_ID AND state <> 'succeeded';
    SELECT 'first_error ' || coalesce((SELECT error FROM tasks WHERE id > $PROBE_ID AND state <> 'succeeded' LIMIT 1), '-');
    SELECT 'first_started_ms ' || min(started_at) FROM tasks WHERE id > $PROBE_ID;
    SELECT 'last_started_ms ' || max(started_at) FROM tasks WHERE id > $PROBE_ID;
    SELECT 'last_finished_ms ' || max(finished_at) FROM tasks WHERE id > $PROBE_ID;
    SELECT 'p50_finished_ms ' || finished_at FROM tasks WHERE id > $PROBE_ID ORDER BY finished_at LIMIT 1 OFFSET $(( TASKS / 2 ));
    SELECT 'p99_finished_ms ' || finished_at FROM tasks WHERE id > $PROBE_ID ORDER BY finished_at LIMIT 1 OFFSET $(( TASKS * 99 / 100 ));
    SELECT 'journal_rows ' || count(*) FROM llm_calls WHERE task_id > $PROBE_ID;
    SELECT 'journal_errors ' || count(*) FROM llm_calls WHERE task_id > $PROBE_ID AND error_code IS NOT NULL;
    SELECT 'journal_latency_p50_ms ' || coalesce((SELECT latency_ms FROM llm_calls WHERE task_id > $PROBE_ID ORDER BY latency_ms LIMIT 1 OFFSET $(( TASKS / 2 ))), 0);
    SELECT 'journal_latency_max_ms ' || coalesce(max(latency_ms), 0) FROM llm_calls WHERE task_id > $PROBE_ID;
  " >>"$out"
  local stats; stats="$(curl -s "http://127.0.0.1:$FAKE_PORT/_control/stats")"
  printf '%s' "$stats" | python3 -c 'import json,sys; s = json.load(sys.stdin); [print("fake_%s %s" % (k, s[k])) for k in ("received", "answered", "max_in_flight")]' >>"$out"
  echo "engine_fds_after $(ls "/proc/$ENGINE_PID/fd" | wc -l)" >>"$out"
  stop_engine
  echo "engine_exit_status $ENGINE_RC" >>"$out"
  if [ "$(kv not_succeeded "$out")" != "0" ]; then
    echo "llm_bench: WARNING: $name: $(kv not_succeeded "$out") of $TASKS tasks did not succeed; first error: $(kv first_error "$out")" >&2
  fi
}

echo "# llm_bench: tasks=$TASKS engine_threads=$THREADS delay_ms=$DELAY_MS release=$RELEASE worker_concurrency=$CONCURRENCY claim_batch=${CLAIM_BATCH:-default} ulimit_n=$NOFILE nice=${NICE:-0}"
echo "# bin=$BIN_ORIG ($(date -u -r "$BIN_ORIG" +%FT%TZ), sha256 $(sha256sum "$BIN" | cut -c1-12))"
echo "# machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), tmp=$TMP"

CALIB=""
if [ "$CALIBRATE" -eq 1 ]; then
  # the machine's yardstick: bare SQLite claim-and-complete on this disk (queue_bench.sh's phase 0);
  # issue 1 measured about 250,000/s on its reference machine
  gcc -O2 -std=c17 -o "$TMP/sqlite_ceiling" "$HERE/sqlite_ceiling.c" -lsqlite3
  "$TMP/sqlite_ceiling" -n 20000 -d "$TMP" >"$TMP/ceiling.out"
  CALIB="$(awk '$1 == "sqlite_claim_complete_per_s" { print $2 }' "$TMP/ceiling.out")"
  echo "calib_sqlite_claim_complete_per_s $CALIB"
fi
start_fake
echo "# fake provider pid $FAKE_PID on port $FAKE_PORT (node $(node --version))"
if [ "$BASELINE" -eq 1 ]; then
  echo "# phase 1: baseline, $TASKS bench.noop tasks (no llm.chat)"
  run_phase base bench.noop
  sed 's/^/base_/' "$TMP/base.out"
fi
echo "# phase 2: $TASKS bench.llm_once tasks (one llm.chat each, fake answers after $DELAY_MS ms)"
run_phase llm bench.llm_once
sed 's/^/llm_/' "$TMP/llm.out"

WARNS="$(grep -iE '"level" *: *"(warn|error)"' "$LOG" | grep -vc 'authentication is off' || true)"
echo "engine_log_warn_error_lines $WARNS"
if [ "$WARNS" -gt 0 ]; then
  echo "# first engine log lines at warn/error:"
  grep -iE '"level" *: *"(warn|error)"' "$LOG" | grep -v 'authentication is off' | head -n 5 | sed 's/^/#   /' || true
fi

if [ "$PERF" -eq 1 ] && [ -s "$TMP/perf.data" ]; then
  echo "# perf report of the engine over the llm execution phase (self time, top 40):"
  perf report -i "$TMP/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n 40 | sed 's/^/#   /' || true
  echo "# (perf.data kept only with --keep: $TMP/perf.data)"
fi

# --- summary ---------------------------------------------------------------------------------------------
L() { kv "$1" "$TMP/llm.out"; }
B() { [ "$BASELINE" -eq 1 ] && kv "$1" "$TMP/base.out" || echo ""; }
wall() { calc "printf \"%.3f\", ($1 - $2) / 1000"; }
WALL="$(wall "$(L last_finished_ms)" "$(L start_ms)")"
RATE="$(calc "printf \"%.0f\", $TASKS / $WALL")"
CPU_LLM="$(calc "printf \"%.1f\", $(L engine_cpu_ms) * 1000 / $TASKS")"
PEAK="$(L peak_rss_kb)"
# per call in flight: the growth over the peak number of concurrent requests the fake saw
INFLIGHT_KB="$(calc "m = $(L fake_max_in_flight); printf \"%.1f\", ($PEAK - $(L rss_before_release_kb)) / (m > 0 ? m : $TASKS)")"
echo "llm_wall_seconds $WALL"
echo "llm_calls_per_s $RATE"
echo "llm_engine_cpu_us_per_call $CPU_LLM"
echo "llm_rss_growth_kb_per_call_in_flight $INFLIGHT_KB"
if [ "$BASELINE" -eq 1 ]; then
  BWALL="$(wall "$(B last_finished_ms)" "$(B start_ms)")"
  CPU_BASE="$(calc "printf \"%.1f\", $(B engine_cpu_ms) * 1000 / $TASKS")"
  CPU_DIFF="$(calc "printf \"%.1f\", $CPU_LLM - $CPU_BASE")"
  echo "base_wall_seconds $BWALL"
  echo "base_engine_cpu_us_per_task $CPU_BASE"
  echo "llm_minus_base_cpu_us_per_call $CPU_DIFF"
fi

verdict() { calc "v = $1; t = $2; ok = (\"$3\" == \"<=\") ? (v <= t) : (v < t); print ok ? \"met\" : \"NOT met\""; }
mb() { calc "printf \"%.1f MB\", $1 / 1024"; }
echo
printf '%-44s %14s %14s %12s  %s\n' "metric ($TASKS tasks, $THREADS threads)" "llm.chat run" "no-op baseline" "target" ""
printf '%-44s %14s %14s %12s  %s\n' "wall time, release -> all succeeded" "$WALL s" "${BWALL:--} s" "<= 3 s" "$(verdict "$WALL" 3 '<=')"
printf '%-44s %14s %14s %12s  %s\n' "  ideal (the fake's delay)" "$(calc "printf \"%.3f\", $DELAY_MS / 1000") s" "" "" ""
printf '%-44s %14s %14s %12s  %s\n' "  first run started / last run started" "+$(( $(L first_started_ms) - $(L start_ms) )) / +$(( $(L last_started_ms) - $(L start_ms) )) ms" "" "" ""
printf '%-44s %14s %14s %12s  %s\n' "  50% / 99% / 100% finished" "+$(( $(L p50_finished_ms) - $(L start_ms) )) / +$(( $(L p99_finished_ms) - $(L start_ms) )) / +$(( $(L last_finished_ms) - $(L start_ms) )) ms" "" "" ""
printf '%-44s %14s %14s %12s  %s\n' "calls/s" "$RATE" "" "" ""
printf '%-44s %14s %14s %12s  %s\n' "fake: max requests in flight at once" "$(L fake_max_in_flight)" "" "$TASKS" "$( [ "$(L fake_max_in_flight)" -ge "$TASKS" ] && echo "all concurrent" || echo "NOT all concurrent")"
printf '%-44s %14s %14s %12s  %s\n' "tasks succeeded" "$(L succeeded)" "$(B succeeded)" "$TASKS" "$( [ "$(L succeeded)" -eq "$TASKS" ] && echo ok || echo FAILED)"
printf '%-44s %14s %14s %12s  %s\n' "peak RSS (VmHWM)" "$(mb "$PEAK")" "$( [ "$BASELINE" -eq 1 ] && mb "$(B peak_rss_kb)" || echo -)" "< 600 MB" "$(verdict "$PEAK" 614400 '<')"
printf '%-44s %14s %14s %12s  %s\n' "  RSS growth / max calls in flight" "$INFLIGHT_KB KiB" "" "~60 KiB" ""
printf '%-44s %14s %14s %12s  %s\n' "engine CPU per task (utime+stime / N)" "$CPU_LLM us" "${CPU_BASE:--} us" "< 50 us" "$(verdict "$CPU_LLM" 50 '<')"
if [ "$BASELINE" -eq 1 ]; then
  printf '%-44s %14s %14s %12s  %s\n' "  of which the LLM call (llm - baseline)" "$CPU_DIFF us" "" "< 50 us" "$(verdict "$CPU_DIFF" 50 '<')"
fi
printf '%-44s %14s %14s %12s  %s\n' "fake provider CPU per call (node)" "$(calc "printf \"%.1f\", $(L fake_cpu_ms) * 1000 / $TASKS") us" "" "" ""
if [ -n "$CALIB" ]; then
  printf '%-44s %14s %14s %12s  %s\n' "machine: bare SQLite claim+complete/s" "$CALIB" "" "~250000" "(issue 1's reference machine; lower = slower machine)"
fi
printf '%-44s %14s %14s %12s  %s\n' "TCP connects / listen overflows / retransmits" "$(L net_tcp_active_opens) / $(L net_listen_overflows) / $(L net_tcp_retrans_segs)" "" "- / 0 / 0" "$( [ "$(L net_listen_overflows)" -gt 0 ] && echo "SYNs dropped: some connects waited >= 1 s" || true)"
BWAIT="$(B engine_sched_wait_ms)"; [ -n "$BWAIT" ] && BWAIT="$BWAIT ms" || BWAIT="-"
STARVED="$(calc "print ($(L engine_sched_wait_ms) > 0.25 * $WALL * 1000) ? \"CPU-starved: wall time inflated\" : \"\"")"
printf '%-44s %14s %14s %12s  %s\n' "engine time runnable but waiting for a CPU" "$(L engine_sched_wait_ms) ms" "$BWAIT" "~0 ms" "$STARVED"
