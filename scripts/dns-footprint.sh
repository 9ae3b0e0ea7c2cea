#!/usr/bin/env bash
# What host names cost a firmware, on embedded targets, and whether the smoltcp transport
# builds for them with and without its `dns` feature.
#
#   bash scripts/dns-footprint.sh            # prints a Markdown report
#
# 1. Builds otlp-embedded-smoltcp (release) for thumbv7em-none-eabihf, thumbv7m-none-eabi,
#    thumbv6m-none-eabi and riscv32imc-unknown-none-elf, without and with `dns`.
# 2. Links examples/firmware-dns (one firmware::export_once over smoltcp, firmware profile:
#    opt-level z, fat LTO, panic abort) for thumbv7em-none-eabihf without `dns` (IP literal,
#    TCP only) and with it (host name, DnsResolver, UDP socket), and reports the difference
#    in code (.text + .rodata) and the RAM of the resolver (from the DNS_RESOLVER_* symbols,
#    sized like resolvers with several cache shapes).
#
# Needs ../shared/tools/target-rustc.sh (a rustc with rust-src for -Zbuild-std), Debian's
# lld (ld.lld) and binutils (size, nm).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
eval "$(../shared/tools/target-rustc.sh)"
export RUSTC="$TARGET_RUSTC" RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/target/cross"
build_std=(-Zbuild-std=core,compiler_builtins -Zbuild-std-features=compiler-builtins-mem)
targets=(thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi riscv32imc-unknown-none-elf)

echo "## DNS on firmware: builds and cost"
echo
echo "Measured by \`bash scripts/dns-footprint.sh\` with $("$TARGET_RUSTC" --version)."
echo
echo "| target | otlp-embedded-smoltcp | with \`dns\` |"
echo "|---|---|---|"
for target in "${targets[@]}"; do
  row="| \`$target\` |"
  for features in "" "dns"; do
    if cargo build --quiet --release -p otlp-embedded-smoltcp --target "$target" \
        ${features:+--features "$features"} "${build_std[@]}" >&2; then
      row+=" builds |"
    else
      row+=" **fails** |"
      failed=1
    fi
  done
  echo "$row"
done

bin="$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/firmware-dns"
declare -A code
for variant in off on; do
  flags=()
  [ "$variant" = on ] && flags=(--features dns)
  (cd examples/firmware-dns && CARGO_TARGET_THUMBV7EM_NONE_EABIHF_LINKER=ld.lld \
    cargo build --quiet --release --target thumbv7em-none-eabihf "${flags[@]}" "${build_std[@]}" >&2)
  code[$variant]=$(size -A "$bin" | awk '$1 == ".text" || $1 == ".rodata" { s += $2 } END { print s }')
  # The size markers are read-only data of their own, not code: leave them out.
  markers=$(nm -S -t d "$bin" | awk '$4 ~ /^DNS_RESOLVER_/ { s += $2 } END { print s + 0 }')
  code[$variant]=$(( code[$variant] - markers ))
  [ "$variant" = on ] && cp "$bin" "$CARGO_TARGET_DIR/firmware-dns-on.elf"
done
echo
echo "\`examples/firmware-dns\` on \`thumbv7em-none-eabihf\` (firmware profile), code = .text + .rodata:"
echo
echo "| one \`export_once\` to | code bytes |"
echo "|---|---:|"
echo "| \`10.0.0.2\` (IpLiteral, TCP only) | ${code[off]} |"
echo "| \`otlp.vendor.example\` (DnsResolver + UDP socket) | ${code[on]} |"
echo "| **DNS adds** | **$(( code[on] - code[off] ))** |"
echo
echo "Resolver RAM (\`size_of\`, the socket buffers are the caller's: one 512-byte datagram each way):"
echo
echo "| DnsResolver<ENTRIES, NAME> | bytes |"
echo "|---|---:|"
nm -S -t d "$CARGO_TARGET_DIR/firmware-dns-on.elf" | awk '$4 ~ /^DNS_RESOLVER_/ {
    shape = substr($4, 14); sub("X", ", ", shape); printf "| <%s> | %d |\n", shape, $2 }' | sort
if [ "${failed:-0}" = 1 ]; then
  echo "dns-footprint: a build failed" >&2
  exit 1
fi
