#!/usr/bin/env bash
# The emulated board end to end: builds examples/firmware-qemu for thumbv7em-none-eabihf,
# makes a network namespace holding a TAP device, starts the OTLP sink on the Linux side of
# it (192.168.19.1:4318), boots QEMU's mps2-an386 (Cortex-M4F, LAN9118 on the TAP device)
# inside the namespace, and checks that what the sink decoded equals what the firmware says
# it recorded: exact sums, counts and bucket counts per series, the SysTick counter rising
# between exports, every connection closed. It prints the image's flash and RAM, the stack
# high-water marks and the longest loop iteration.
#
# During the boot the link is taken down through QEMU's monitor (`set_link`: a TAP device
# going down would be invisible to the emulated PHY) after export 2, and up again once an
# export has failed: the firmware must log both link changes, every export between them
# must fail with all its points kept, and the later exports must deliver what they kept.
#
# Needs (Debian): qemu-system-arm, lld, iproute2; root and /dev/net/tun; the target
# compiler from ../shared/tools/target-rustc.sh. Installs nothing. Without a prerequisite
# it prints one SKIP line and exits 0, unless OTLP_REQUIRE_TAP=1 (CI), which makes that a
# failure. Every wait is bounded; the namespace and the processes it started are removed
# on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

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
BOOT_TIMEOUT=120
EXPORTS=5
# The link goes down after this export.
LINK_DOWN_AFTER=2

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
eval "$(../shared/tools/target-rustc.sh)"
(
    cd examples/firmware-qemu
    RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --release --locked \
        -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem
)
IMAGE=examples/firmware-qemu/target/thumbv7em-none-eabihf/release/firmware-qemu

# ---- The sink: the one place that says how it is built and run: the test kit's
# `otlp_sink` example. It must accept --bind --port --points --stop-file --seconds and
# print `point`, `stats` and `total` lines (see the example).
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

ip netns exec "$NS" "${SINK[@]}" --bind "$HOST_ADDR" --port "$PORT" --points \
    --stop-file "$work/stop" --seconds $((BOOT_TIMEOUT + 30)) >"$work/sink.log" 2>&1 &
sink_pid=$!
for _ in $(seq 100); do
    grep -q '^listening:' "$work/sink.log" && break
    kill -0 "$sink_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q '^listening:' "$work/sink.log" || { cat "$work/sink.log"; echo "qemu-board: the sink did not start" >&2; exit 1; }

# One command to QEMU's monitor, bounded; prints the monitor's answer.
monitor() {
    timeout 10 python3 - "$work/monitor.sock" "$1" <<'PY'
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

# Wait until the board's console has a line matching $1, at most $2 seconds, while QEMU runs.
wait_console() {
    local deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        grep -qE "$1" "$work/board.log" && return 0
        kill -0 "$qemu_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

echo "== boot (timeout ${BOOT_TIMEOUT} s)"
# No display; nothing on stdin: no serial port, and the monitor on a unix socket.
ip netns exec "$NS" timeout --kill-after=5 "$BOOT_TIMEOUT" qemu-system-arm \
    -cpu cortex-m4 -machine mps2-an386 \
    -nic "tap,id=board0,ifname=$TAP,script=no,downscript=no,model=lan9118,mac=$MAC" \
    -kernel "$IMAGE" \
    -semihosting-config enable=on,target=native \
    -nographic -serial none -monitor "unix:$work/monitor.sock,server=on,wait=off" \
    </dev/null >"$work/qemu.out" 2>"$work/board.log" &
qemu_pid=$!
toggled=0
if wait_console "^export $LINK_DOWN_AFTER: " 60; then
    monitor "set_link board0 off"
    # Up again once the firmware saw the link go down and an export failed for it.
    if wait_console "^link: down" 30 && wait_console "^export [0-9]+: Failed" 60; then
        monitor "set_link board0 on"
        toggled=1
    fi
fi
set +e
wait "$qemu_pid"
board_status=$?
set -e
qemu_pid=""
touch "$work/stop"
set +e
wait "$sink_pid"
sink_status=$?
set -e
sink_pid=""

echo "== board console (QEMU's stderr), exit status $board_status"
cat "$work/qemu.out" "$work/board.log"
echo "== sink (exit status $sink_status)"
grep -v '^point ' "$work/sink.log" || true

echo "== check"
python3 - "$work/board.log" "$work/sink.log" "$MAC" "$board_status" "$EXPORTS" \
    "$toggled" <<'PY'
import re, sys

board_log, sink_log, mac, status, exports_wanted, toggled = sys.argv[1:]
board = open(board_log).read().splitlines()
sink = open(sink_log).read().splitlines()
failures = []

def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)

check(status == "0", f"board exit status 0 (got {status})")
check(f"mac {mac}" in board, f"board printed the MAC address it read from the chip ({mac})")

exports = [l for l in board if re.match(r"export \d+: ", l) and "last error" not in l]
check(len(exports) == int(exports_wanted), f"{exports_wanted} exports (got {len(exports)})")
check(toggled == "1", "the link was taken down, and up again after an export failed")
went_down = [i for i, l in enumerate(board) if re.match(r"link: down at \d+ ms", l)]
came_up = [i for i, l in enumerate(board) if re.match(r"link: up at \d+ ms", l)]
check(len(went_down) == 1, "the firmware logged the link going down, once")
check(len(came_up) == 1, "the firmware logged the link coming up, once")
lo, hi = (went_down + [0])[0], (came_up + [len(board)])[0]
down = [l for l in board[lo:hi] if l in exports]
ok_exports = [l for l in exports if l not in down]
check(len(down) >= 1, f"{len(down)} export(s) while the link was down")
for l in down:
    kept = re.search(r": Failed, points (\d+) sent 0 abandoned (\d+) dropped 0,", l)
    check(bool(kept) and kept.group(1) == kept.group(2) and int(kept.group(1)) > 0,
          f"with the link down, the export failed and kept all its points: {l}")
check(all(": Success," in l for l in ok_exports), "every export with the link up succeeded")
check(all("client Closed" in l for l in exports), "the client closed its connection after every export")
rises = [int(re.search(r"ticks since last export (\d+)", l).group(1)) for l in exports]
check(all(r > 0 for r in rises), f"SysTick counter rose between exports (firmware: {rises})")

# What the firmware recorded.
recorded = {}
for l in board:
    m = re.match(r"recorded (\S+) (.*)", l)
    if m:
        recorded[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())

# What the sink decoded: per-point lines and totals.
points = {}
for l in sink:
    m = re.match(r"point (\S+) (.*)", l)
    if m:
        points.setdefault(m.group(1), []).append(dict(kv.split("=", 1) for kv in m.group(2).split()))
totals = {}
for l in sink:
    m = re.match(r"total (\S+) (.*)", l)
    if m:
        totals[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())
stats = {}
for l in sink:
    if l.startswith("stats "):
        stats = dict(kv.split("=", 1) for kv in l.split()[1:])

def num(s):
    return float(s)

every = [p for ps in points.values() for p in ps]
check(len(every) > 0 and all(p.get("temporality") == "1" for p in every), "every point is DELTA (temporality 1)")

ticks = totals.get("board.systick.ticks{}", {})
check(num(ticks.get("value_sum", "-1")) == num(recorded["board.systick.ticks"]["sum"]),
      f"board.systick.ticks: sink {ticks.get('value_sum')} == recorded {recorded['board.systick.ticks']['sum']}")
tick_points = [int(p["value"]) for p in points.get("board.systick.ticks{}", [])]
check(len(tick_points) == len(ok_exports) and all(v > 0 for v in tick_points),
      f"the sink got one rising SysTick count per delivered export ({tick_points})")

for name in ("board.systick.latency", "board.loop.iteration"):
    t = totals.get(name + "{}", {})
    r = recorded[name]
    check(num(t.get("histogram_count", "-1")) == num(r["count"]), f"{name}: count sink {t.get('histogram_count')} == recorded {r['count']}")
    check(num(t.get("histogram_sum", "-1")) == num(r["sum"]), f"{name}: sum sink {t.get('histogram_sum')} == recorded {r['sum']}")
    sums = None
    for p in points.get(name + "{}", []):
        b = [int(x) for x in p["buckets"].split(",")]
        sums = b if sums is None else [x + y for x, y in zip(sums, b)]
    want = [int(x) for x in r["buckets"].split(",")]
    check(sums == want, f"{name}: buckets sink {sums} == recorded {want}")
    if name == "board.loop.iteration":
        populated = sum(1 for c in (sums or []) if c > 0)
        check(populated >= 3, f"{name}: at least 3 buckets populated ({populated})")

for d in ("rx", "tx"):
    key = f"board.nic.frames{{direction={d}}}"
    t = totals.get(key, {})
    r = recorded[key]
    check(num(t.get("value_sum", "-1")) == num(r["sum"]), f"{key}: sink {t.get('value_sum')} == recorded {r['sum']}")

accepted, closed = int(stats.get("accepted", -1)), int(stats.get("closed", -2))
check(accepted >= len(ok_exports) and accepted == closed, f"every connection closed (accepted {accepted}, closed {closed})")
check(stats.get("decode_errors") == "0", "no request failed to decode")

if failures:
    print(f"qemu-board: {len(failures)} check(s) failed")
    sys.exit(1)
PY

echo "== figures"
# Flash: what the image loads (vectors, code, read-only data, .data's initial values);
# RAM: .data + .bss + .uninit (the stacks take what is left of 64 KiB).
size -A "$IMAGE" | awk '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
    $1 == ".data" { flash += $2; ram += $2 }
    $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    END { printf "image: flash %d B of 262144, static RAM %d B of 65536\n", flash, ram }'
# Code and read-only data by crate, from the symbol table. Fat LTO inlines across crates,
# so a function's bytes count for the crate that owns the function they ended up in (the
# board's `run` holds the inlined export path, for one); bytes with no symbol (alignment,
# the vector table) are listed as such.
nm -S -C "$IMAGE" | python3 -c '
import re, sys
GROUPS = [
    ("otlp-embedded (core)", ("otlp_embedded", "httparse", "heapless", "libm", "embedded_io", "hash32")),
    ("otlp-embedded-smoltcp", ("otlp_embedded_smoltcp",)),
    ("smoltcp", ("smoltcp", "managed", "byteorder")),
    ("LAN9118 driver", ("firmware_qemu::lan9118",)),
    ("board program (firmware-qemu)", ("firmware_qemu",)),
    ("startup and console (cortex-m, -rt, semihosting)", ("cortex_m", "cortex_m_rt", "cortex_m_semihosting", "critical_section")),
    ("Rust core (fmt, slices, integers)", ("core",)),
    ("compiler builtins (soft-float, mem*)", ("compiler_builtins",)),
    ("outlined code (LLVM machine outliner)", ("OUTLINED",)),
]
PRIMITIVES = {"u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
              "f32", "f64", "char", "str", "bool"}
def owner(name):
    if name.startswith("OUTLINED_FUNCTION"):
        return "OUTLINED"
    if "::" not in name:
        if name.startswith("__") and not name.startswith("__INTERRUPTS") and not name.startswith("__EXCEPTIONS") \
                and not name.startswith("__RESET") or name in ("memcmp", "memcpy", "memset", "memmove"):
            return "compiler_builtins"
        # Entry, exception handlers, vector tables.
        return "cortex_m_rt" if name.startswith("__") or name in ("Reset", "DefaultHandler_", "DefaultPreInit", "HardFault_") else "firmware_qemu"
    # <A as B>::f and <A>::f belong to A; generic arguments do not count.
    m = re.match(r"<*&*(?:mut )?(?:dyn )?\[?([A-Za-z_][A-Za-z0-9_]*)(::([a-z0-9_]+))?", name)
    if not m:
        return "core"  # impls on tuples and the unit type
    crate = m.group(1)
    if crate in PRIMITIVES:
        return "core"
    if crate == "__rustc":
        return "firmware_qemu"  # the panic handler
    if crate == "firmware_qemu" and m.group(3) == "lan9118":
        return "firmware_qemu::lan9118"
    return crate
by = {}
other = {}
for line in sys.stdin:
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) != 4 or parts[2] not in "tTrR" or parts[3].startswith("$"):
        continue
    size, crate = int(parts[1], 16), owner(parts[3])
    for label, prefixes in GROUPS:
        if crate in prefixes:
            by[label] = by.get(label, 0) + size
            break
    else:
        other[crate] = other.get(crate, 0) + size
print("code + rodata by part (symbol sizes; fat LTO inlines across crates, so bytes count")
print("where they landed: the board program`s run() holds the inlined export path):")
for label, _ in GROUPS:
    print(f"  {by.get(label, 0):8d} B  {label}")
for crate, size in sorted(other.items(), key=lambda kv: -kv[1]):
    print(f"  {size:8d} B  {crate}")
print(f"  {sum(by.values()) + sum(other.values()):8d} B  total in symbols")
'
grep -E '^(longest loop iteration|stack |exports )' "$work/board.log"
echo "qemu-board: passed"
