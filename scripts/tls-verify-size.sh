#!/usr/bin/env bash
# Code and stack cost of the firmware TLS client's certificate verifiers on a Cortex-M4F
# (thumbv7em-none-eabihf, opt-level z, fat LTO, panic abort): builds
# examples/tls-verify-size with each combination of otlp-embedded-tls's `p384` and `rsa`
# features, prints each image's code (.text + .rodata) and, from a run under QEMU's
# mps2-an386, the stack each verification used (P-256, P-384, RSA-2048 and RSA-4096
# chains from the x509_chain fuzz seeds). The delta between rows is what a feature links.
# Each combination is built a second time with the example's `handshake` feature, which
# also links a whole TLS client (key exchange, records, handshake, client signing): that
# column is a firmware's TLS cost, where code the verifiers share with the handshake
# (P-256 arithmetic, SHA-2) is already paid for. QEMU runs with `-icount shift=0`, so the
# SysTick ticks the image reports count instructions (it times a loop of known length
# first, to convert): the last table is instructions per chain, from the `p384,rsa` run.
#
# Each build prints how long it took on stderr (the first one builds `core` and every
# dependency; the others reuse them and take seconds). CI runs it (.ci/run).
#
# Needs the target compiler (../shared/tools/target-rustc.sh), lld and qemu-system-arm
# (Debian: apt-get install -y lld qemu-system-arm) and binutils. Each QEMU run is bounded
# by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
eval "$(../shared/tools/target-rustc.sh)" >/dev/null
dir=examples/tls-verify-size
image=$dir/target/thumbv7em-none-eabihf/release/tls-verify-size

build() {
    local t0
    t0=$(date +%s)
    (
        cd "$dir"
        RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --quiet --release \
            --no-default-features --features "$1" \
            -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem
    )
    echo "tls-verify-size: built [${1:-none}] in $(( $(date +%s) - t0 )) s" >&2
}
section() { size -A "$image" | awk -v s="$1" '$1 == s { print $2 }'; }
# The image's printout; a failed check in it (a wrong result) fails the script.
run_image() {
    timeout --kill-after=5 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 \
        -icount shift=0 -kernel "$image" -semihosting-config enable=on,target=native \
        -nographic -serial none -monitor none </dev/null
}

echo "| features | .text | .rodata | code total | vs none | with handshake | vs none | stack p256 | stack p384 | stack rsa2048 | stack rsa4096 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
base=""
handshake_base=""
for features in "" "p384" "rsa" "p384,rsa"; do
    build "$features"
    text=$(section .text)
    rodata=$(section .rodata)
    code=$((text + rodata))
    [ -n "$base" ] || base=$code
    run=$(run_image)
    stack() { echo "$run" | awk -v n="$1" '$2 == n { printf "%s %s", $NF, ($3 ~ /^Ok/ ? "" : "(refused)") }'; }
    if [ "$features" = "p384,rsa" ]; then
        all_symbols=$(nm -S --size-sort -C -t d "$image")
        timing=$run
    fi
    build "handshake${features:+,$features}"
    run_image >/dev/null
    handshake=$(($(section .text) + $(section .rodata)))
    [ -n "$handshake_base" ] || handshake_base=$handshake
    echo "| ${features:-none} | $text | $rodata | $code | +$((code - base)) | $handshake | +$((handshake - handshake_base)) | $(stack p256) | $(stack p384) | $(stack rsa2048) | $(stack rsa4096) |"
done
echo
echo "Instructions per \`verify_chain\` (features \`p384,rsa\`; Cortex-M4 instructions counted by QEMU, not cycles):"
echo
echo "| chain | instructions |"
echo "|---|---:|"
echo "$timing" | awk '
    $1 == "calibration" { per_tick = $2 / substr($5, 6, length($5) - 6) }
    $1 == "verify" { ticks = substr($5, 6, length($5) - 6); printf "| %s | %.1f M |\n", $2, ticks * per_tick / 1e6 }'
echo
echo "Code by crate with both features (\`.text\` symbols; fat LTO inlines across crates):"
echo
echo "| crate | bytes |"
echo "|---|---:|"
echo "$all_symbols" | awk '$3 ~ /^[tTwW]$/ {
    name = $0; sub(/^[0-9]+ [0-9]+ [A-Za-z] /, "", name); sub(/^_?</, "", name)
    i = index(name, " as "); j = index(name, "::")
    if (i > 0 && (j == 0 || i < j)) { name = substr(name, i + 4); sub(/^</, "", name) }
    j = index(name, "::"); crate = (j == 0) ? "(runtime)" : substr(name, 1, j - 1)
    sub(/<.*/, "", crate); b[crate] += $2 }
    END { for (c in b) printf "%d %s\n", b[c], c }' | sort -rn | awk '{ printf "| `%s` | %d |\n", $2, $1 }'
echo "tls-verify-size: done in $(( $(date +%s) - started )) s" >&2
