#!/usr/bin/env python3
"""Writes the seed corpus of the dns_answer fuzz target (run from the fuzz/ directory).

A seed is one control byte (0: asking collector.test for A; 4: for AAAA), the query id
0xBEEF, then an answer datagram (see dns_harness.rs).
"""
import os
import struct

ID = 0xBEEF
HOST = "collector.test"


def name(text):
    out = b""
    for label in text.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def ptr(at):
    return struct.pack(">H", 0xC000 | at)


def header(flags=0x8180, qd=1, an=0, ident=ID):
    return struct.pack(">6H", ident, flags, qd, an, 0, 0)


def question(host=HOST, qtype=1):
    return name(host) + struct.pack(">HH", qtype, 1)


def record(owner, rtype, ttl, data):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(data)) + data


Q = question()
Q6 = question(qtype=28)
A = record(ptr(12), 1, 300, bytes([10, 0, 0, 9]))
first_target = 12 + len(Q) + 12  # data of the first record after the question

S = {
    "a": header(an=1) + Q + A,
    "a_two": header(an=2) + Q + A + record(ptr(12), 1, 60, bytes([10, 0, 0, 10])),
    "aaaa": header(an=1) + Q6 + record(ptr(12), 28, 60, bytes(range(1, 17))),
    "cname_chain": header(an=2) + Q
    + record(ptr(12), 5, 120, name("edge.cdn.test"))
    + record(ptr(first_target), 1, 30, bytes([192, 0, 2, 80])),
    "cname_loop": header(an=2) + Q
    + record(ptr(12), 5, 60, name("b.test"))
    + record(ptr(first_target), 5, 60, ptr(12)),
    "nxdomain": header(flags=0x8183) + Q,
    "nxdomain_bare": header(flags=0x8183, qd=0),
    "servfail": header(flags=0x8182) + Q,
    "refused": header(flags=0x8185) + Q,
    "truncated": header(flags=0x8380, an=1) + Q + A,
    "nodata": header() + Q,
    "other_name": header(an=1) + Q + record(name("elsewhere.test"), 1, 60, bytes([192, 0, 2, 66])),
    "wrong_question": header(an=1) + question("elsewhere.test") + A,
    "pointer_self": header(an=1) + Q + ptr(12 + len(Q)) + A[2:],
    "pointer_forward": header(an=1) + Q + ptr(200) + A[2:],
    "label_type_0x40": header(an=1) + Q + b"\x41x\x00" + A[2:],
    "huge_count": header(an=0xFFFF) + Q + A,
    "cut_record": (header(an=1) + Q + A)[:-3],
    "address_5_bytes": header(an=1) + Q + record(ptr(12), 1, 60, bytes([192, 0, 2, 1, 9])),
    "ttl_top_bit": header(an=1) + Q + record(ptr(12), 1, 0x80000001, bytes([10, 0, 0, 9])),
    "short_header": header()[:7],
    "not_response": header(flags=0x0100, an=1) + Q + A,
    "empty": b"",
}
# A name over 255 bytes made of pointers to earlier 63-byte labels.
long = header(an=5) + Q
prev = None
for _ in range(5):
    at = len(long)
    owner = bytes([63]) + b"z" * 63 + (ptr(prev) if prev is not None else b"\x00")
    long += record(owner, 16, 60, b"")
    prev = at
S["name_too_long"] = long

os.makedirs("corpus/dns_answer", exist_ok=True)
for seed, message in S.items():
    control = 4 if seed == "aaaa" else 0
    with open(f"corpus/dns_answer/{seed}", "wb") as f:
        f.write(bytes([control]) + struct.pack(">H", ID) + message)
print(len(S), "dns answer seeds")
