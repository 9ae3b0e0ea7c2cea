#!/usr/bin/env bash
# The emulated board end to end: builds examples/firmware-qemu for thumbv7em-none-eabihf,
# makes a network namespace holding a TAP device, and boots QEMU's mps2-an386 (Cortex-M4F,
# LAN9118 on the TAP device) twice with the same image: once told (through semihosting's
# command line, QEMU's -append) to declare every instrument DELTA, once CUMULATIVE, 47
# exports each, to an OTLP sink on the Linux side of the TAP device (192.168.19.1:4318).
#
# During each boot the sink runs through a fault script, one fault per request:
# an idle close after answering, a 503 with `Retry-After: 1` (retried within the export),
# a reset before the answer (retried), a 503 with `Retry-After: 30` (past the export's
# deadline: the export fails at once, its data kept; the wait is honoured in full, with up
# to 7.5 s of jitter on top, so the exports whose 5 s deadline comes before that instant
# end at once with their data kept and send nothing, and the next one waits for it and
# delivers it all); then the link is taken down through QEMU's monitor (`set_link`: a TAP
# device going down would be invisible to the emulated PHY) after export 42, past that
# window, and up again once an export has failed for it. The firmware must log both link changes; exports in between
# fail with all their data kept, and later exports deliver it.
#
# scripts/qemu-board-check.py then checks each boot: every export met what the script
# says; what the sink decoded equals what the firmware recorded (delta: points added up;
# cumulative: the latest point), exact sums, counts and bucket counts per series; the
# SysTick counter rises between exports; cumulative series keep one start, delta points
# never overlap; every connection closed. Counts, never durations: QEMU's clock follows
# the host's, and a loaded machine stretches it.
#
# Before the two boots, one boot with a command line the firmware does not know must stop
# with exit status 3 and a message naming the word.
#
# Prints the image's flash and RAM, the stack high-water marks (main loop on the process
# stack, handlers on the main stack) and the longest loop iteration of each boot, and
# writes them to target/qemu-board/figures.tsv, which scripts/footprint.sh reports.
# `bash scripts/qemu-board.sh --build-only` builds the image and prints its path.
#
# Needs (Debian): qemu-system-arm, lld, iproute2; root and /dev/net/tun; the target
# compiler from ../shared/tools/target-rustc.sh. Installs nothing. Without a prerequisite
# it prints one SKIP line and exits 0, unless OTLP_REQUIRE_TAP=1 (CI), which makes that a
# failure. Every wait is bounded; the namespace and the processes it started are removed
# on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
IMAGE=examples/firmware-qemu/target/thumbv7em-none-eabihf/release/firmware-qemu

build_image() {
    eval "$(../shared/tools/target-rustc.sh)"
    (
        cd examples/firmware-qemu
        RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --release --locked \
            -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem
    )
}

if [ "${1:-}" = --build-only ]; then
    command -v ld.lld >/dev/null || { echo "qemu-board: ld.lld is missing (apt-get install lld)" >&2; exit 1; }
    build_image >&2
    echo "$root/$IMAGE"
    exit 0
fi

skip() {
    if [ "${OTLP_REQUIRE_TAP:-0}" = 1 ]; then
        echo "qemu-board: OTLP_REQUIRE_TAP=1 but $*" >&2
        exit 1
    fi
    echo "SKIP: qemu-board: $*"
    exit 0
}
command -v qemu-system-arm >/dev/null || skip "qemu-system-arm is missing (apt-get install qemu-system-arm)"
command -v ld.lld >/dev/null || skip "ld.lld is missing (apt-get install lld)"
command -v ip >/dev/null || skip "ip is missing (apt-get install iproute2)"
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"

NS="otlp-qemu-$$"
TAP=tap0
HOST_ADDR=192.168.19.1   # the sink; the firmware has it as SINK
BOARD_ADDR=192.168.19.2  # the firmware's BOARD_IP
PORT=4318
# Not QEMU's default (52:54:00:12:34:56): the firmware must read it from the chip.
MAC=02:19:00:c0:ff:ee
EXPORTS=47
# The firmware gives up by EXPORTS x (1 s interval + 5 s export deadline) + 10 s.
BOOT_TIMEOUT=300
# One fault per request, in order, then normal answers (qemu-board-check.py knows what
# each export meets from this): exports 1-2 normal; 3 idle close; 4 a 503 then its retry;
# 5 a reset then its retry; 6 a 503 whose Retry-After is past the deadline (fails, data
# kept); the exports whose deadline comes within the next 30 to 37.5 s (at most 33, an
# interval apart) send nothing and keep their data; the next one delivers it.
SINK_SCRIPT="none*2,idle-close=50*1,503=1*1,none*1,reset*1,none*1,503=30*1"
# The link goes down after this export: after the scripted faults and the Retry-After
# window (which ends by export 40), so that the exports it fails fail for the link.
LINK_DOWN_AFTER=42
FIGURES_DIR=target/qemu-board

work=$(mktemp -d)
sink_pid=""
qemu_pid=""
ns_made=""
cleanup() {
    local rc=$?
    # Only the processes this script started, by their ids.
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    [ -n "$qemu_pid" ] && wait "$qemu_pid" 2>/dev/null || true
    [ -n "$sink_pid" ] && wait "$sink_pid" 2>/dev/null || true
    [ -n "$ns_made" ] && ip netns del "$NS" 2>/dev/null || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== build the firmware image"
build_image

# ---- The sink: the one place that says how it is built and run: the test kit's
# `otlp_sink` example. It must accept --bind --port --points --script --stop-file
# --seconds and print `conn`, `point`, `stats` and `total` lines (see the example).
cargo build --quiet -p otlp-embedded-test-kit --example otlp_sink
SINK=("$root/target/debug/examples/otlp_sink")
# ----

echo "== namespace $NS: $TAP $HOST_ADDR/24 (sink), board $BOARD_ADDR, mac $MAC"
ip netns add "$NS"
ns_made=1
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add "$HOST_ADDR/24" dev "$TAP"
ip -n "$NS" link set "$TAP" up

# One command to QEMU's monitor on socket $1, bounded; prints the command.
monitor() {
    timeout 10 python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
time.sleep(0.2)
s.recv(65536)  # the banner
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.3)
print("monitor:", sys.argv[2])
s.close()
PY
}

# Wait until console $1 has a line matching $2, at most $3 seconds, while QEMU runs.
wait_console() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$deadline" ]; do
        grep -qE "$2" "$1" && return 0
        kill -0 "$qemu_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Wait until console $1 has a line matching $3 after the first line matching $2, at most
# $4 seconds, while QEMU runs.
wait_console_after() {
    local deadline=$((SECONDS + $4))
    while [ "$SECONDS" -lt "$deadline" ]; do
        awk -v first="$2" -v then="$3" '
            seen && $0 ~ then { found = 1; exit }
            $0 ~ first { seen = 1 }
            END { exit !found }' "$1" && return 0
        kill -0 "$qemu_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# boot TEMPORALITY: one boot against a fresh sink, then its checks. Leaves the console
# in $work/TEMPORALITY.board.log and the sink's output in $work/TEMPORALITY.sink.log.
failed_boots=()
boot() {
    local t=$1 board_log="$work/$1.board.log" sink_log="$work/$1.sink.log"
    local monitor_sock="$work/$1.monitor.sock" toggled=0 board_status sink_status
    echo
    echo "== boot: $t, $EXPORTS exports, sink script $SINK_SCRIPT (timeout ${BOOT_TIMEOUT} s)"
    ip netns exec "$NS" "${SINK[@]}" --bind "$HOST_ADDR" --port "$PORT" --points \
        --script "$SINK_SCRIPT" --stop-file "$work/$t.stop" --seconds $((BOOT_TIMEOUT + 30)) \
        >"$sink_log" 2>&1 &
    sink_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening:' "$sink_log" && break
        kill -0 "$sink_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^listening:' "$sink_log" || { cat "$sink_log"; echo "qemu-board: the sink did not start" >&2; exit 1; }

    # No display; nothing on stdin: no serial port, and the monitor on a unix socket.
    : >"$board_log"
    ip netns exec "$NS" timeout --kill-after=5 "$BOOT_TIMEOUT" qemu-system-arm \
        -cpu cortex-m4 -machine mps2-an386 \
        -nic "tap,id=board0,ifname=$TAP,script=no,downscript=no,model=lan9118,mac=$MAC" \
        -kernel "$IMAGE" -append "temporality=$t exports=$EXPORTS" \
        -semihosting-config enable=on,target=native \
        -nographic -serial none -monitor "unix:$monitor_sock,server=on,wait=off" \
        </dev/null >"$work/$t.qemu.out" 2>"$board_log" &
    qemu_pid=$!
    if wait_console "$board_log" "^export $LINK_DOWN_AFTER: " 180; then
        monitor "$monitor_sock" "set_link board0 off"
        # Up again once the firmware saw the link go down and an export failed after that.
        if wait_console "$board_log" "^link: down" 30 &&
            wait_console_after "$board_log" "^link: down" "^export [0-9]+: Failed" 60; then
            monitor "$monitor_sock" "set_link board0 on"
            toggled=1
        fi
    fi
    set +e
    wait "$qemu_pid"
    board_status=$?
    set -e
    qemu_pid=""
    touch "$work/$t.stop"
    set +e
    wait "$sink_pid"
    sink_status=$?
    set -e
    sink_pid=""

    echo "== $t: board console (QEMU's stderr), exit status $board_status"
    cat "$work/$t.qemu.out" "$board_log"
    echo "== $t: sink (exit status $sink_status)"
    grep -v '^point ' "$sink_log" || true
    echo "== $t: check"
    python3 scripts/qemu-board-check.py "$board_log" "$sink_log" --mac "$MAC" \
        --status "$board_status" --exports "$EXPORTS" --temporality "$t" \
        --script "$SINK_SCRIPT" --toggled "$toggled" || {
        failed_boots+=("$t")
        echo "== $t: the sink's points (the check failed)"
        grep '^point ' "$sink_log" || true
    }
}

# A word the firmware does not know must stop it with a message and its own exit status
# (3), not run a boot it was not asked for. No network needed: it stops before the NIC.
echo
echo "== a command line the firmware refuses"
set +e
timeout 30 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nic none -kernel "$IMAGE" \
    -append "temporality=weekly" -semihosting-config enable=on,target=native \
    -nographic -serial none -monitor none </dev/null >/dev/null 2>"$work/refused.log"
refused_status=$?
set -e
cat "$work/refused.log"
if [ "$refused_status" = 3 ] &&
    grep -qx 'options: "temporality=weekly": temporality is delta or cumulative' "$work/refused.log"; then
    echo "ok   temporality=weekly: refused with its word named, exit status 3"
else
    echo "FAIL temporality=weekly: want exit status 3 and the word named (got $refused_status)"
    failed_boots+=("refused-command-line")
fi

boot delta
boot cumulative

echo
echo "== figures"
# The image's figures and each boot's, as `what<TAB>figure<TAB>value` rows: the footprint
# report (scripts/footprint.sh) includes them for the image whose sha256 they name.
figures="$work/figures.tsv"
{
    printf 'image\tsha256\t%s\n' "$(sha256sum "$IMAGE" | cut -d' ' -f1)"
    python3 scripts/board-image-figures.py "$IMAGE" | sed 's/^/image\t/'
    for t in delta cumulative; do
        python3 - "$work/$t.board.log" "$work/$t.sink.log" "$t" <<'PY'
import re, sys
board = open(sys.argv[1]).read()
sink = open(sys.argv[2]).read().splitlines()
boot = sys.argv[3]
rows = {}
m = re.search(r"^longest loop iteration (\d+) us$", board, re.M)
rows["longest_loop_us"] = m and m.group(1)
m = re.search(r"^stack main-loop \(PSP\) (\d+) of (\d+) bytes \((\d+) in use.*handlers \(MSP\) (\d+) of (\d+) bytes$", board, re.M)
for i, key in enumerate(("stack_main_loop", "stack_main_loop_size", "stack_main_loop_frame",
                         "stack_handlers", "stack_handlers_size")):
    rows[key] = m and m.group(i + 1)
outcomes = re.findall(r"^export \d+: (\w+), points", board, re.M)
rows["exports"] = len(outcomes)
rows["exports_delivered"] = outcomes.count("Success")
rows["exports_failed"] = outcomes.count("Failed")
rows["requests"] = sum(1 for l in sink if l.startswith("conn "))
for key, value in rows.items():
    print(f"{boot}\t{key}\t{value if value is not None else 'missing'}")
PY
    done
} >"$figures"
awk -F'\t' '
    $1 == "image" && $2 == "flash" { printf "image: flash %d B of 262144", $3 }
    $1 == "image" && $2 == "static_ram" { printf ", static RAM %d B of 65536\n", $3 }' "$figures"
echo "code + rodata by part (symbol sizes; fat LTO inlines across crates, so bytes count"
echo "where they landed: the board program's run() holds the inlined export path):"
awk -F'\t' '$1 == "image" && $2 ~ /^part:/ { sub(/^part:/, "", $2); printf "  %8d B  %s\n", $3, $2 }
    $1 == "image" && $2 == "part_total" { printf "  %8d B  total in symbols\n", $3 }' "$figures"
for t in delta cumulative; do
    awk -F'\t' -v t="$t" '$1 == t { v[$2] = $3 } END {
        printf "%s: stack main loop (PSP) %s of %s B (%s when the loop started), handlers (MSP) %s of %s B; longest loop iteration %s us; exports %s (delivered %s, failed %s), requests %s\n",
            t, v["stack_main_loop"], v["stack_main_loop_size"], v["stack_main_loop_frame"],
            v["stack_handlers"], v["stack_handlers_size"], v["longest_loop_us"],
            v["exports"], v["exports_delivered"], v["exports_failed"], v["requests"] }' "$figures"
done

if [ ${#failed_boots[@]} -gt 0 ]; then
    echo "qemu-board: FAILED: ${failed_boots[*]}" >&2
    exit 1
fi
mkdir -p "$FIGURES_DIR"
cp "$figures" "$FIGURES_DIR/figures.tsv"
echo "qemu-board: figures written to $FIGURES_DIR/figures.tsv (scripts/footprint.sh reports them)"
echo "qemu-board: passed"
