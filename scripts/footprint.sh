#!/usr/bin/env bash
# Footprint report: what the library costs on real Cortex-M targets, measured on images that
# run under QEMU, then the host firmware binary as the upper bound.
#
# For thumbv7em-none-eabihf (Cortex-M4F, QEMU mps2-an386), thumbv7m-none-eabi (Cortex-M3,
# lm3s6965evb) and thumbv6m-none-eabi (Cortex-M0, microbit) it builds firmware-min and
# firmware-baseline (examples/firmware-cortex-m, profile `firmware`: opt-level z, fat LTO,
# one codegen unit, panic abort) and firmware-worst (firmware-min's program exporting again,
# the worst way), boots all three (each must exit 0), and prints per target:
#
# - library cost: `.text + .rodata` of firmware-min minus the same of firmware-baseline
#   (and firmware-worst's, the worst export's script and checks added);
# - that cost by crate and by module of otlp-embedded (symbol sizes from `nm -S`);
# - static RAM (`.data + .bss`) and the caller-lent buffers in it;
# - stack high-water marks measured on the target (painted stack, counted after the run):
#   the worst export's in firmware-worst, the plain export's in firmware-min;
#
# each beside its target and beside the previous figure from docs/footprint-baseline.tsv.
# On Cortex-M4F it also builds firmware-smoltcp (IPv4-only Ethernet) and, for comparison,
# the same with transport-smoltcp's default features, and prints smoltcp's bytes; and
# firmware-dns without and with transport-smoltcp's `dns` feature (one export to an IP
# literal, and to a host name through the DNS resolver), and prints what host names cost:
# code, static RAM, stack and the resolver's size.
#
# Then the emulated board's whole image (examples/firmware-qemu: library, smoltcp, the
# LAN9118 driver and the program, as scripts/qemu-board.sh boots it): its flash, RAM and
# code by part, built here (nothing to do after a board run), and the stack high-water
# marks and longest loop iteration of the last board run of this same image, read from
# target/qemu-board/figures.tsv (the board is not booted again here).
#
# Fails when a build fails, an image does not exit 0, `core::fmt` is linked into
# firmware-min (FOOTPRINT_ALLOW_FMT=1 reports it without failing), the IPv4-only smoltcp
# image links IPv6 code, or firmware-dns without `dns` links UDP or DNS code.
# FOOTPRINT_UPDATE=1 rewrites docs/footprint-baseline.tsv with this run's figures (commit
# it with the change that moved them).
#
# Needs: the target compiler (../shared/tools/target-rustc.sh), Debian's lld,
# qemu-system-arm, binutils (size, nm) and binutils-arm-none-eabi (objdump for ARM).
# Writes the report to target/footprint.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for tool in size nm ld.lld qemu-system-arm arm-none-eabi-objdump timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "footprint: '$tool' not found. Debian: apt-get install binutils lld" \
            "qemu-system-arm binutils-arm-none-eabi coreutils" >&2
        exit 1
    fi
done

eval "$(bash ../shared/tools/target-rustc.sh)"
export CARGO_TARGET_DIR="$root/target/cross"
work="$root/target/cross/footprint"
rm -rf "$work"
mkdir -p "$work"
baseline_file="$root/docs/footprint-baseline.tsv"
current="$work/current.tsv"
: >"$current"
out="$root/target/footprint.md"
boot_timeout="${FOOTPRINT_BOOT_TIMEOUT:-60}"

targets=(thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi)
declare -A machine=(
    [thumbv7em-none-eabihf]=mps2-an386
    [thumbv7m-none-eabi]=lm3s6965evb
    [thumbv6m-none-eabi]=microbit
)
declare -A core_name=(
    [thumbv7em-none-eabihf]="Cortex-M4F"
    [thumbv7m-none-eabi]="Cortex-M3"
    [thumbv6m-none-eabi]="Cortex-M0"
)

# build TARGET CARGO-ARGS...: one cargo invocation in the firmware package.
build() {
    local target=$1
    shift
    (cd examples/firmware-cortex-m &&
        RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 cargo build -q --profile firmware \
            --target "$target" -Zbuild-std=core,compiler_builtins \
            -Zbuild-std-features=compiler-builtins-mem "$@")
}

# boot TARGET IMAGE LOG: run under QEMU with semihosting; fails unless the image exits 0.
boot() {
    local target=$1 image=$2 log=$3 status=0
    timeout "$boot_timeout" qemu-system-arm -machine "${machine[$target]}" -nographic \
        -semihosting-config enable=on,target=native -kernel "$image" </dev/null >"$log" 2>&1 ||
        status=$?
    if [ "$status" -ne 0 ]; then
        echo "footprint: $(basename "$image") on ${machine[$target]} exited $status" \
            "(124: no exit within ${boot_timeout} s); its output:" >&2
        cat "$log" >&2
        exit 1
    fi
}

# printed LOG KEY: a `key value` line the image printed over semihosting.
printed() { awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }

# section IMAGE NAME: size of one section in bytes (0 when absent).
section() { size -A "$1" | awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }'; }

text_rodata() { echo $(( $(section "$1" .text) + $(section "$1" .rodata) )); }

# record TARGET KEY VALUE: a figure of this run.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$current"; }

# Group of a demangled symbol: `otlp_embedded::<module>` for the library, else its crate
# (looking through `<`, `&`, `dyn` and `<T as Trait>` to the self type's crate; a generic
# instantiated for the program's type counts where its code is defined). LTO inlines
# callees into callers, so a module's figure is the code that ended up in its functions.
group_awk='
function group_of(name,   n, i, a, c, m) {
  n = name
  sub(/^_?</, "", n); sub(/^&(mut )?/, "", n); sub(/^dyn /, "", n)
  a = index(n, " as "); i = index(n, "::")
  if (a > 0 && (i == 0 || a < i)) { n = substr(n, a + 4); sub(/^</, "", n); sub(/^&(mut )?/, "", n) }
  # Inherent methods of slices, arrays and str (`<[u8]>::copy_from_slice`,
  # `<str>::get`) are core code.
  if (n ~ /^\[/ || n ~ /^str>/) return "core"
  # opt-level z runs the machine outliner: code sequences shared by several functions.
  if (n ~ /^OUTLINED_FUNCTION_/) return "(outlined fragments shared by functions)"
  # The C-ABI names of compiler-builtins (soft-float, 64-bit division).
  if (n ~ /^__aeabi_/ || n ~ /^__[a-z0-9]+[0-9]$/) return "compiler_builtins"
  i = index(n, "::")
  if (i == 0) return "(runtime: vectors, reset, handlers)"
  c = substr(n, 1, i - 1); sub(/<.*/, "", c)
  # The code of the two programs themselves (main, and the canned stream and checks).
  if (c == "firmware_min" || c == "firmware_baseline" || n ~ /^otlp_embedded_firmware_cortex_m::program::/) return "(the program: main, canned stream, checks)"
  if (c == "otlp_embedded") {
    m = substr(n, i + 2); sub(/::.*/, "", m); sub(/<.*/, "", m); sub(/>.*/, "", m)
    return "otlp_embedded::" m
  }
  return c
}
function name_of(line,   f) { f = line; sub(/^[0-9]+ [0-9]+ [A-Za-z] /, "", f); return f }
'

# groups IMAGE: `group<TAB>bytes` of code and read-only data by symbol.
groups() {
    nm -S -C -t d "$1" | awk "$group_awk"'
        NF >= 4 && $3 ~ /^[tTwWrR]$/ { b[group_of(name_of($0))] += $2 }
        END { for (g in b) printf "%s\t%d\n", g, b[g] }'
}

# callers IMAGE REGEX: `function<TAB>count` of functions that branch to a symbol matching
# REGEX (demangled), from the ARM disassembly.
callers() {
    arm-none-eabi-objdump -d -C --no-show-raw-insn "$1" | awk -v re="$2" '
        /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); next }
        /\t(bl|b|b\.w|blx|b[a-z][a-z](\.w)?)\t/ && $0 ~ re {
            t = $0; sub(/.*</, "", t); sub(/>.*/, "", t)
            if (t != fn && fn !~ re && fn !~ /panicking|_fail$/) n[fn]++ }
        END { for (f in n) printf "%s\t%d\n", f, n[f] }' | sort -t$'\t' -k2,2nr -k1,1
}

started=$(date +%s)
for target in "${targets[@]}"; do
    t0=$(date +%s)
    dir="$work/$target"
    mkdir -p "$dir"
    bins=(--bin firmware-min --bin firmware-worst --bin firmware-baseline)
    if [ "$target" = thumbv7em-none-eabihf ]; then
        bins=(--features smoltcp --bins)
    fi
    build "$target" "${bins[@]}"
    images="$CARGO_TARGET_DIR/$target/firmware"
    cp "$images/firmware-min" "$images/firmware-worst" "$images/firmware-baseline" "$dir/"
    boot "$target" "$dir/firmware-min" "$dir/min.log"
    boot "$target" "$dir/firmware-worst" "$dir/worst.log"
    boot "$target" "$dir/firmware-baseline" "$dir/baseline.log"
    min=$(text_rodata "$dir/firmware-min")
    base=$(text_rodata "$dir/firmware-baseline")
    record "$target" library_cost $(( min - base ))
    record "$target" worst_cost $(( $(text_rodata "$dir/firmware-worst") - base ))
    record "$target" min_text_rodata "$min"
    record "$target" baseline_text_rodata "$base"
    record "$target" min_flash $(( $(section "$dir/firmware-min" .vector_table) + min + $(section "$dir/firmware-min" .data) ))
    record "$target" static_ram $(( $(section "$dir/firmware-min" .data) + $(section "$dir/firmware-min" .bss) ))
    record "$target" baseline_static_ram $(( $(section "$dir/firmware-baseline" .data) + $(section "$dir/firmware-baseline" .bss) ))
    record "$target" stack_worst_export "$(printed "$dir/worst.log" stack.worst_export)"
    record "$target" stack_plain_export "$(printed "$dir/min.log" stack.plain_export)"
    record "$target" stack_main_entry "$(printed "$dir/min.log" stack.main_entry)"
    record "$target" stack_baseline "$(printed "$dir/baseline.log" stack.high_water)"
    record "$target" exporter_and_client "$(printed "$dir/worst.log" stack.exporter_and_client)"
    groups "$dir/firmware-min" >"$dir/min.groups"
    groups "$dir/firmware-baseline" >"$dir/baseline.groups"
    # By group: firmware-min's bytes minus the baseline's; what no symbol covers (string
    # literals, alignment) is its own row, so the rows add up to the library cost.
    awk -F'\t' -v min="$min" -v base="$base" '
        FNR == NR { m[$1] = $2; ms += $2; next } { b[$1] = $2; bs += $2 }
        END {
          for (g in m) d[g] = m[g] - b[g]
          for (g in b) if (!(g in m)) d[g] = -b[g]
          d["(no symbol: literals, padding)"] = (min - ms) - (base - bs)
          for (g in d) if (d[g] != 0) printf "%s\t%d\n", g, d[g] }' \
        "$dir/min.groups" "$dir/baseline.groups" | sort -t$'\t' -k2,2nr >"$dir/cost.groups"
    while IFS=$'\t' read -r group bytes; do
        record "$target" "part:$group" "$bytes"
    done <"$dir/cost.groups"
    echo "footprint: $target built and booted in $(( $(date +%s) - t0 )) s" >&2
done

# smoltcp on Cortex-M4F: the IPv4-only Ethernet build, then transport-smoltcp's defaults.
m4=thumbv7em-none-eabihf
dir="$work/$m4"
cp "$CARGO_TARGET_DIR/$m4/firmware/firmware-smoltcp" "$dir/firmware-smoltcp-ipv4"
# firmware-dns was built with the bins above, without `dns`: the export to an IP literal.
cp "$CARGO_TARGET_DIR/$m4/firmware/firmware-dns" "$dir/firmware-dns-literal"
build "$m4" --features smoltcp-default --bin firmware-smoltcp
cp "$CARGO_TARGET_DIR/$m4/firmware/firmware-smoltcp" "$dir/firmware-smoltcp-default"
for variant in ipv4 default; do
    image="$dir/firmware-smoltcp-$variant"
    boot "$m4" "$image" "$dir/smoltcp-$variant.log"
    groups "$image" >"$dir/smoltcp-$variant.groups"
    record "$m4" "smoltcp_$variant:smoltcp" "$(awk -F'\t' '$1 == "smoltcp" { v = $2 } END { print v + 0 }' "$dir/smoltcp-$variant.groups")"
    record "$m4" "smoltcp_$variant:otlp_embedded_smoltcp" "$(awk -F'\t' '$1 == "otlp_embedded_smoltcp" { v = $2 } END { print v + 0 }' "$dir/smoltcp-$variant.groups")"
    record "$m4" "smoltcp_$variant:text_rodata" "$(text_rodata "$image")"
    record "$m4" "smoltcp_$variant:stack" "$(printed "$dir/smoltcp-$variant.log" stack.export)"
done
record "$m4" ram_per_series_k9 "$(printed "$dir/smoltcp-ipv4.log" ram.series_k9)"
record "$m4" ram_per_series_k34 "$(printed "$dir/smoltcp-ipv4.log" ram.series_k34)"
record "$m4" ram_per_series_k64 "$(printed "$dir/smoltcp-ipv4.log" ram.series_k64)"
ipv6_symbols=$(nm -C "$dir/firmware-smoltcp-ipv4" | grep -ciE 'ipv6|icmpv6|ndisc|sixlowpan' || true)

# Host names on Cortex-M4F: firmware-dns with `dns` (by name) against the build above.
build "$m4" --features dns --bin firmware-dns
cp "$CARGO_TARGET_DIR/$m4/firmware/firmware-dns" "$dir/firmware-dns-name"
# crate_bytes GROUPS CRATE: one crate's code and read-only data, from `groups` output.
crate_bytes() { awk -F'\t' -v c="$2" '$1 == c { v = $2 } END { print v + 0 }' "$1"; }
static_ram() { echo $(( $(section "$1" .data) + $(section "$1" .bss) )); }
for variant in literal name; do
    image="$dir/firmware-dns-$variant"
    boot "$m4" "$image" "$dir/dns-$variant.log"
    groups "$image" >"$dir/dns-$variant.groups"
    record "$m4" "dns_$variant:text_rodata" "$(text_rodata "$image")"
    record "$m4" "dns_$variant:static_ram" "$(static_ram "$image")"
    record "$m4" "dns_$variant:stack" "$(printed "$dir/dns-$variant.log" stack.export)"
done
dns_cost=$(( $(text_rodata "$dir/firmware-dns-name") - $(text_rodata "$dir/firmware-dns-literal") ))
record "$m4" dns_cost "$dns_cost"
# smoltcp's share is its own symbols; the resolver's code is mostly inlined into the
# program's main by LTO, so it is the rest rather than a crate's symbols.
dns_smoltcp=$(( $(crate_bytes "$dir/dns-name.groups" smoltcp) - $(crate_bytes "$dir/dns-literal.groups" smoltcp) ))
record "$m4" dns_cost:smoltcp "$dns_smoltcp"
record "$m4" dns_cost:rest $(( dns_cost - dns_smoltcp ))
record "$m4" dns_cost:static_ram $(( $(static_ram "$dir/firmware-dns-name") - $(static_ram "$dir/firmware-dns-literal") ))
for shape in 2x64 1x32 4x64; do
    record "$m4" "dns_resolver_$shape" "$(printed "$dir/dns-name.log" "dns.resolver_$shape")"
done
# Without `dns` nothing of UDP or the resolver may be linked.
dns_symbols=$(nm -C "$dir/firmware-dns-literal" | grep -cE 'smoltcp::socket::udp|otlp_embedded_smoltcp::dns::' || true)

# The emulated board's image, built where scripts/qemu-board.sh builds it, and the figures
# of the last board run if that run booted this very image.
board_image=$(env -u CARGO_TARGET_DIR bash scripts/qemu-board.sh --build-only)
board_sha=$(sha256sum "$board_image" | cut -d' ' -f1)
python3 scripts/board-image-figures.py "$board_image" >"$work/board-image.tsv"
while IFS=$'\t' read -r key bytes; do
    record board "$key" "$bytes"
done <"$work/board-image.tsv"
board_runs="$root/target/qemu-board/figures.tsv"
board_run=none
if [ -f "$board_runs" ]; then
    board_run=stale
    if awk -F'\t' -v sha="$board_sha" '$1 == "image" && $2 == "sha256" && $3 == sha { ok = 1 } END { exit !ok }' "$board_runs"; then
        board_run=this
    fi
fi
# run_figure BOOT KEY: a figure of the last board run.
run_figure() { awk -F'\t' -v b="$1" -v k="$2" '$1 == b && $2 == k { print $3 }' "$board_runs"; }
if [ "$board_run" = this ]; then
    # The image's high-water marks: the deeper of the two boots.
    for key in stack_main_loop stack_handlers; do
        a=$(run_figure delta "$key")
        b=$(run_figure cumulative "$key")
        record board "$key" $(( a > b ? a : b ))
    done
fi

# core::fmt in firmware-min, per target, and who calls it.
fmt_found=0
for target in "${targets[@]}"; do
    n=$(nm -C "$work/$target/firmware-min" | grep -c 'core::fmt' || true)
    record "$target" core_fmt_symbols "$n"
    [ "$n" -eq 0 ] || fmt_found=1
done

# prev TARGET KEY: the committed figure, or empty.
prev() {
    [ -f "$baseline_file" ] || return 0
    awk -F'\t' -v t="$1" -v k="$2" '$1 == t && $2 == k { print $3 }' "$baseline_file"
}
now() { awk -F'\t' -v t="$1" -v k="$2" '$1 == t && $2 == k { print $3 }' "$current"; }

# row LABEL TARGET KEY GOAL: a table row with the previous figure and the change.
row() {
    local label=$1 target=$2 key=$3 goal=${4:-} value before change
    value=$(now "$target" "$key")
    before=$(prev "$target" "$key")
    if [ -z "$before" ]; then
        before="—"
        change="new"
    elif [ "$before" -eq "$value" ]; then
        change="0"
    else
        change=$(printf '%+d' $(( value - before )))
    fi
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$value" "$before" "$change" "$goal"
}

# verdict VALUE LIMIT [AIM]: how a figure stands against its target.
verdict() {
    local value=$1 limit=$2 aim=${3:-}
    if [ "$value" -le "${aim:-$limit}" ]; then
        echo "≤ $limit${aim:+ (aim $aim)}: met"
    elif [ "$value" -le "$limit" ]; then
        echo "≤ $limit (aim $aim): met; $(( value - aim )) over the aim"
    else
        echo "≤ $limit${aim:+ (aim $aim)}: **over by $(( value - limit ))**"
    fi
}

{
    echo "## Footprint on Cortex-M"
    echo
    echo "Measured by \`bash scripts/footprint.sh\` ($("$TARGET_RUSTC" --version)), on images"
    echo "that ran under QEMU: \`firmware-min\` (examples/firmware-cortex-m: one registry, a"
    echo "counter with one attribute and an explicit-bucket histogram, four recordings, one"
    echo "export through core's HTTP/1.1 client over an in-memory stream that answers 200, which"
    echo "must deliver every point), \`firmware-worst\` (the same program exporting a second"
    echo "time, the worst way) and \`firmware-baseline\` (the same entry, panic handler and"
    echo "console, no library). Profile \`firmware\`: opt-level z, fat LTO, one codegen unit,"
    echo "panic abort. **Library cost** is \`.text + .rodata\` of firmware-min minus the same"
    echo "of firmware-baseline: everything the export pulls in (httparse, soft-float and"
    echo "integer helpers, code inlined into callers) and the program's own canned stream and"
    echo "checks (the \"program\" row). Parts are symbol sizes (\`nm -S\`) grouped by crate and"
    echo "by module of otlp-embedded; with fat LTO, code inlined into a function counts where"
    echo "that function is defined. Stack figures are bytes below the top of RAM at the deepest"
    echo "point, counted on the target from a painted stack. The worst export (firmware-worst)"
    echo "sends a batch split into 2 requests, gets a 503 with an HTTP-date \`Retry-After\`,"
    echo "then a chunked 200 with a partial success; it runs the same library code as"
    echo "firmware-min's export (the canned answers are opaque to the optimizer), so its cost"
    echo "row adds only its script and checks. Previous"
    echo "figures: \`docs/footprint-baseline.tsv\`."
    for target in "${targets[@]}"; do
        echo
        echo "### \`$target\` (${core_name[$target]}, QEMU ${machine[$target]})"
        echo
        echo "| figure | bytes | previous | change | target |"
        echo "|---|---:|---:|---:|---|"
        cost=$(now "$target" library_cost)
        goal=""
        [ "$target" = thumbv7em-none-eabihf ] && goal=$(verdict "$cost" 20480 16384)
        row "**library cost** (min − baseline, .text + .rodata)" "$target" library_cost "$goal"
        while IFS=$'\t' read -r group bytes; do
            row "&nbsp;&nbsp;\`$group\`" "$target" "part:$group"
        done <"$work/$target/cost.groups"
        row "firmware-worst − baseline (the worst export's script and checks added)" "$target" worst_cost
        row "firmware-min .text + .rodata" "$target" min_text_rodata
        row "firmware-baseline .text + .rodata" "$target" baseline_text_rodata
        row "firmware-min flash (vectors + .text + .rodata + .data)" "$target" min_flash
        row "**static RAM** of firmware-min (.data + .bss)" "$target" static_ram
        goal=""
        [ "$target" = thumbv7em-none-eabihf ] && goal=$(verdict "$(now "$target" stack_worst_export)" 3072)
        row "**stack high-water, worst export** (firmware-worst)" "$target" stack_worst_export "$goal"
        row "stack high-water, plain export (one request, 200)" "$target" stack_plain_export
        row "stack in use on entering main (its frame holds exporter and client)" "$target" stack_main_entry
        row "&nbsp;&nbsp;exporter + HTTP client (their 1 KiB head buffer lent from a static) in that frame" "$target" exporter_and_client
        row "stack high-water of firmware-baseline" "$target" stack_baseline
    done
    echo
    echo "RAM per counter series on Cortex-M4F (registry and snapshot; \`size_of\` on the target):"
    echo
    echo "| figure | bytes | previous | change | target |"
    echo "|---|---:|---:|---:|---|"
    row "one more series, 9 bytes of attribute values (firmware-min)" "$m4" ram_per_series_k9
    row "one more series, 34 bytes (two 16-byte strings)" "$m4" ram_per_series_k34 \
        "$(verdict "$(now "$m4" ram_per_series_k34)" 128)"
    row "one more series, 64 bytes (keys and values of an instrument without declared keys)" \
        "$m4" ram_per_series_k64
    echo
    echo "Caller-lent memory in firmware-min's static RAM (\`nm\`, Cortex-M4F; not in the stack"
    echo "figures):"
    echo
    echo "| bytes | section | symbol |"
    echo "|---:|---|---|"
    nm -S -C -t d "$work/thumbv7em-none-eabihf/firmware-min" | awk '
        NF >= 4 && $3 ~ /^[dDbB]$/ { s = ($3 ~ /[dD]/) ? ".data" : ".bss"; n = $0
          sub(/^[0-9]+ [0-9]+ [A-Za-z] /, "", n); printf "| %d | `%s` | `%s` |\n", $2 + 0, s, n }' |
        sort -t'|' -k2,2nr
    echo
    echo "### smoltcp on Cortex-M4F (firmware-smoltcp: the plain export over two smoltcp"
    echo "interfaces on an in-memory Ethernet link)"
    echo
    echo "| figure | bytes | previous | change | target |"
    echo "|---|---:|---:|---:|---|"
    row "\`smoltcp\`, IPv4-only Ethernet (\`proto-ipv4\`, \`medium-ethernet\`)" "$m4" smoltcp_ipv4:smoltcp
    row "\`otlp_embedded_smoltcp\`, IPv4-only Ethernet" "$m4" smoltcp_ipv4:otlp_embedded_smoltcp
    row "image .text + .rodata, IPv4-only Ethernet" "$m4" smoltcp_ipv4:text_rodata
    row "stack high-water, IPv4-only Ethernet (both interfaces live in main's frame)" "$m4" smoltcp_ipv4:stack
    row "\`smoltcp\`, transport-smoltcp's defaults (IPv4 + IPv6, both media)" "$m4" smoltcp_default:smoltcp
    row "image .text + .rodata, defaults" "$m4" smoltcp_default:text_rodata
    echo
    echo "IPv6 symbols in the IPv4-only image: $ipv6_symbols."
    echo
    echo "### Host names on Cortex-M4F (firmware-dns: one export over smoltcp, IPv4-only"
    echo "Ethernet, to a collector that never answers, so that it ends at its 5 s deadline)"
    echo
    echo "Built without transport-smoltcp's \`dns\` (host \`10.0.0.2\`, \`IpLiteral\`) and with it"
    echo "(host \`otlp.vendor.example\`, \`DnsResolver\` over a UDP socket with one 512-byte"
    echo "datagram each way); the difference is what host names cost. smoltcp's share is its"
    echo "symbols' growth; fat LTO inlines most of the resolver into the program's \`main\`."
    echo
    echo "| figure | bytes | previous | change | target |"
    echo "|---|---:|---:|---:|---|"
    row "**DNS adds** (.text + .rodata, by name − by literal)" "$m4" dns_cost
    row "&nbsp;&nbsp;in \`smoltcp\` (UDP socket, its interface paths)" "$m4" dns_cost:smoltcp
    row "&nbsp;&nbsp;the rest: resolver, answer parser, cache (mostly inlined into main)" "$m4" dns_cost:rest
    row "image .text + .rodata, by literal" "$m4" dns_literal:text_rodata
    row "image .text + .rodata, by name" "$m4" dns_name:text_rodata
    row "static RAM added (.data + .bss: the UDP socket's buffers)" "$m4" dns_cost:static_ram
    row "stack high-water, by literal" "$m4" dns_literal:stack
    row "stack high-water, by name (the resolver lives in main's frame)" "$m4" dns_name:stack
    row "\`size_of::<DnsResolver>()\` (cache of 2 names up to 64 bytes)" "$m4" dns_resolver_2x64
    row "\`size_of::<DnsResolver<1, 32>>()\`" "$m4" dns_resolver_1x32
    row "\`size_of::<DnsResolver<4, 64>>()\`" "$m4" dns_resolver_4x64
    echo
    echo "UDP or DNS symbols in the image without \`dns\`: $dns_symbols."

    echo "### The emulated board's whole image (examples/firmware-qemu, Cortex-M4F, QEMU mps2-an386)"
    echo
    echo "What \`bash scripts/qemu-board.sh\` boots: the library, transport-smoltcp and smoltcp"
    echo "(IPv4, Ethernet), the LAN9118 driver, SysTick, a static critical-section registry"
    echo "and the program, in a layout sized like a real part (256 KiB flash, 64 KiB RAM; the"
    echo "link fails when the image would not fit). Code by part is symbol sizes; fat LTO"
    echo "inlines across crates, so bytes count where they landed (the program's \`run\` holds"
    echo "the inlined export path)."
    echo
    echo "| figure | bytes | previous | change | target |"
    echo "|---|---:|---:|---:|---|"
    row "**flash** (vectors + .text + .rodata + .data)" board flash "of 262144"
    row "**static RAM** (.data + .bss; the main loop's 16 KiB process stack is one of them)" board static_ram "of 65536"
    while IFS=$'\t' read -r key bytes; do
        case "$key" in
            part:*) row "&nbsp;&nbsp;${key#part:}" board "$key" ;;
        esac
    done <"$work/board-image.tsv"
    row "&nbsp;&nbsp;sum of the parts (.text + .rodata in symbols)" board part_total
    if [ "$board_run" = this ]; then
        row "**stack high-water, main loop** (process stack, exports included; deeper boot)" board stack_main_loop \
            "of $(run_figure delta stack_main_loop_size)"
        row "**stack high-water, handlers** (main stack: SysTick, faults; deeper boot)" board stack_handlers \
            "of $(run_figure delta stack_handlers_size)"
        echo
        echo "From the last board run of this image (\`target/qemu-board/figures.tsv\`); the"
        echo "longest loop iteration is emulated time, stretched when the host is loaded:"
        echo
        echo "| boot | main-loop stack | of it in use when the loop started | handlers' stack | longest loop iteration | exports (delivered, failed) | requests the sink read |"
        echo "|---|---:|---:|---:|---:|---|---:|"
        for boot in delta cumulative; do
            printf '| %s | %s B | %s B | %s B | %s µs | %s (%s, %s) | %s |\n' "$boot" \
                "$(run_figure "$boot" stack_main_loop)" "$(run_figure "$boot" stack_main_loop_frame)" \
                "$(run_figure "$boot" stack_handlers)" "$(run_figure "$boot" longest_loop_us)" \
                "$(run_figure "$boot" exports)" "$(run_figure "$boot" exports_delivered)" \
                "$(run_figure "$boot" exports_failed)" "$(run_figure "$boot" requests)"
        done
    else
        echo
        echo "Stack high-water marks: no board run of this image (sha256 ${board_sha:0:12}; last"
        echo "run: $board_run). \`bash scripts/qemu-board.sh\` measures them."
    fi
    echo
    echo "### \`core::fmt\` and panic paths in firmware-min"
    echo
    for target in "${targets[@]}"; do
        echo "- \`$target\`: $(now "$target" core_fmt_symbols) \`core::fmt\` symbols."
    done
    if [ "$fmt_found" -ne 0 ]; then
        echo
        echo "Callers of \`core::fmt\` (Cortex-M4F, from the disassembly):"
        echo
        echo "| function | calls |"
        echo "|---|---:|"
        for target in "${targets[@]}"; do
            callers "$work/$target/firmware-min" 'core::fmt' |
                awk -F'\t' -v t="$target" '{ printf "| `%s` (%s) | %d |\n", $1, t, $2 }'
        done
    fi
    echo
    echo "Functions with a branch to a panic entry (\`core::panicking\`, slice index and length"
    echo "checks) on Cortex-M4F. The panic handler prints one fixed line and exits, so these"
    echo "link no formatting; each is a check the compiler could not prove away:"
    echo
    echo "| function | branches |"
    echo "|---|---:|"
    callers "$work/thumbv7em-none-eabihf/firmware-min" \
        '<(core::panicking::[a-z_]+|core::slice::[a-z_:]+_fail|core::str::[a-z_:]+_fail)>' |
        awk -F'\t' '{ n = $1; if (length(n) > 110) n = substr(n, 1, 107) "..."; printf "| `%s` | %d |\n", n, $2 }'
} >"$work/cortex-m.md"

echo "footprint: Cortex-M images built and booted in $(( $(date +%s) - started )) s" >&2
{
    cat "$work/cortex-m.md"
    echo
    # The host binary builds in the workspace's own target folder.
    env -u CARGO_TARGET_DIR bash scripts/footprint-host.sh
} | tee "$out"
echo >&2
echo "footprint: written to $out" >&2

if [ "${FOOTPRINT_UPDATE:-0}" = 1 ]; then
    {
        echo -e "# target\tfigure\tbytes (written by FOOTPRINT_UPDATE=1 bash scripts/footprint.sh)"
        cat "$current"
    } >"$baseline_file"
    echo "footprint: previous figures replaced in $baseline_file" >&2
fi

status=0
if [ "$ipv6_symbols" -ne 0 ]; then
    echo "footprint: FAILED: the IPv4-only smoltcp image links $ipv6_symbols IPv6 symbols" >&2
    status=1
fi
if [ "$dns_symbols" -ne 0 ]; then
    echo "footprint: FAILED: firmware-dns without \`dns\` links $dns_symbols UDP or DNS symbols" >&2
    status=1
fi
if [ "$fmt_found" -ne 0 ]; then
    if [ "${FOOTPRINT_ALLOW_FMT:-0}" = 1 ]; then
        echo "footprint: core::fmt is linked into firmware-min (allowed by FOOTPRINT_ALLOW_FMT=1)" >&2
    else
        echo "footprint: FAILED: core::fmt is linked into firmware-min (callers in the report;" \
            "FOOTPRINT_ALLOW_FMT=1 to report without failing)" >&2
        status=1
    fi
fi
exit "$status"
