#!/usr/bin/env python3
"""Writes the seed corpus for the fuzz targets (run from the fuzz/ directory).

Reader seeds are two control bytes (limits and buffer sizes, see harness.rs) followed by
a server response; body seeds are protobuf bodies.
"""
import os

# a=0x7f: drain cap 448, chunk line limit 128; b=0x4f: header buffer 984, body buffer 32.
CTL = bytes([0x7F, 0x4F])
# Small buffers: header buffer 88, body 8, drain cap 64, chunk line 16.
SMALL = bytes([0x09, 0x11])

R = {
    "cl_protobuf": b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 9\r\n\r\n\x0a\x07\x08\x03\x12\x03bad",
    "chunked_ext_trailers": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nhel\r\n2\r\nlo\r\n0\r\nX: 1\r\n\r\n",
    "close_delimited": b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    "interim_100_103": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
    "switching_101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    "no_body_204": b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
    "no_body_304": b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
    "retry_after_seconds": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n",
    "retry_after_imf": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n",
    "retry_after_rfc850": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Sunday, 06-Nov-94 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n",
    "retry_after_asctime": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Sun Nov  6 08:49:37 1994\r\nContent-Length: 0\r\n\r\n",
    "te_and_cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "te_gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_gzip_to_close": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nto the close",
    "te_http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok",
    "obs_fold": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Sun, 06 Nov 1994\r\n \t08:49:37 GMT\r\nContent-Length:\r\n 2\r\n\r\nok",
    "cl_duplicate": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "cl_conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok!",
    "cl_overflow": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "chunk_overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\n",
    "chunk_bad_end": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX",
    "chunk_long_ext": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 200 + b"\r\nx\r\n0\r\n\r\n",
    "truncated_body": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
    "truncated_head": b"HTTP/1.1 200 OK\r\nServ",
    "partial_status": b"HTTP/1.1 2",
    "garbage": b"\x00\xff\r\n\r\nHTTP/9.9 abc\r\n",
    "bare_lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "big_body_drain": b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 600\r\n\r\n" + b"x" * 600,
    "status_protobuf": b"HTTP/1.1 400 Bad Request\r\nContent-Type: Application/X-Protobuf; proto=google.rpc.Status\r\nContent-Length: 7\r\n\r\n\x08\x03\x12\x03bad",
    "many_headers": b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 40 + b"\r\n",
}

os.makedirs("corpus/response_reader", exist_ok=True)
for name, resp in R.items():
    with open(f"corpus/response_reader/{name}", "wb") as f:
        f.write(CTL + resp)
for name in ["cl_protobuf", "chunked_ext_trailers", "big_body_drain", "interim_100_103", "obs_fold"]:
    with open(f"corpus/response_reader/small_{name}", "wb") as f:
        f.write(SMALL + R[name])


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    tag = varint(num << 3 | wire)
    if wire == 2:
        return tag + varint(len(payload)) + payload
    return tag + payload


def partial(rejected, msg):
    return field(1, 2, field(1, 0, varint(rejected)) + field(2, 2, msg))


UNKNOWN = (
    field(99, 0, varint(150))
    + field(100, 1, bytes(8))
    + field(101, 5, bytes(4))
    + field(102, 2, b"xyz")
    + varint(103 << 3 | 3) + field(1, 0, varint(1)) + varint(103 << 3 | 4)
)

B = {
    "empty": b"",
    "partial_3_bad": partial(3, b"bad"),
    "partial_negative": partial(-1, b"neg"),
    "partial_max": partial((1 << 63) - 1, b"max"),
    "partial_empty_message": field(1, 2, b""),
    "partial_utf8": partial(7, "ünïcödé ✓".encode()),
    "partial_bad_utf8": partial(2, b"ok\xff!"),
    "partial_repeated": partial(4, b"first") + field(1, 2, field(1, 0, varint(9))),
    "unknown_everywhere": UNKNOWN + field(1, 2, UNKNOWN + field(1, 0, varint(5))) + UNKNOWN,
    "status": field(1, 0, varint(3)) + field(2, 2, b"invalid argument"),
    "status_negative_code": field(1, 0, varint(-5)) + field(2, 2, b"neg"),
    "status_details": field(1, 0, varint(8)) + field(3, 2, field(1, 2, b"type.googleapis.com/x")) + field(3, 2, b""),
    "nested_groups": varint(4 << 3 | 3) * 16 + varint(4 << 3 | 4) * 16 + field(1, 0, varint(2)),
    "groups_too_deep": varint(4 << 3 | 3) * 17 + varint(4 << 3 | 4) * 17,
    "group_mismatch": varint(4 << 3 | 3) + varint(5 << 3 | 4),
    "end_group_alone": varint(4 << 3 | 4),
    "varint_overflow": field(3, 0, b"\xff" * 9 + b"\x02"),
    "varint_too_long": field(3, 0, b"\xff" * 10 + b"\x01"),
    "wire_type_6": bytes([0x0E]),
    "wire_type_7": bytes([0x0F]),
    "field_zero": bytes([0x00, 0x01]),
    "length_overflow": bytes([0x12]) + b"\xff" * 9 + b"\x01",
    "truncated_length": field(1, 2, b"abc")[:-1],
    "wrong_wire_type": field(1, 0, varint(1)),
    "huge_tag": b"\x80\x80\x80\x80\x80\x01",
}

os.makedirs("corpus/response_body", exist_ok=True)
for name, body in B.items():
    with open(f"corpus/response_body/{name}", "wb") as f:
        f.write(body)
print(len(R) + 4, "reader seeds,", len(B), "body seeds")
