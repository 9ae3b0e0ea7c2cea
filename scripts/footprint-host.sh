#!/usr/bin/env bash
# Host part of the footprint report (scripts/footprint.sh prints it after the Cortex-M
# figures, as the upper bound): code size of the host firmware binary (record + encode +
# smoltcp + TLS path, built by scripts/firmware.sh with opt-level z, fat LTO, panic abort,
# no allocator) by section and by crate, its static RAM, and size_of of the core types for
# the configurations in use. Prints Markdown on stdout. Needs binutils (size, nm).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in size nm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "footprint: '$tool' not found; it is part of GNU binutils:" >&2
    echo "  Debian/Ubuntu: sudo apt-get install binutils    Fedora: sudo dnf install binutils" >&2
    exit 1
  fi
done

bash scripts/firmware.sh >&2
bin=target/firmware/firmware
symbols=$(mktemp)
trap 'rm -f "$symbols"' EXIT
# address size (decimal) type name (demangled; names may contain spaces)
nm -S --size-sort -C -t d "$bin" >"$symbols"

# Crate of a demangled symbol: the first path segment, looking through `<`, `&`, `dyn` and
# generic self types such as `<T as der::Decode>` (then the trait's crate counts).
crate_awk='
function crate_of(name,   n, i, a) {
  n = name
  sub(/^_?</, "", n); sub(/^&(mut )?/, "", n); sub(/^dyn /, "", n); sub(/^\[/, "", n)
  a = index(n, " as "); i = index(n, "::")
  if (a > 0 && (i == 0 || a < i)) { n = substr(n, a + 4); sub(/^</, "", n); sub(/^&(mut )?/, "", n) }
  i = index(n, "::")
  if (i == 0) return "(C and runtime symbols)"
  n = substr(n, 1, i - 1)
  sub(/<.*/, "", n)
  return n
}
function name_of(line,   f) {
  f = line
  sub(/^[0-9]+ [0-9]+ [A-Za-z] /, "", f)
  return f
}
'

{
  echo "## Host upper bound: the x86-64 firmware binary"
  echo
  echo "Measured by \`bash scripts/footprint.sh\` on $(uname -m) ($(rustc --version)), from"
  echo "\`$bin\`: the \`#![no_std]\` \`#![no_main]\` firmware binary of \`examples/firmware\`"
  echo "(profile \`firmware\`: opt-level z, fat LTO, one codegen unit, panic abort, no allocator)."
  echo "Flash is \`.text + .rodata + .data\`; RAM is \`.data + .bss\` (static; stack not included)."
  echo "\`.eh_frame\` is unwind metadata that a firmware linker script discards with panic=abort."
  echo
  echo "| section | bytes |"
  echo "|---|---:|"
  size -A "$bin" | awk '$1 ~ /^\.(text|rodata|data|bss|eh_frame|eh_frame_hdr|got)$/ {
      printf "| `%s` | %d |\n", $1, $2; s[$1] = $2 }
    END {
      printf "| **flash** (text + rodata + data) | **%d** |\n", s[".text"] + s[".rodata"] + s[".data"]
      printf "| **static RAM** (data + bss) | **%d** |\n", s[".data"] + s[".bss"] }'
  echo
  echo "Code (\`.text\` symbols) by crate:"
  echo
  echo "| crate | code bytes | symbols |"
  echo "|---|---:|---:|"
  awk "$crate_awk"'
    $3 ~ /^[tTwW]$/ { c = crate_of(name_of($0)); b[c] += ($2 + 0); n[c]++; t += ($2 + 0) }
    END { for (c in b) printf "%d\t%s\t%d\n", b[c], c, n[c]; printf "%d\t%s\t%d\n", t, "~total", 0 }' "$symbols" |
    sort -t$'\t' -k1,1nr | awk -F'\t' '$2 == "~total" { total = $1; next } { printf "| `%s` | %d | %d |\n", $2, $1, $3 }
      END { printf "| **all symbols** | **%d** | |\n", total }'
  echo
  echo "otlp-embedded code by module (with fat LTO, code inlined into a caller counts there):"
  echo
  echo "| module | code bytes | symbols |"
  echo "|---|---:|---:|"
  awk "$crate_awk"'
    $3 ~ /^[tTwW]$/ { n = name_of($0); if (crate_of(n) != "otlp_embedded") next
      i = index(n, "otlp_embedded::"); m = substr(n, i + 15); sub(/::.*/, "", m); sub(/<.*/, "", m)
      b[m] += $2; c[m]++ }
    END { for (m in b) printf "%d\t%s\t%d\n", b[m], m, c[m] }' "$symbols" |
    sort -t$'\t' -k1,1nr | awk -F'\t' '{ printf "| `otlp_embedded::%s` | %d | %d |\n", $2, $1, $3 }'
  missing=""
  for module in registry proto http export; do
    grep -Eq "^[0-9]+ [0-9]+ [tTwW] <?&?otlp_embedded::$module::" "$symbols" || missing="$missing \`$module\`"
  done
  if [ -n "$missing" ]; then
    echo
    echo "Not in this binary (the firmware does not call them, so LTO dropped them):$missing."
  fi
  echo
  echo "Largest code symbols:"
  echo
  echo "| bytes | crate | symbol |"
  echo "|---:|---|---|"
  awk "$crate_awk"'$3 ~ /^[tTwW]$/ { n = name_of($0); if (length(n) > 90) n = substr(n, 1, 87) "..."
      gsub(/\|/, "\\|", n); printf "%d\t%s\t%s\n", ($2 + 0), crate_of(name_of($0)), n }' "$symbols" |
    sort -t$'\t' -k1,1nr | awk 'NR <= 15' | awk -F'\t' '{ printf "| %d | `%s` | `%s` |\n", $1, $2, $3 }'
  echo
  echo "Static RAM by symbol (\`.data\` and \`.bss\`):"
  echo
  echo "| bytes | section | symbol |"
  echo "|---:|---|---|"
  awk "$crate_awk"'$3 ~ /^[dDbB]$/ { s = ($3 ~ /[dD]/) ? ".data" : ".bss"
      printf "%d\t%s\t%s\n", ($2 + 0), s, name_of($0) }' "$symbols" |
    sort -t$'\t' -k1,1nr | awk 'NR <= 12' | awk -F'\t' '{ printf "| %d | `%s` | `%s` |\n", $1, $2, $3 }'
  echo
  echo "Type sizes (\`cargo run -p otlp-embedded-examples --example sizes\`; the 32-bit column"
  echo "is an estimate: pointers, slices and \`usize\` halve, \`u64\` and arrays stay, padding"
  echo "ignored; see examples/examples/sizes.rs for the word counts):"
  echo
  cargo run -q -p otlp-embedded-examples --example sizes
}
