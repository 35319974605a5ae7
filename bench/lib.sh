# Shared by bench/compare.sh and bench/durable.sh (sourced, not run): logging, the myqttd and
# myqtt-bench binaries, and starting and stopping one broker process at a time.
#
# The sourcing script sets `script` (its name, for log lines) and `root` (the checkout) first.

log() { printf '%s: %s\n' "$script" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Sets myqttd_bin and tool: $MYQTTD and $MYQTT_BENCH, or release builds of this checkout.
find_binaries() {
    local target_dir=${CARGO_TARGET_DIR:-$root/target}
    if [[ -z ${MYQTTD:-} || -z ${MYQTT_BENCH:-} ]]; then
        log "building myqttd and myqtt-bench (cargo build --release -p myqtt-tokio --bins)"
        (cd "$root" && cargo build --release -p myqtt-tokio --bins)
    fi
    myqttd_bin=${MYQTTD:-$target_dir/release/myqttd}
    tool=${MYQTT_BENCH:-$target_dir/release/myqtt-bench}
    local bin
    for bin in "$myqttd_bin" "$tool"; do
        [[ -x $bin ]] || die "$bin not found"
    done
    command -v python3 >/dev/null || die "python3 is needed for the summary"
}

broker_pid=

# Stops the broker: SIGTERM, then SIGKILL after $1 tenths of a second (default 20; rumqttd
# 0.20.0 ignores SIGTERM, myqttd logs its store statistics as it ends).
stop_broker() {
    if [[ -n $broker_pid ]]; then
        kill "$broker_pid" 2>/dev/null || true
        local i
        for ((i = 0; i < ${1:-20}; i++)); do
            kill -0 "$broker_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=
    fi
}

# Whether something listens on port $1 (and, with $2, whether process $2 does).
listening() {
    ss -Hltnp "sport = :$1" | grep -q "${2:+pid=$2,}"
}

# Waits up to 5 s for port $1 to be free (a broker stopped just before may still hold it).
wait_port_free() {
    local i
    for ((i = 0; i < 50; i++)); do
        listening "$1" || return 0
        sleep 0.1
    done
    ss -ltnp "sport = :$1" >&2
    die "port $1 is in use by another process"
}

# Waits until broker_pid ($2, for messages) listens on port $1; shows its log $3 and dies if it
# does not within 10 s.
wait_listening() {
    local port=$1 name=$2 log_file=$3 i
    for ((i = 0; i < 100; i++)); do
        if listening "$port" "$broker_pid" && kill -0 "$broker_pid" 2>/dev/null; then
            sleep 0.2
            return 0
        fi
        kill -0 "$broker_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log_file" >&2
    die "$name did not start listening on 127.0.0.1:$port"
}
