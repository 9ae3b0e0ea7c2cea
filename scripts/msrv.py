#!/usr/bin/env python3
"""Check that every workspace package's `rust-version` is the one it really needs.

A package needs at least the highest `rust-version` that any package it builds with
declares, at the versions in Cargo.lock: cargo refuses an older compiler for any of them.
A dependency that declares none needs at least the first compiler of its edition. For a
library crate (publishable) that is its normal and build dependencies, every feature on,
every target; for an unpublished package (tests, examples, firmware) its dev-dependencies
too. The declared value must equal that figure: lower, and cargo refuses the build; higher,
and the crate turns away compilers that would build it.

That says nothing about the crate's own code, so

    scripts/msrv.py --lint

also runs clippy's `incompatible_msrv` lint on each library crate: its own code may call
no standard library item stabilised after its declared `rust-version` (language features
escape this lint), and

    scripts/msrv.py --build-with RUSTC

also builds (`cargo build --all-features`, or the docs.rs feature list where features
conflict) each library crate whose declared `rust-version` that compiler meets, with that
compiler. CI passes Debian stable's rustc when a crate declares what it can build.

    scripts/msrv.py --lowest-declared

prints the lowest `rust-version` declared by a library crate, and nothing else.
`--manifest-path` checks another workspace (the emulated board's, which is its own).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The first stable compiler of each edition: the floor of a package that declares nothing.
EDITION_FLOOR = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}


def version_key(text):
    parts = [int(p) for p in text.split("+")[0].split("-")[0].split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


MANIFEST = []  # ["--manifest-path", PATH] when another workspace is checked


def cargo(*args):
    return subprocess.run(
        ["cargo", *args, *MANIFEST], cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE
    ).stdout


def metadata():
    # Every feature on, as in `dependencies`, so that every package the tree shows is listed.
    return json.loads(cargo("metadata", "--format-version", "1", "--locked", "--all-features"))


def is_library(package):
    # `publish = false` reads as an empty list; absent as null (any registry).
    return package["publish"] is None or len(package["publish"]) > 0


def floor_of(package):
    """What a package declares, or its edition's first compiler, and which of the two."""
    if package["rust_version"]:
        return package["rust_version"], "declares"
    return EDITION_FLOOR[package["edition"]], "edition " + package["edition"] + ", declares none"


def dependencies(package):
    """(name, version) of every package `package` builds with, itself excluded."""
    edges = "normal,build" if is_library(package) else "normal,build,dev"
    spec = package["name"] + "@" + package["version"]
    out = cargo(
        "tree", "-p", spec, "--locked", "--all-features", "--target", "all", "-e", edges,
        "--prefix", "none", "--format", "{p}",
    )
    found = set()
    for line in out.splitlines():
        words = line.split()
        if len(words) < 2 or not words[1].startswith("v"):
            continue
        found.add((words[0], words[1][1:]))
    found.discard((package["name"], package["version"]))
    return found


def needed(package, by_name_version):
    """The highest floor among `package`'s dependencies and its own edition, and who sets it."""
    best, why = EDITION_FLOOR[package["edition"]], ["its edition " + package["edition"]]
    undeclared = []
    for key in sorted(dependencies(package)):
        dep = by_name_version[key]
        floor, how = floor_of(dep)
        if not dep["rust_version"]:
            undeclared.append("%s %s" % key)
        name = "%s %s (%s %s)" % (key[0], key[1], how, floor)
        if version_key(floor) > version_key(best):
            best, why = floor, [name]
        elif version_key(floor) == version_key(best):
            why.append(name)
    return best, why, undeclared


def docs_rs_features(package):
    docs = (package.get("metadata") or {}).get("docs", {}).get("rs", {})
    if docs.get("all-features"):
        return ["--all-features"]
    features = docs.get("features", [])
    return ["--features", ",".join(features)] if features else []


def rustc_version(rustc):
    out = subprocess.run([rustc, "--version"], check=True, text=True, stdout=subprocess.PIPE).stdout
    return out.split()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-with", metavar="RUSTC", help="also build with this compiler")
    parser.add_argument("--lint", action="store_true", help="also run clippy::incompatible_msrv")
    parser.add_argument("--lowest-declared", action="store_true")
    parser.add_argument("--manifest-path", metavar="PATH", help="another workspace's Cargo.toml")
    args = parser.parse_args()
    if args.manifest_path:
        MANIFEST.extend(["--manifest-path", os.path.abspath(args.manifest_path)])

    meta = metadata()
    by_id = {p["id"]: p for p in meta["packages"]}
    by_name_version = {(p["name"], p["version"]): p for p in meta["packages"]}
    members = sorted((by_id[i] for i in meta["workspace_members"]), key=lambda p: p["name"])
    libraries = [p for p in members if is_library(p)]

    if args.lowest_declared:
        print(min((p["rust_version"] or "0" for p in libraries), key=version_key))
        return 0

    wrong = []
    for package in members:
        declared = package["rust_version"] or "(none)"
        best, why, undeclared = needed(package, by_name_version)
        kind = "library" if is_library(package) else "unpublished"
        ok = package["rust_version"] and version_key(declared) == version_key(best)
        print("%-28s %-11s declares %-6s needs %-6s %s" % (
            package["name"], kind, declared, best, "ok" if ok else "WRONG"))
        print("    set by: " + "; ".join(why))
        if undeclared and is_library(package):
            print("    declare no rust-version (edition floor used): " + ", ".join(undeclared))
        if not ok:
            wrong.append("%s declares %s but needs %s" % (package["name"], declared, best))

    if args.lint:
        for package in libraries:
            print("msrv: clippy::incompatible_msrv on %s (declares %s)" % (
                package["name"], package["rust_version"]), flush=True)
            command = ["cargo", "clippy", "--locked", "--lib", "-p", package["name"] + "@" +
                       package["version"], *docs_rs_features(package), *MANIFEST, "--",
                       "-A", "clippy::all", "-D", "clippy::incompatible_msrv"]
            if subprocess.run(command, cwd=ROOT).returncode != 0:
                wrong.append("%s calls items newer than its rust-version" % package["name"])

    if args.build_with:
        have = rustc_version(args.build_with)
        target_dir = os.path.join(tempfile.gettempdir(), "otlp-embedded-msrv-" + have)
        env = dict(os.environ, RUSTC=args.build_with, CARGO_TARGET_DIR=target_dir)
        for package in libraries:
            if version_key(package["rust_version"] or "0") > version_key(have):
                print("msrv: %s declares %s, above rustc %s: not built with it" % (
                    package["name"], package["rust_version"], have))
                continue
            print("msrv: building %s (declares %s) with rustc %s" % (
                package["name"], package["rust_version"], have), flush=True)
            command = ["cargo", "build", "--locked", "-p", package["name"] + "@" +
                       package["version"], *docs_rs_features(package), *MANIFEST]
            if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
                wrong.append("%s does not build with rustc %s" % (package["name"], have))

    for line in wrong:
        print("msrv: " + line, file=sys.stderr)
    if not wrong:
        print("msrv: every package declares the rust-version it needs")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
