#!/usr/bin/env bash
# Code and stack cost of the firmware TLS client's certificate verifiers on a Cortex-M4F
# (thumbv7em-none-eabihf, opt-level z, fat LTO, panic abort): builds
# examples/tls-verify-size with each combination of otlp-embedded-tls's `p384` and `rsa`
# features, prints each image's code (.text + .rodata) and, from a run under QEMU's
# mps2-an386, the stack each verification used (P-256, P-384, RSA-2048 and RSA-4096
# chains from the x509_chain fuzz seeds). The delta between rows is what a feature links.
#
# Needs the target compiler (../shared/tools/target-rustc.sh), lld and qemu-system-arm
# (Debian: apt-get install -y lld qemu-system-arm) and binutils. Each QEMU run is bounded
# by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(../shared/tools/target-rustc.sh)" >/dev/null
dir=examples/tls-verify-size
image=$dir/target/thumbv7em-none-eabihf/release/tls-verify-size

echo "| features | .text | .rodata | code total | vs none | stack p256 | stack p384 | stack rsa2048 | stack rsa4096 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
base=""
for features in "" "p384" "rsa" "p384,rsa"; do
    (
        cd "$dir"
        RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --quiet --release \
            --no-default-features --features "$features" \
            -Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem
    )
    text=$(size -A "$image" | awk '$1 == ".text" { print $2 }')
    rodata=$(size -A "$image" | awk '$1 == ".rodata" { print $2 }')
    code=$((text + rodata))
    [ -n "$base" ] || base=$code
    run=$(timeout --kill-after=5 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 \
        -kernel "$image" -semihosting-config enable=on,target=native \
        -nographic -serial none -monitor none </dev/null)
    stack() { echo "$run" | awk -v n="$1" '$2 == n { printf "%s %s", $NF, ($3 ~ /^Ok/ ? "" : "(refused)") }'; }
    echo "| ${features:-none} | $text | $rodata | $code | +$((code - base)) | $(stack p256) | $(stack p384) | $(stack rsa2048) | $(stack rsa4096) |"
    if [ "$features" = "p384,rsa" ]; then
        all_symbols=$(nm -S --size-sort -C -t d "$image")
    fi
done
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
