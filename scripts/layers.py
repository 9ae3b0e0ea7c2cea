#!/usr/bin/env python3
"""Layer check for core: each top-level module of `core/src` may use only modules of a
lower rank, so the dependencies between them form a DAG that the diagram in
`core/src/lib.rs` can draw.

Every `crate::<module>` path in code (use statements, paths in expressions and types,
grouped imports such as `crate::{a::X, b::Y}`) and every `super::` chain that climbs out of
a top-level module counts. Comments (doc links included: they create no dependency) and
string and character literals are ignored.

    python3 scripts/layers.py             check, print one line per back edge, exit 1 if any
    python3 scripts/layers.py --graph     also print the edges found between modules
    python3 scripts/layers.py --self-test check the checker on small inline sources

Exit status: 0 when every edge goes down, 1 when some edge goes up or sideways (or a
module is missing from the rank table), 2 on a usage error. Python 3 standard library only.
"""

import os
import sys

# Lower rank = lower layer. A module may use modules of strictly lower rank; modules of the
# same rank do not know each other.
RANKS = {
    "time": 0,  # the caller's clock and unix timestamps
    "proto": 1,  # wire encoding, OTLP messages, response-body decoders
    "transport": 1,  # the seams, request/response values, the exchange error vocabulary
    "registry": 2,  # instruments, aggregation, snapshots, the collect/settle contract
    "http": 2,  # request writer, response reader, blocking and poll drivers
    "nal": 2,  # embedded-nal adapter to the stream seam
    "nal_async": 2,  # embedded-nal-async adapter to the async stream seam
    "export": 3,  # the policy: collect, encode, send, settle
}

IDENT_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
IDENT = IDENT_START | set("0123456789")


def blank_comments_and_literals(text):
    """`text` with comments and string/char literals replaced by spaces (newlines kept),
    so that positions and line numbers stay as they were."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "r" and (i == 0 or text[i - 1] not in IDENT) and raw_string_at(text, i + 1):
            # r"..." or r#"..."# (also br"...", whose `b` is just an identifier char before).
            j = i + 1
            hashes = 0
            while j < n and text[j] == "#":
                hashes, j = hashes + 1, j + 1
            end = text.find('"' + "#" * hashes, j + 1)
            end = n if end < 0 else end + 1 + hashes
            blank(i, end)
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}') or a lifetime ('a): only the first ends
            # with a quote right after one (possibly escaped) character.
            if i + 1 < n and text[i + 1] == "\\":
                j = text.find("'", i + 2)
                j = n if j < 0 else j
                blank(i, j + 1)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                blank(i, i + 3)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def raw_string_at(text, j):
    while j < len(text) and text[j] == "#":
        j += 1
    return j < len(text) and text[j] == '"'


def tokens(code):
    """(token, offset) pairs: identifiers, `::`, and single punctuation characters."""
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c in IDENT_START:
            j = i + 1
            while j < n and code[j] in IDENT:
                j += 1
            yield code[i:j], i
            i = j
        elif code.startswith("::", i):
            yield "::", i
            i += 2
        elif c.isspace():
            i += 1
        else:
            yield c, i
            i += 1


def file_module(rel):
    """Module path of a file below `core/src`: `registry/table.rs` -> [registry, table]."""
    parts = rel.replace(os.sep, "/").split("/")
    last = parts[-1][: -len(".rs")]
    if last in ("mod", "lib", "main"):
        parts = parts[:-1]
    else:
        parts = parts[:-1] + [last]
    return parts


def references(code, module):
    """(top-level module used, offset, path text) for each path that names a module of the
    crate from the file whose module path is `module`."""
    toks = list(tokens(code))
    found = []
    # Inline `mod name { ... }` blocks push a level that `super` climbs out of first.
    inline = []  # (name, brace depth at which it closes)
    depth = 0
    k = 0
    while k < len(toks):
        tok, at = toks[k]
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            while inline and inline[-1][1] > depth:
                inline.pop()
        elif tok == "mod" and k + 2 < len(toks) and toks[k + 2][0] == "{":
            inline.append((toks[k + 1][0], depth + 1))
        prev = toks[k - 1][0] if k else ""
        if tok in ("crate", "super") and prev != "::":
            base = [] if tok == "crate" else module + [name for name, _ in inline]
            j = k
            if tok == "super":
                while j < len(toks) and toks[j][0] == "super":
                    base = base[:-1] if base else base
                    if j + 2 < len(toks) and toks[j + 1][0] == "::" and toks[j + 2][0] == "super":
                        j += 2
                    else:
                        break
            if j + 1 < len(toks) and toks[j + 1][0] == "::" and j + 2 < len(toks):
                nxt = toks[j + 2][0]
                text = code[at : toks[j + 2][1] + len(nxt)]
                if base:
                    found.append((base[0], at, text))
                elif nxt == "{":
                    for name in group_heads(toks, j + 2):
                        found.append((name, at, "crate::{" + name + "...}"))
                elif nxt[0] in IDENT_START:
                    found.append((nxt, at, text))
            k = j + 1
            continue
        k += 1
    return found


def group_heads(toks, open_index):
    """First identifier of each item of the `{...}` group opening at `open_index`."""
    heads, depth, expect = [], 0, True
    for tok, _ in toks[open_index:]:
        if tok == "{":
            depth += 1
            if depth == 1:
                expect = True
            continue
        if tok == "}":
            depth -= 1
            if depth == 0:
                break
            continue
        if depth == 1 and tok == ",":
            expect = True
        elif depth == 1 and expect and tok[0] in IDENT_START:
            if tok != "self":
                heads.append(tok)
            expect = False
    return heads


def check_sources(sources):
    """`sources`: {relative path: text}. Returns (problems, edges)."""
    problems, edges = [], {}
    for rel in sorted(sources):
        module = file_module(rel)
        if not module:
            continue  # lib.rs declares the modules; it is above them all.
        own = module[0]
        text = sources[rel]
        code = blank_comments_and_literals(text)
        if own not in RANKS:
            problems.append(f"{rel}:1: module `{own}` is not in the rank table of scripts/layers.py")
            continue
        for used, at, path in references(code, module):
            if used == own:
                continue
            line = text.count("\n", 0, at) + 1
            edges.setdefault((own, used), (rel, line))
            if used not in RANKS:
                problems.append(
                    f"{rel}:{line}: `{path}`: module `{used}` is not in the rank table"
                )
            elif RANKS[used] >= RANKS[own]:
                way = "up" if RANKS[used] > RANKS[own] else "sideways"
                problems.append(
                    f"{rel}:{line}: back edge {own} (rank {RANKS[own]}) -> {used} "
                    f"(rank {RANKS[used]}), {way}: `{path}`"
                )
    return problems, edges


def read_core(root):
    src = os.path.join(root, "core", "src")
    sources = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    sources[os.path.relpath(path, src)] = f.read()
    return sources


def self_test():
    cases = [
        # (files, expected back edges as (file, line, from, to))
        ({"registry/mod.rs": "use crate::export::{Producer, Settlement};\n"},
         [("registry/mod.rs", 1, "registry", "export")]),
        ({"registry/x.rs": "fn f() {\n  super::super::http::go();\n}\n"},
         [("registry/x.rs", 2, "registry", "http")]),
        ({"transport.rs": "use crate::{time::Instant,\n http::ExchangeError};\n"},
         [("transport.rs", 1, "transport", "http")]),
        ({"proto/a.rs": "// crate::export::X in a comment\nconst S: &str = \"crate::http\";\n"
                        "const C: char = '\"'; fn g<'a>(x: &'a u8) {}\nuse super::b::Y;\n"}, []),
        ({"export/mod.rs": "use crate::proto::X; use crate::registry::{Producer};\n"
                           "mod tests { use super::*; use super::super::time::Instant; }\n"}, []),
        ({"http/mod.rs": "mod tests { fn f() { super::super::nal::x(); } }\n"},
         [("http/mod.rs", 1, "http", "nal")]),
        ({"time.rs": "let s = r#\"crate::export\"#; let t = crate::time::Instant(0);\n"}, []),
    ]
    failed = 0
    for files, expected in cases:
        problems, _ = check_sources(files)
        got = []
        for p in problems:
            rel, line, rest = p.split(":", 2)
            edge = rest.split("back edge ", 1)[1].split(",", 1)[0]
            parts = edge.split(" ")
            got.append((rel, int(line), parts[0], parts[4]))
        if got != expected:
            failed += 1
            print(f"self-test FAILED for {files}: expected {expected}, got {got}")
    print(f"layers self-test: {len(cases) - failed}/{len(cases)} cases pass")
    return 1 if failed else 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    unknown = [a for a in argv if a not in ("--graph",)]
    if unknown:
        print(f"usage: {sys.argv[0]} [--graph | --self-test]", file=sys.stderr)
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems, edges = check_sources(read_core(root))
    if "--graph" in argv:
        for (a, b), (rel, line) in sorted(edges.items(), key=lambda e: (-RANKS.get(e[0][0], 0), e[0])):
            print(f"{a} -> {b}  (first at core/src/{rel}:{line})")
    for p in problems:
        print(f"core/src/{p}")
    if problems:
        print(f"layers: {len(problems)} reference(s) against the layer order; see RANKS in scripts/layers.py")
        return 1
    print(f"layers: ok, {len(edges)} edges between {len(RANKS)} modules, all downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
