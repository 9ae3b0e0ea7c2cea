#!/usr/bin/env bash
# The project's test command: every test of every package (benches run once each in test
# mode, which checks their set-up assertions), the doctests, and the no-alloc firmware link.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --exclude otlp-embedded-firmware
cargo test --workspace --doc --exclude otlp-embedded-firmware
# Core as the footprint images build it: no exponential histograms, no observables (their
# declarations must be refused), and the prefer-size lookup path.
cargo test -p otlp-embedded --lib --no-default-features --features critical-section,prefer-size
bash scripts/firmware.sh
