#!/usr/bin/env bash
# Package every publishable crate of the workspace (`publish` not false) as `cargo publish`
# would, with verification: each .crate is unpacked and built on its own, the library
# crates it depends on taken from the .crate files made in the same run (cargo's local
# overlay registry), not from their folders. A file left out of a package, a path
# dependency without a version or a manifest that only works inside the workspace fails
# here. Then checks that every package carries its README and both license texts.
#
#   bash scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["publish"] is None or p["publish"]:
        print(p["name"], p["version"])
')
[ ${#packages[@]} -gt 0 ] || { echo "package: no publishable crate found" >&2; exit 1; }
crates=()
for package in "${packages[@]}"; do crates+=("${package%% *}"); done
echo "package: ${crates[*]}"

# Cargo unpacks each overlay .crate once under $CARGO_HOME/registry/src and reuses that
# copy while it exists: a machine that packaged the same version before (another commit,
# the same checkout path) would verify against the old sources. These crates are never
# taken from a registry, so their unpacked copies can always go.
registry_src="${CARGO_HOME:-$HOME/.cargo}/registry/src"
for package in "${packages[@]}"; do
    rm -rf "$registry_src"/*/"${package%% *}-${package##* }"
done

selection=()
for crate in "${crates[@]}"; do selection+=(-p "$crate"); done
cargo package --locked "${selection[@]}"

missing=0
for crate in "${crates[@]}"; do
    files="$(cargo package --locked --list -p "$crate")"
    for file in README.md LICENSE-MIT LICENSE-APACHE; do
        if ! grep -qx "$file" <<<"$files"; then
            echo "package: $crate does not carry $file" >&2
            missing=1
        fi
    done
done
[ "$missing" -eq 0 ]
echo "package: ${#crates[@]} crates packaged and verified, each with README.md, LICENSE-MIT, LICENSE-APACHE"
