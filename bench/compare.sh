#!/usr/bin/env bash
# Broker comparison (issue 8): myqttd, Debian's mosquitto 2.x and rumqttd 0.20.0, one at a time on
# loopback, driven by myqtt-bench with the same scenarios, interleaved A/B over REPS repetitions:
#
#   for rep in 1..REPS; for scenario; for broker in myqttd mosquitto rumqttd:
#       start the broker fresh, run the scenario once (myqtt-bench --broker-pid), stop the broker
#
# Writes bench/results.jsonl (one myqtt-bench JSON line per run, plus "rep", "broker" and "case")
# and bench/results.md (medians per broker x scenario, the myqttd/mosquitto and myqttd/rumqttd
# ratios, losses, broker and tool CPU), and prints the table.
#
# Usage: bench/compare.sh            (from anywhere; about 7 minutes on 2 cores, plus builds)
# Environment (all optional):
#   REPS=3                           repetitions
#   BROKERS="myqttd mosquitto rumqttd"
#   CASES="fanin_q0 fanin_q1 fanin_q2 fanout_q0 fanout_q1 latency conns"
#   QUICK=1                          message counts / 10, latency 1 s, 1,000 connections
#   MYQTTD=path MYQTT_BENCH=path     binaries to use (default: build target/release from this
#                                    checkout with cargo)
#   RUMQTTD=path MOSQUITTO=path      (default: bench/.tools/bin/rumqttd, installed with cargo if
#                                    missing; mosquitto from PATH or /usr/sbin)
#   OUT_DIR=bench                    where results.jsonl and results.md go
# Broker configurations: bench/myqttd.toml, bench/mosquitto.conf, bench/rumqttd.toml (ports
# 18831, 18832, 18833 on 127.0.0.1; limits raised so that no QoS 1/2 message is dropped).
set -euo pipefail

readonly RUMQTTD_VERSION=0.20.0
readonly TOOL_INFLIGHT=100

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
out_dir=${OUT_DIR:-$bench_dir}
reps=${REPS:-3}
brokers=${BROKERS:-myqttd mosquitto rumqttd}
cases=${CASES:-fanin_q0 fanin_q1 fanin_q2 fanout_q0 fanout_q1 latency conns}
quick=${QUICK:-0}

script=compare.sh
# shellcheck source=bench/lib.sh
source "$bench_dir/lib.sh"

# --- binaries -------------------------------------------------------------------------------------

find_binaries
rumqttd_bin=${RUMQTTD:-$bench_dir/.tools/bin/rumqttd}
mosquitto_bin=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}

if [[ " $brokers " == *" rumqttd "* && ! -x $rumqttd_bin ]]; then
    # Not --locked: rumqttd 0.20.0's own Cargo.lock pins metrics 0.22.1, which no longer compiles
    # with current rustc (E0521); without --locked cargo takes metrics 0.22.4, which does.
    log "installing rumqttd $RUMQTTD_VERSION into bench/.tools (a few minutes)"
    cargo install rumqttd --version "$RUMQTTD_VERSION" --root "$bench_dir/.tools"
fi
if [[ " $brokers " == *" mosquitto "* && ! -x $mosquitto_bin ]]; then
    die "mosquitto not found: apt-get install mosquitto"
fi

# rumqttd 0.20.0 refuses CONNECT with keep alive 0 (ZeroKeepAlive), which myqtt-bench at commit
# a2aac00 always sends. Pass 60 s to every broker when the tool has the option; otherwise warn.
tool_extra=()
if "$tool" --help 2>/dev/null | grep -q -- '--keep-alive'; then
    tool_extra=(--keep-alive 60)
elif [[ " $brokers " == *" rumqttd "* ]]; then
    log "warning: $tool sends keep alive 0, which rumqttd refuses: its runs will fail"
fi

# 10,000 idle connections: the tool and the broker each hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < 10100)); then
    die "ulimit -n is $(ulimit -n) (hard limit): the conns scenario needs 10,100"
fi

# --- scenarios ------------------------------------------------------------------------------------

scale=1
latency_s=5
connections=10000
if [[ $quick == 1 ]]; then
    scale=10
    latency_s=1
    connections=1000
fi

# Prints the myqtt-bench arguments of one case.
case_args() {
    local inflight="--inflight $TOOL_INFLIGHT"
    case $1 in
    fanin_q0) echo "fanin --qos 0 --publishers 4 --messages $((500000 / scale)) --timeout 120" ;;
    fanin_q1) echo "fanin --qos 1 --publishers 4 --messages $((100000 / scale)) $inflight --timeout 120" ;;
    # mosquitto's QoS 2 rate falls as its queue to the subscriber grows (5,000 per publisher:
    # ~27,000 msg/s; 20,000: ~12,000; 50,000: ~3,000, past any bound): 20,000 keeps it ~7 s.
    fanin_q2) echo "fanin --qos 2 --publishers 4 --messages $((20000 / scale)) $inflight --timeout 120" ;;
    fanout_q0) echo "fanout --qos 0 --subscribers 100 --messages $((20000 / scale)) --timeout 120" ;;
    fanout_q1) echo "fanout --qos 1 --subscribers 100 --messages $((20000 / scale)) $inflight --timeout 120" ;;
    latency) echo "latency --qos 0 --rate 2000 --duration $latency_s --timeout 60" ;;
    conns) echo "conns --connections $connections --conn-rate 5000 --timeout 60" ;;
    *) die "unknown case $1" ;;
    esac
}

broker_port() {
    case $1 in
    myqttd) echo 18831 ;;
    mosquitto) echo 18832 ;;
    rumqttd) echo 18833 ;;
    *) die "unknown broker $1" ;;
    esac
}

# --- broker processes -----------------------------------------------------------------------------

work=$(mktemp -d)
cleanup() {
    stop_broker
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts broker $1 fresh (in its own empty directory), waits until its port accepts connections.
start_broker() {
    local name=$1 port dir
    port=$(broker_port "$name")
    dir=$work/$name
    if listening "$port"; then
        die "port $port is already in use (a broker left over from an earlier run?)"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    case $name in
    myqttd) (cd "$dir" && exec "$myqttd_bin" -c "$bench_dir/myqttd.toml") >"$dir/log" 2>&1 & ;;
    mosquitto) "$mosquitto_bin" -c "$bench_dir/mosquitto.conf" >"$dir/log" 2>&1 & ;;
    rumqttd) "$rumqttd_bin" -q -c "$bench_dir/rumqttd.toml" >"$dir/log" 2>&1 & ;;
    esac
    broker_pid=$!
    wait_listening "$port" "$name" "$dir/log"
}

broker_version() {
    case $1 in
    myqttd) "$myqttd_bin" --version ;;
    mosquitto) "$mosquitto_bin" -h 2>/dev/null | head -n 1 || true ;;
    rumqttd) "$rumqttd_bin" --version ;;
    esac
}

# --- the runs -------------------------------------------------------------------------------------

mkdir -p "$out_dir"
jsonl=$out_dir/results.jsonl
: >"$jsonl"
started=$(date +%s)
log "myqtt commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
for broker in $brokers; do
    log "$broker: $(broker_version "$broker")"
done

for ((rep = 1; rep <= reps; rep++)); do
    for case_name in $cases; do
        read -r -a args <<<"$(case_args "$case_name")"
        for broker in $brokers; do
            start_broker "$broker"
            log "rep $rep/$reps $case_name $broker: myqtt-bench ${args[*]}"
            line=$("$tool" "${args[@]}" --port "$(broker_port "$broker")" \
                --broker-pid "$broker_pid" "${tool_extra[@]}" 2>>"$work/tool.log") || true
            if [[ $line != '{'* ]]; then
                line='{"error":"myqtt-bench printed no result"}'
            fi
            printf '{"rep":%d,"broker":"%s","case":"%s",%s\n' \
                "$rep" "$broker" "$case_name" "${line#\{}" >>"$jsonl"
            stop_broker
        done
    done
done
elapsed=$(($(date +%s) - started))
log "all runs took ${elapsed} s; raw results in $jsonl"

# --- summary --------------------------------------------------------------------------------------

python3 - "$jsonl" "$out_dir/results.md" "$elapsed" "$brokers" <<'PY'
import json, statistics, sys

jsonl, md_path, elapsed, brokers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
runs = [json.loads(l) for l in open(jsonl) if l.strip()]
by = {}
for r in runs:
    by.setdefault((r["case"], r["broker"]), []).append(r)

def values(case, broker, key):
    return [r[key] for r in by.get((case, broker), []) if isinstance(r.get(key), (int, float))]

def rss_per_conn(r):
    # Per connection actually open (all 10,000 unless some failed).
    a, b, n = r.get("broker_rss_kib_after"), r.get("broker_rss_kib_before"), r.get("succeeded")
    if a is None or b is None or not n:
        return None
    return (a - b) * 1024 / n

for r in runs:
    if r.get("case") == "conns":
        r["rss_per_conn_bytes"] = rss_per_conn(r)

def med(case, broker, key):
    v = values(case, broker, key)
    return statistics.median(v) if v else None

def fmt(x):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"

def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}x"

# (case, key, label, better)
rows = [
    ("fanin_q0", "msgs_per_s", "fanin QoS 0, 4→1, msg/s", "higher"),
    ("fanin_q1", "msgs_per_s", "fanin QoS 1, 4→1, msg/s", "higher"),
    ("fanin_q2", "msgs_per_s", "fanin QoS 2, 4→1, msg/s", "higher"),
    ("fanout_q0", "deliveries_per_s", "fanout QoS 0, 1→100, deliveries/s", "higher"),
    ("fanout_q1", "deliveries_per_s", "fanout QoS 1, 1→100, deliveries/s", "higher"),
    ("latency", "p50_ms", "latency p50 at 2,000 msg/s, ms", "lower"),
    ("latency", "p90_ms", "latency p90, ms", "lower"),
    ("latency", "p99_ms", "latency p99, ms", "lower"),
    ("latency", "max_ms", "latency max, ms", "lower"),
    ("conns", "connects_per_s", "conns: connects/s (tool target 5,000/s)", "higher"),
    ("conns", "succeeded", "conns: connections open of 10,000", "higher"),
    ("conns", "broker_rss_kib_before", "conns: broker RSS before, KiB", "lower"),
    ("conns", "broker_rss_kib_after", "conns: broker RSS with all open, KiB", "lower"),
    ("conns", "rss_per_conn_bytes", "conns: RSS per idle connection, bytes", "lower"),
]
cases = sorted({r["case"] for r in runs}, key=[c for c, *_ in rows].index)
names = {"myqttd": "myqttd", "mosquitto": "mosquitto", "rumqttd": "rumqttd"}
out = []
out.append(f"Medians of {max(r['rep'] for r in runs)} interleaved runs per cell "
           f"(whole comparison: {elapsed} s). Ratios are myqttd / other: above 1x is better "
           "where higher is better (throughput, connects/s), below 1x is better where lower "
           "is better (latency, memory).")
out.append("")
cols = [b for b in ["myqttd", "mosquitto", "rumqttd"] if b in brokers]
head = "| scenario | better |" + "".join(f" {b} |" for b in cols)
sep = "|---|---|" + "---:|" * len(cols)
if "mosquitto" in cols and "myqttd" in cols:
    head += " myqttd/mosquitto |"; sep += "---:|"
if "rumqttd" in cols and "myqttd" in cols:
    head += " myqttd/rumqttd |"; sep += "---:|"
out += [head, sep]
for case, key, label, better in rows:
    if case not in cases:
        continue
    m = {b: med(case, b, key) for b in cols}
    line = f"| {label} | {better} |" + "".join(f" {fmt(m[b])} |" for b in cols)
    if "mosquitto" in cols and "myqttd" in cols:
        line += f" {ratio(m['myqttd'], m['mosquitto'])} |"
    if "rumqttd" in cols and "myqttd" in cols:
        line += f" {ratio(m['myqttd'], m['rumqttd'])} |"
    out.append(line)

out.append("")
out.append("Losses and failures (sum over the runs; QoS 0 may lose by design, QoS 1/2 must not), "
           "and CPU in cores (median; 2 = both cores busy) of the broker and of myqtt-bench "
           "itself over the measured window:")
out.append("")
out.append("| scenario |" + "".join(f" {b} lost | {b} CPU broker / tool |" for b in cols))
out.append("|---|" + "---:|---:|" * len(cols))
for case in cases:
    line = f"| {case} |"
    for b in cols:
        rs = by.get((case, b), [])
        if case == "conns":
            bad = sum(r.get("failed", 0) for r in rs)
            lost = f"{bad} failed"
        else:
            lost = str(sum(r.get("lost", 0) for r in rs))
        errs = sum(1 for r in rs if r.get("error") or r.get("timed_out"))
        if errs:
            lost += f" ({errs} run(s) timed out or failed)"
        line += f" {lost} | {fmt(med(case, b, 'broker_cpu'))} / {fmt(med(case, b, 'tool_cpu'))} |"
    out.append(line)

text = "\n".join(out) + "\n"
open(md_path, "w").write(text)
print(text)
PY
