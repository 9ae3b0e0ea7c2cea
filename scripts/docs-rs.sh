#!/usr/bin/env bash
# Build each publishable crate's documentation as docs.rs does: nightly rustdoc with
# `--cfg docsrs` (so `doc_cfg` labels feature-gated items with their feature) and the
# features from the crate's [package.metadata.docs.rs]; warnings are errors. Output goes to
# target/docs-rs/doc.
#
#   bash scripts/docs-rs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# One line per crate: its name, then the feature arguments docs.rs would use.
mapfile -t lines < <(cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["publish"] is not None and not p["publish"]:
        continue
    docs = ((p.get("metadata") or {}).get("docs") or {}).get("rs") or {}
    if docs.get("all-features"):
        features = "--all-features"
    elif docs.get("features"):
        features = "--features " + ",".join(docs["features"])
    else:
        features = ""
    if docs.get("no-default-features"):
        features += " --no-default-features"
    print(p["name"], features)
')
[ ${#lines[@]} -gt 0 ] || { echo "docs-rs: no publishable crate found" >&2; exit 1; }

for line in "${lines[@]}"; do
    read -r crate features <<<"$line"
    echo "docs-rs: $crate ${features:-(default features)}"
    # shellcheck disable=SC2086  # the feature arguments are meant to split
    RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --locked --no-deps \
        --target-dir target/docs-rs -p "$crate" $features
done
