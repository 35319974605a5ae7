#!/usr/bin/env bash
# Durable mode (issue 8 item 4): myqttd's fanin QoS 1 rate when the subscriber's deliveries go
# through the store, with `durability = "strict"` (PUBACKs and deliveries wait for the commit
# that makes them durable) and "relaxed", and in memory for context. Interleaved over REPS
# repetitions, a fresh broker and data directory per run:
#
#   for rep in 1..REPS; for mode in strict relaxed memory:
#       start myqttd (config generated below), run fanin QoS 1 once with a persistent
#       subscriber (myqtt-bench --persistent-subscriber --broker-pid), stop myqttd (SIGTERM:
#       it logs its group-commit statistics as it ends)
#
# Writes bench/durable.jsonl (one myqtt-bench JSON line per run, plus "rep", "mode", the
# commit statistics parsed from myqttd's log and the commit thread's CPU and run-queue times) and bench/durable.md (medians per mode), and
# prints the table.
#
# Usage: bench/durable.sh            (from anywhere; about 40 s on 2 cores, plus builds)
# Environment (all optional):
#   REPS=3                           repetitions
#   MODES="strict relaxed memory"
#   MESSAGES=100000                  messages per publisher (4 publishers)
#   DATA_ROOT=<checkout>/target      where the data directories go: on the real disk, not a
#                                    tmpfs (where fsync costs nothing)
#   MYQTTD=path MYQTT_BENCH=path     binaries to use (default: build target/release from this
#                                    checkout with cargo)
#   OUT_DIR=bench                    where durable.jsonl and durable.md go
set -euo pipefail

readonly PORT=18841
readonly PUBLISHERS=4
readonly TOOL_INFLIGHT=100

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
out_dir=${OUT_DIR:-$bench_dir}
reps=${REPS:-3}
modes=${MODES:-strict relaxed memory}
messages=${MESSAGES:-100000}
data_root=${DATA_ROOT:-$root/target}

script=durable.sh
# shellcheck source=bench/lib.sh
source "$bench_dir/lib.sh"

# --- binaries -------------------------------------------------------------------------------------

find_binaries

# --- broker ---------------------------------------------------------------------------------------

mkdir -p "$data_root"
work=$(mktemp -d -p "$data_root" durable-bench.XXXXXX)
log "data directories under $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"
# Prints the myqttd configuration of mode $1: loopback, no QoS 1 message dropped by a full
# queue (as bench/myqttd.toml), and persistence in ./data with strict or relaxed durability,
# or none (memory).
config() {
    local persistence=true
    [[ $1 == memory ]] && persistence=false
    printf 'persistence = %s\ndata_dir = "data"\n\n' "$persistence"
    printf '[[listeners]]\nbind = "127.0.0.1"\nport = %d\n\n' "$PORT"
    printf '[limits]\nmax_queued_messages = 10000000\n'
    [[ $1 == memory ]] || printf 'durability = "%s"\n' "$1"
}

cleanup() {
    stop_broker 100
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts myqttd in mode $1 in the fresh directory $2; waits until it accepts connections.
start_broker() {
    local mode=$1 dir=$2
    wait_port_free "$PORT"
    mkdir -p "$dir"
    config "$mode" >"$dir/myqttd.toml"
    (cd "$dir" && exec "$myqttd_bin" -c myqttd.toml) >"$dir/log" 2>&1 &
    broker_pid=$!
    wait_listening "$PORT" myqttd "$dir/log"
}

# Prints the last group-commit statistics line of myqttd's log $1 as JSON fields (none in
# memory): "store commits: C commits, O ops, mean M ops/commit, max X, mean commit T ms, S s
# committing".
commit_stats() {
    sed -n 's/\x1b\[[0-9;]*m//g; s/.*store commits: \([0-9]*\) commits, \([0-9]*\) ops, mean [0-9.]* ops\/commit, max \([0-9]*\), mean commit \([0-9.]*\) ms, \([0-9.]*\) s committing.*/"commits":\1,"ops":\2,"max_ops":\3,"commit_ms":\4,"committing_s":\5,/p' "$1" |
        tail -n 1
}

# Prints "<ns on a CPU> <ns waiting for a CPU>" of myqttd's commit thread so far
# (/proc/<pid>/task/<tid>/schedstat), or nothing if it has none (in memory).
store_thread_times() {
    local task
    for task in /proc/"$broker_pid"/task/*; do
        if [[ $(cat "$task/comm" 2>/dev/null) == myqtt-store ]]; then
            cut -d ' ' -f 1-2 "$task/schedstat"
            return
        fi
    done
}

# Prints as JSON fields the commit thread's seconds on a CPU and waiting for one (run queue)
# between the samples $1 and $2 of store_thread_times.
store_thread_fields() {
    [[ -n $1 && -n $2 ]] || return 0
    printf '%s %s\n' "$1" "$2" |
        awk '{ printf "\"store_cpu_s\":%.3f,\"store_runq_s\":%.3f,", ($3 - $1) / 1e9, ($4 - $2) / 1e9 }'
}

# --- the runs -------------------------------------------------------------------------------------

args=(fanin --qos 1 --publishers "$PUBLISHERS" --messages "$messages" --inflight "$TOOL_INFLIGHT"
    --persistent-subscriber --port "$PORT" --timeout 120)
mkdir -p "$out_dir"
jsonl=$out_dir/durable.jsonl
: >"$jsonl"
started=$(date +%s)
log "myqtt commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)

for ((rep = 1; rep <= reps; rep++)); do
    for mode in $modes; do
        dir=$work/$mode-$rep
        start_broker "$mode" "$dir"
        log "rep $rep/$reps $mode: myqtt-bench ${args[*]}"
        before=$(store_thread_times)
        line=$("$tool" "${args[@]}" --broker-pid "$broker_pid" 2>>"$work/tool.log") || true
        store=$(store_thread_fields "$before" "$(store_thread_times)")
        stop_broker 100
        if [[ $line != '{'* ]]; then
            line='{"error":"myqtt-bench printed no result"}'
        fi
        printf '{"rep":%d,"mode":"%s",%s%s%s\n' \
            "$rep" "$mode" "$(commit_stats "$dir/log")" "$store" "${line#\{}" >>"$jsonl"
        rm -rf "$dir"
    done
done
elapsed=$(($(date +%s) - started))
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)
log "all runs took ${elapsed} s; raw results in $jsonl"

# --- summary --------------------------------------------------------------------------------------

python3 - "$jsonl" "$out_dir/durable.md" "$elapsed" "$load_before" "$load_after" <<'PY'
import json, statistics, sys

jsonl, md_path, elapsed, load_before, load_after = sys.argv[1:6]
runs = [json.loads(l) for l in open(jsonl) if l.strip()]
for r in runs:
    # Commits per second of the run: the commit thread also commits the subscriber's session
    # and subscription before the run and its disconnect after, a handful in all.
    if r.get("commits") and r.get("elapsed_s"):
        r["commits_per_s"] = r["commits"] / r["elapsed_s"]
    if r.get("commits"):
        r["mean_ops"] = r["ops"] / r["commits"]
    if r.get("broker_rss_kib_after"):
        r["rss_mib"] = r["broker_rss_kib_after"] / 1024
by = {}
for r in runs:
    by.setdefault(r["mode"], []).append(r)

def med(mode, key):
    v = [r[key] for r in by[mode] if isinstance(r.get(key), (int, float))]
    return statistics.median(v) if v else None

def fmt(x):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"

cols = [("msgs_per_s", "msg/s"), ("broker_cpu", "broker CPU"), ("tool_cpu", "tool CPU"),
        ("rss_mib", "broker RSS MiB"), ("mean_ops", "ops/commit mean"),
        ("max_ops", "ops/commit max"), ("commits_per_s", "commits/s"),
        ("commit_ms", "commit ms mean"), ("committing_s", "s committing"),
        ("store_cpu_s", "commit thread s on CPU"),
        ("store_runq_s", "commit thread s waiting for a CPU")]
out = [f"Medians of {max(r['rep'] for r in runs)} interleaved runs per row (all runs: "
       f"{elapsed} s; load average {load_before} before, {load_after} after). CPU in cores; "
       "broker RSS at the end of the run; the commit thread's times span the whole run.",
       "",
       "| mode | lost (sum) |" + "".join(f" {label} |" for _, label in cols),
       "|---|---:|" + "---:|" * len(cols)]
for mode in [m for m in ["strict", "relaxed", "memory"] if m in by]:
    rs = by[mode]
    lost = str(sum(r.get("lost", 0) for r in rs))
    errs = sum(1 for r in rs if r.get("error") or r.get("timed_out"))
    if errs:
        lost += f" ({errs} run(s) failed)"
    out.append(f"| {mode} | {lost} |" + "".join(f" {fmt(med(mode, k))} |" for k, _ in cols))
text = "\n".join(out) + "\n"
open(md_path, "w").write(text)
print(text)
PY
