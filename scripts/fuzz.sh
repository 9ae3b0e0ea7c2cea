#!/usr/bin/env bash
# Run every cargo-fuzz target for a number of seconds each (default 60), starting from the
# committed corpus. Installs cargo-fuzz when it is missing. Needs a nightly toolchain.
#
#   scripts/fuzz.sh [seconds] [target...]
#
# New corpus entries the fuzzer finds go to a scratch directory, so the committed corpus
# only changes on purpose; crashes are written to fuzz/artifacts/<target>/ and make the
# script fail.
set -euo pipefail

seconds="${1:-60}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

for target in "${targets[@]}"; do
    scratch="$(mktemp -d)"
    echo "== fuzzing $target for ${seconds}s"
    # libFuzzer reports every coverage gain; keep the log to its closing lines (a crash
    # report is among them, and pipefail keeps cargo fuzz's exit status).
    log="$(mktemp)"
    if ! cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 >"$log" 2>&1; then
        tail -n 60 "$log"
        rm -f "$log"
        exit 1
    fi
    grep -E '^Done|stat::' "$log" || tail -n 3 "$log"
    rm -f "$log"
    rm -rf "$scratch"
done
