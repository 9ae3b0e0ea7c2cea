#!/usr/bin/env bash
# Builds the #![no_std] #![no_main] firmware binary with the firmware profile (opt-level z,
# fat LTO, panic abort) and no global allocator, then runs it on the host. A dependency on
# std or alloc anywhere in its path fails the link; a wrong encoder result fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo rustc -p otlp-embedded-firmware --bin firmware --profile firmware -- \
  -C link-arg=-nostartfiles -C relocation-model=static -C link-arg=-no-pie -C link-arg=-static
bin=target/firmware/firmware
if nm "$bin" | grep -q '__rust_alloc\|__rg_alloc'; then
  echo "firmware binary references an allocator" >&2
  exit 1
fi
"$bin"
echo "firmware: linked without an allocator, ran and exited 0 ($(stat -c %s "$bin") bytes)"
