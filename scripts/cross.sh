#!/usr/bin/env bash
# Builds every library crate that firmware links for the embedded targets, with the features
# firmware uses, so that nothing std-only (or needing atomics a target lacks) slips in:
#
#   otlp-embedded          defmt, critical-section, embedded-nal, async, embedded-nal-async
#                          (the async seams, client and driver: embedded-io-async, no
#                          executor)
#   otlp-embedded-smoltcp  defmt, dns (default features: IPv4 and IPv6, both media)
#   otlp-embedded-tls      defmt, p384, rsa
#   otlp-embedded-embassy  defmt (default features: DNS; core's async seams always)
#   otlp-embedded-embassy-board  the embassy example's no_std telemetry task
#
# for thumbv6m-none-eabi (Cortex-M0, no compare-and-swap), thumbv7m-none-eabi (Cortex-M3),
# thumbv7em-none-eabihf (Cortex-M4F) and riscv32imc-unknown-none-elf. transport-std is the
# Linux transport and is not built here. The compiler comes from
# ../shared/tools/target-rustc.sh (Debian's rustc with rust-src; core is built with
# -Zbuild-std). On thumbv7em-none-eabihf also the narrower configurations (core with no
# feature, smoltcp IPv4-only Ethernet with and without `dns`, tls without p384 and rsa,
# embassy without DNS) and the field example's board (examples/field-board, no_std), which
# links smoltcp's `dns` with tls's `p384` and `rsa` as one firmware does. Also runs
# transport-smoltcp's resolver and DNS wire tests in the IPv4-only configuration (and the
# resolver's in the IPv6-only one) on the host, and checks that a build without either IP
# version stops with its compile error. What `dns` costs in code and RAM is a part of the
# footprint report (scripts/footprint.sh, firmware-dns).
#
#   scripts/cross.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
    targets=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)

eval "$(bash ../shared/tools/target-rustc.sh)"
# One target folder for every cross build (scripts/footprint.sh uses it too).
export CARGO_TARGET_DIR="$PWD/target/cross"
build_std=(-Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem)
started=$(date +%s)
failed=()
# build TARGET LABEL CARGO-ARGS...: one configuration, in the dev profile (what is checked
# here is that it compiles and links no std; optimised sizes are the footprint report's).
build() {
    local target=$1 label=$2
    shift 2
    if ! RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 cargo build -q --lib --target "$target" \
        "${build_std[@]}" "$@"; then
        failed+=("$target: $label")
    fi
}
for target in "${targets[@]}"; do
    t0=$(date +%s)
    # Every library with every embedded feature in one invocation (features unify across
    # the packages): nothing std-only and no missing atomics on any target.
    build "$target" "libraries with defmt, critical-section, embedded-nal, async, embedded-nal-async, dns, p384, rsa" \
        -p otlp-embedded -p otlp-embedded-smoltcp -p otlp-embedded-tls \
        --features otlp-embedded/defmt,otlp-embedded/critical-section,otlp-embedded/embedded-nal,otlp-embedded/async,otlp-embedded/embedded-nal-async,otlp-embedded-smoltcp/defmt,otlp-embedded-smoltcp/dns,otlp-embedded-tls/defmt,otlp-embedded-tls/p384,otlp-embedded-tls/rsa
    # On its own, as an embassy firmware links it: embassy-net brings smoltcp 0.13, beside
    # the smoltcp transport's 0.14, and nothing above should reach it through features.
    build "$target" "otlp-embedded-embassy with defmt" -p otlp-embedded-embassy --features defmt
    # The embassy firmware example's telemetry task (#![no_std]; its runner is its test).
    build "$target" "otlp-embedded-embassy-board" -p otlp-embedded-embassy-board
    # The narrower configurations differ in cfg only, not in what a target offers: one
    # target is enough for them.
    if [ "$target" = thumbv7em-none-eabihf ]; then
        # Core with no feature: the poll seams and drivers need nothing optional.
        build "$target" "otlp-embedded with no feature" -p otlp-embedded --no-default-features
        build "$target" "otlp-embedded-smoltcp IPv4-only Ethernet" \
            -p otlp-embedded-smoltcp --no-default-features --features proto-ipv4,medium-ethernet
        build "$target" "otlp-embedded-smoltcp IPv4-only Ethernet with dns" \
            -p otlp-embedded-smoltcp --no-default-features --features proto-ipv4,medium-ethernet,dns
        build "$target" "otlp-embedded-tls without p384 and rsa" -p otlp-embedded-tls
        build "$target" "otlp-embedded-embassy without DNS" -p otlp-embedded-embassy --no-default-features
        # The field example's board: host names and public-CA chains in one #![no_std]
        # crate; the libraries above already build with its features on every target.
        build "$target" "otlp-embedded-field-board (dns, p384, rsa)" -p otlp-embedded-field-board
    fi
    echo "cross: $target built in $(( $(date +%s) - t0 )) s"
done

# The IPv4-only resolver on the host: IPv6 literals refused (a distinct, permanent error,
# also through a whole export and the DNS resolver), IPv4 ones parsed, an AAAA answer
# without an address to give; and the IPv6-only build's counterpart.
if ! CARGO_TARGET_DIR="$PWD/target" cargo test -q -p otlp-embedded-smoltcp --no-default-features \
    --features proto-ipv4,medium-ethernet,dns --test resolve --test dns_wire; then
    failed+=("host: otlp-embedded-smoltcp IPv4-only resolver and DNS wire tests")
fi
if ! CARGO_TARGET_DIR="$PWD/target" cargo test -q -p otlp-embedded-smoltcp --no-default-features \
    --features proto-ipv6,medium-ethernet,dns --test resolve; then
    failed+=("host: otlp-embedded-smoltcp IPv6-only resolver tests")
fi
# No IP version of its own (smoltcp's switched on by another crate): a build error that
# says so, not a firmware that refuses every host at run time.
no_proto=$(CARGO_TARGET_DIR="$PWD/target" cargo check -q -p otlp-embedded-smoltcp \
    --no-default-features --features medium-ethernet,smoltcp/proto-ipv4 2>&1 || true)
if ! grep -q "needs an IP version" <<<"$no_proto"; then
    failed+=("host: otlp-embedded-smoltcp without proto-ipv4 or proto-ipv6 did not fail with its compile_error")
fi

if [ ${#failed[@]} -gt 0 ]; then
    printf 'cross: FAILED %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "cross: every library crate built for ${targets[*]} ($(( $(date +%s) - started )) s)"
