#!/usr/bin/env python3
"""Flash, RAM and code by part of the emulated board's image (examples/firmware-qemu).

Usage: board-image-figures.py IMAGE

Prints `figure<TAB>bytes` lines (scripts/qemu-board.sh and scripts/footprint.sh read them):

- `flash`: what the image loads (vector table, .text, .rodata, .data's initial values);
- `static_ram`: .data + .bss + .uninit (the two stacks take what is left of the 64 KiB;
  the main loop's process stack is one of the statics);
- `part:LABEL`: .text + .rodata by part, from the symbol table (`nm -S`). Fat LTO inlines
  across crates, so bytes count for the crate that owns the function they ended up in
  (the board program's `run` holds the inlined export path, for one);
- `part_total`: all symbol bytes (the rest of .text + .rodata is alignment and the vector
  table's neighbours without a symbol).

Needs binutils (`size`, `nm`).
"""

import re
import subprocess
import sys

GROUPS = [
    ("otlp-embedded (core)", ("otlp_embedded", "httparse", "heapless", "libm", "embedded_io", "hash32")),
    ("otlp-embedded-smoltcp", ("otlp_embedded_smoltcp",)),
    ("smoltcp", ("smoltcp", "managed", "byteorder")),
    ("LAN9118 driver", ("firmware_qemu::lan9118",)),
    ("board program (firmware-qemu)", ("firmware_qemu",)),
    ("startup and console (cortex-m, -rt, semihosting)",
     ("cortex_m", "cortex_m_rt", "cortex_m_semihosting", "critical_section")),
    ("Rust core (fmt, slices, integers)", ("core",)),
    ("compiler builtins (soft-float, mem*)", ("compiler_builtins",)),
    ("outlined code (LLVM machine outliner)", ("OUTLINED",)),
]
PRIMITIVES = {"u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128",
              "isize", "f32", "f64", "char", "str", "bool"}
RUNTIME = ("Reset", "DefaultHandler_", "DefaultPreInit", "HardFault_")
MEM = ("memcmp", "memcpy", "memset", "memmove")


def owner(name):
    """The crate (or the driver module) a demangled symbol's code belongs to."""
    if name.startswith("OUTLINED_FUNCTION"):
        return "OUTLINED"
    if "::" not in name:
        vectors = name.startswith(("__INTERRUPTS", "__EXCEPTIONS", "__RESET"))
        if (name.startswith("__") and not vectors) or name in MEM:
            return "compiler_builtins"
        # Entry, exception handlers, vector tables.
        return "cortex_m_rt" if name.startswith("__") or name in RUNTIME else "firmware_qemu"
    # <A as B>::f and <A>::f belong to A; generic arguments do not count.
    m = re.match(r"<*&*(?:mut )?(?:dyn )?\[?([A-Za-z_][A-Za-z0-9_]*)(::([a-z0-9_]+))?", name)
    if not m:
        return "core"  # impls on tuples and the unit type
    crate = m.group(1)
    if crate in PRIMITIVES:
        return "core"
    if crate == "__rustc":
        return "firmware_qemu"  # the panic handler
    if crate == "firmware_qemu" and m.group(3) == "lan9118":
        return "firmware_qemu::lan9118"
    return crate


def main():
    image = sys.argv[1]
    sections = {}
    for line in subprocess.run(["size", "-A", image], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        cols = line.split()
        if len(cols) >= 2 and cols[0].startswith(".") and cols[1].isdigit():
            sections[cols[0]] = int(cols[1])
    flash = sum(sections.get(s, 0) for s in (".vector_table", ".text", ".rodata", ".data"))
    ram = sum(sections.get(s, 0) for s in (".data", ".bss", ".uninit"))
    print(f"flash\t{flash}")
    print(f"static_ram\t{ram}")

    by = {}
    other = {}
    nm = subprocess.run(["nm", "-S", "-C", image], check=True, capture_output=True, text=True)
    for line in nm.stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4 or parts[2] not in ("t", "T", "r", "R") or parts[3].startswith("$"):
            continue
        size, crate = int(parts[1], 16), owner(parts[3])
        for label, prefixes in GROUPS:
            if crate in prefixes:
                by[label] = by.get(label, 0) + size
                break
        else:
            other[crate] = other.get(crate, 0) + size
    for label, _ in GROUPS:
        print(f"part:{label}\t{by.get(label, 0)}")
    for crate, size in sorted(other.items(), key=lambda kv: -kv[1]):
        print(f"part:{crate}\t{size}")
    print(f"part_total\t{sum(by.values()) + sum(other.values())}")


main()
