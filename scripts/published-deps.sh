#!/usr/bin/env bash
# Published crates carry no test tooling: with every feature on, no package that can be
# published has the test kit, or the prost, opentelemetry-proto or rcgen that it brings,
# among its normal or build dependencies (dev-dependencies are dropped on publish). The
# packages to check are read from `cargo metadata` (those without `publish = false`), so a
# new library crate is covered without editing this script.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(otlp-embedded-test-kit|prost|opentelemetry-proto|rcgen) '
published=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["publish"] is None:
        print(p["name"])
')
[ -n "$published" ] || { echo "published-deps: no publishable package found" >&2; exit 1; }
status=0
for package in $published; do
    found=$(cargo tree -p "$package" -e normal,build --all-features --prefix none \
        | grep -E "$forbidden" | sort -u || true)
    if [ -n "$found" ]; then
        echo "published-deps: $package depends on test tooling:" >&2
        echo "$found" >&2
        status=1
    else
        echo "published-deps: $package: no test tooling among its dependencies"
    fi
done
exit $status
