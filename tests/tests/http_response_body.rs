//! The response-body decoders against the reference encoder (prost): values, unknown fields
//! of every wire type, groups, truncation at every length, and the decode helper's matrix.

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use otlp_embedded::proto::response::{
    decode_body, decode_export_response, decode_export_response_prefix, decode_status, DecodeError,
    PartialSuccess, ReceivedBody, ResponseBody, RpcStatus, MAX_GROUP_DEPTH,
};
use prost::Message;

/// `google.rpc.Status`, declared here for the reference encoder.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

fn export(rejected: i64, message: &str) -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: message.to_string(),
        }),
    }
    .encode_to_vec()
}

fn status(code: i32, message: &str, details: usize) -> Vec<u8> {
    Status {
        code,
        message: message.to_string(),
        details: (0..details)
            .map(|i| Any {
                type_url: format!("type.googleapis.com/x{i}"),
                value: vec![i as u8; i],
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Unknown fields of every wire type, groups nested two deep included.
fn unknown_fields() -> Vec<u8> {
    let mut u = vec![];
    u.extend([0x98, 0x06, 0x96, 0x01]); // field 99 varint 150
    u.extend([0xa1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]); // field 100 fixed64
    u.extend([0xad, 0x06, 1, 2, 3, 4]); // field 101 fixed32
    u.extend([0xb2, 0x06, 3, b'x', b'y', b'z']); // field 102 bytes
                                                 // field 103 group { field 1 varint, field 104 group { field 2 bytes } }
    u.extend([
        0xbb, 0x06, 0x08, 0x01, 0xc3, 0x06, 0x12, 0x01, b'q', 0xc4, 0x06, 0xbc, 0x06,
    ]);
    u
}

#[test]
fn export_response_values_match_the_reference() {
    for (rejected, message) in [
        (0, ""),
        (3, "bad"),
        (-1, "negative"),
        (i64::MAX, "max"),
        (i64::MIN, "min"),
        (7, "ünïcödé ✓ 指标"),
    ] {
        let bytes = export(rejected, message);
        let decoded = decode_export_response(&bytes).unwrap();
        // prost leaves an all-default embedded message out? No: it writes the tag and
        // length zero, so partial_success is present either way.
        assert_eq!(
            decoded.partial_success,
            Some(PartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
                error_message_lossy: false,
            })
        );
    }
    assert_eq!(decode_export_response(&[]).unwrap().partial_success, None);
}

#[test]
fn status_values_match_the_reference() {
    for (code, message, details) in [
        (0, "", 0),
        (3, "invalid argument", 2),
        (-5, "neg", 1),
        (i32::MAX, "x", 0),
    ] {
        let bytes = status(code, message, details);
        assert_eq!(
            decode_status(&bytes).unwrap(),
            RpcStatus {
                code,
                message,
                message_lossy: false,
                details: details as u32,
            }
        );
    }
}

#[test]
fn unknown_fields_are_skipped_everywhere() {
    let inner = [
        &unknown_fields()[..],
        &[0x08, 0x05, 0x12, 0x02, b'o', b'k'],
        &unknown_fields(),
    ]
    .concat();
    let mut bytes = unknown_fields();
    bytes.push(0x0a);
    bytes.push(inner.len() as u8);
    bytes.extend(&inner);
    bytes.extend(unknown_fields());
    let reference = ExportMetricsServiceResponse::decode(&bytes[..]).unwrap();
    let ours = decode_export_response(&bytes)
        .unwrap()
        .partial_success
        .unwrap();
    let theirs = reference.partial_success.unwrap();
    assert_eq!((ours.rejected_data_points, ours.error_message), (5, "ok"));
    assert_eq!(
        (theirs.rejected_data_points, theirs.error_message.as_str()),
        (5, "ok")
    );
    let mut s = unknown_fields();
    s.extend(status(9, "failed precondition", 3));
    s.extend(unknown_fields());
    let ours = decode_status(&s).unwrap();
    let theirs = Status::decode(&s[..]).unwrap();
    assert_eq!(
        (ours.code, ours.message, ours.details),
        (9, "failed precondition", 3)
    );
    assert_eq!((theirs.code, theirs.details.len()), (9, 3));
}

#[test]
fn repeated_partial_success_merges_like_the_reference() {
    let mut bytes = export(4, "first");
    // A second occurrence with only the count set keeps the first message.
    bytes.extend([0x0a, 0x02, 0x08, 0x09]);
    let ours = decode_export_response(&bytes)
        .unwrap()
        .partial_success
        .unwrap();
    let theirs = ExportMetricsServiceResponse::decode(&bytes[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(ours.rejected_data_points, theirs.rejected_data_points);
    assert_eq!(ours.error_message, theirs.error_message);
    assert_eq!(
        (ours.rejected_data_points, ours.error_message),
        (9, "first")
    );
}

#[test]
fn every_truncation_agrees_with_the_reference() {
    let mut full = unknown_fields();
    full.extend(export(123_456, "partially rejected"));
    for n in 0..full.len() {
        let prefix = &full[..n];
        let ours = decode_export_response(prefix);
        let theirs = ExportMetricsServiceResponse::decode(prefix);
        assert_eq!(ours.is_ok(), theirs.is_ok(), "prefix {n}: {ours:?}");
        if let Err(e) = ours {
            assert_eq!(e, DecodeError::Truncated, "prefix {n}");
        }
    }
    let full = status(13, "internal", 2);
    for n in 0..full.len() {
        let ours = decode_status(&full[..n]);
        assert_eq!(
            ours.is_ok(),
            Status::decode(&full[..n]).is_ok(),
            "prefix {n}"
        );
    }
}

/// The wire type of `InvalidWireType` and the field of `WrongWireType` are the failing
/// tag's, also after other fields whose values (varints, lengths) were read before it.
#[test]
fn error_payloads_come_from_the_failing_tag() {
    // Status: code 0x7ff (low bits 7, 255 above them), then field 3 with wire type 6.
    assert_eq!(
        decode_status(&[0x08, 0xff, 0x0f, 0x1e]),
        Err(DecodeError::InvalidWireType(6))
    );
    // Status: a message of length 0x0f, then field 3 as a fixed64.
    let mut body = vec![0x12, 0x0f];
    body.extend_from_slice(b"fifteen bytes!!");
    body.push(0x19);
    assert_eq!(
        decode_status(&body),
        Err(DecodeError::WrongWireType { field: 3 })
    );
    // Inside the partial success: rejected 301, then its message as a fixed64.
    assert_eq!(
        decode_export_response(&[0x0a, 0x04, 0x08, 0xad, 0x02, 0x11]),
        Err(DecodeError::WrongWireType { field: 2 })
    );
    // A two-byte tag: field 300 with wire type 7, after an unknown varint field.
    assert_eq!(
        decode_export_response(&[0x20, 0xad, 0x02, 0xe7, 0x12]),
        Err(DecodeError::InvalidWireType(7))
    );
    assert_eq!(
        decode_body(&ReceivedBody {
            status: 400,
            is_protobuf: true,
            bytes: &[0x08, 0xff, 0x0f, 0x1e],
            truncated: false,
        }),
        ResponseBody::Invalid(DecodeError::InvalidWireType(6))
    );
}

#[test]
fn malformed_bytes_are_errors() {
    let cases: [(&[u8], DecodeError); 10] = [
        (
            &[
                0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            DecodeError::VarintOverflow,
        ),
        (
            &[
                0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ],
            DecodeError::VarintOverflow,
        ),
        (&[0x00, 0x01], DecodeError::InvalidTag),
        (
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            DecodeError::InvalidTag,
        ),
        (&[0x0e], DecodeError::InvalidWireType(6)),
        (&[0x0f], DecodeError::InvalidWireType(7)),
        (&[0x14], DecodeError::GroupMismatch),
        (&[0x13, 0x1c], DecodeError::GroupMismatch),
        (&[0x08, 0x01], DecodeError::WrongWireType { field: 1 }),
        (&[0x0a, 0x05, 0x01], DecodeError::Truncated),
    ];
    for (bytes, expected) in cases {
        assert_eq!(decode_export_response(bytes), Err(expected), "{bytes:x?}");
    }
    assert_eq!(decode_status(&[0x12, 0x01]), Err(DecodeError::Truncated));
    assert_eq!(
        decode_status(&[0x0a, 0x00]),
        Err(DecodeError::WrongWireType { field: 1 })
    );
    assert_eq!(
        decode_status(&[0x1d, 0, 0, 0, 0]),
        Err(DecodeError::WrongWireType { field: 3 })
    );
    // Inside the partial success: its message must be a string.
    assert_eq!(
        decode_export_response(&[0x0a, 0x02, 0x10, 0x01]),
        Err(DecodeError::WrongWireType { field: 2 })
    );
    // A group still open where its message ends, and one closed by another field's tag
    // inside an outer group.
    assert_eq!(decode_status(&[0x23]), Err(DecodeError::Truncated));
    assert_eq!(
        decode_export_response(&[0x0a, 0x02, 0x23, 0x08, 0x24]),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decode_status(&[0x23, 0x2b, 0x24]),
        Err(DecodeError::GroupMismatch)
    );
    // Length that overflows usize arithmetic.
    assert_eq!(
        decode_status(&[0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn group_depth_is_bounded() {
    // Field 3 of Status is a message: a group there has the wrong wire type.
    assert_eq!(
        decode_status(&[0x1b, 0x1c]),
        Err(DecodeError::WrongWireType { field: 3 })
    );
    let nested_unknown = |depth: usize| {
        let mut b = vec![0x23; depth]; // field 4 start group
        b.extend(vec![0x24; depth]);
        b
    };
    assert_eq!(
        decode_status(&[&nested_unknown(MAX_GROUP_DEPTH)[..], &[0x08, 0x02]].concat())
            .unwrap()
            .code,
        2
    );
    assert_eq!(
        decode_status(&nested_unknown(MAX_GROUP_DEPTH + 1)),
        Err(DecodeError::GroupTooDeep)
    );
}

/// A body cut off by the buffer is decoded as far as it goes, each case once strictly (an
/// error) and once as a prefix (what came before the error).
#[test]
fn prefix_decoding_keeps_what_came_before_an_error() {
    // (body, the strict error, the partial success the prefix decoding keeps: rejected
    // points, message, whether the message was cut)
    type Case<'a> = (&'a [u8], DecodeError, Option<(i64, &'a str, bool)>);
    let cases: [Case; 9] = [
        // A field 1 that is not a message is skipped.
        (
            &[0x08, 0x05, 0x0a, 0x02, 0x08, 0x03],
            DecodeError::WrongWireType { field: 1 },
            Some((3, "", false)),
        ),
        // An error inside a partial success ends that message only; the next one merges.
        (
            &[0x0a, 0x03, 0x08, 0x04, 0x0e, 0x0a, 0x03, 0x12, 0x01, b'x'],
            DecodeError::InvalidWireType(6),
            Some((4, "x", false)),
        ),
        // A partial success cut short keeps its fields, its message marked lossy.
        (
            &[0x0a, 0x10, 0x08, 0x01, 0x12, 0x02, b'o', b'k'],
            DecodeError::Truncated,
            Some((1, "ok", true)),
        ),
        // A message running past its partial success is cut there; the response goes on.
        (
            &[0x0a, 0x04, 0x12, 0x05, b'a', b'b', 0x0a, 0x02, 0x08, 0x01],
            DecodeError::Truncated,
            Some((1, "ab", true)),
        ),
        // An error in the response itself ends decoding.
        (
            &[0x0a, 0x02, 0x08, 0x07, 0x0f, 0x0a, 0x02, 0x08, 0x09],
            DecodeError::InvalidWireType(7),
            Some((7, "", false)),
        ),
        // A partial success whose length does not arrive is not there.
        (&[0x0a, 0x80], DecodeError::Truncated, None),
        // A fixed64 running past its partial success ends that message; the next one's
        // message is whole.
        (
            &[
                0x0a, 0x06, 0x08, 0x02, 0x19, 0x01, 0x02, 0x03, 0x0a, 0x03, 0x12, 0x01, b'y',
            ],
            DecodeError::Truncated,
            Some((2, "y", false)),
        ),
        // A fixed32 cut by the buffer in the response itself ends decoding.
        (
            &[0x0a, 0x02, 0x08, 0x07, 0x25, 0x01, 0x02],
            DecodeError::Truncated,
            Some((7, "", false)),
        ),
        // A fixed32 cut by the buffer inside a partial success cut short: what came
        // before it stays, its message marked lossy.
        (
            &[0x0a, 0x09, 0x08, 0x03, 0x12, 0x01, b'z', 0x1d, 0x01],
            DecodeError::Truncated,
            Some((3, "z", true)),
        ),
    ];
    for (bytes, strict, prefix) in cases {
        assert_eq!(decode_export_response(bytes), Err(strict), "{bytes:x?}");
        let decoded = decode_export_response_prefix(bytes)
            .partial_success
            .map(|p| {
                (
                    p.rejected_data_points,
                    p.error_message,
                    p.error_message_lossy,
                )
            });
        assert_eq!(decoded, prefix, "{bytes:x?}");
    }
}

#[test]
fn invalid_utf8_keeps_the_valid_prefix() {
    let bytes = [0x0a, 0x08, 0x08, 0x02, 0x12, 0x04, b'o', b'k', 0xff, b'!'];
    let p = decode_export_response(&bytes)
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(
        (
            p.rejected_data_points,
            p.error_message,
            p.error_message_lossy
        ),
        (2, "ok", true)
    );
    let s = decode_status(&[0x12, 0x03, 0xe2, 0x82, b'x']).unwrap();
    assert_eq!((s.message, s.message_lossy), ("", true));
}

/// The body an exchange kept: the first `body_len` bytes of `body` (all of it when
/// `body_len` is longer), as the exporter hands them to `decode_body`.
fn response<'a>(
    status: u16,
    protobuf: bool,
    body_len: usize,
    truncated: bool,
    body: &'a [u8],
) -> ReceivedBody<'a> {
    ReceivedBody {
        status,
        is_protobuf: protobuf,
        bytes: body.get(..body_len).unwrap_or(body),
        truncated,
    }
}

#[test]
fn decode_body_matrix() {
    let partial = export(3, "bad");
    let quiet = export(0, "");
    let st = status(8, "resource exhausted", 0);
    let garbage = [0x0f];
    assert_eq!(
        decode_body(&response(200, true, 0, false, &[])),
        ResponseBody::Success
    );
    assert_eq!(
        decode_body(&response(204, false, 0, false, &[])),
        ResponseBody::Success
    );
    assert_eq!(
        decode_body(&response(200, true, partial.len(), false, &partial)),
        ResponseBody::PartialSuccess(PartialSuccess {
            rejected_data_points: 3,
            error_message: "bad",
            error_message_lossy: false
        })
    );
    assert_eq!(
        decode_body(&response(200, true, quiet.len(), false, &quiet)),
        ResponseBody::Success
    );
    assert_eq!(
        decode_body(&response(200, false, partial.len(), false, &partial)),
        ResponseBody::NotDecoded
    );
    assert_eq!(
        decode_body(&response(429, true, st.len(), false, &st)),
        ResponseBody::Status(RpcStatus {
            code: 8,
            message: "resource exhausted",
            message_lossy: false,
            details: 0
        })
    );
    assert_eq!(
        decode_body(&response(500, true, 0, false, &[])),
        ResponseBody::NotDecoded
    );
    assert_eq!(
        decode_body(&response(500, false, st.len(), false, &st)),
        ResponseBody::NotDecoded
    );
    // A 2xx body cut by the buffer: what arrived still counts (the rejected count comes
    // first); a message cut short is kept up to the cut and marked lossy.
    assert_eq!(
        decode_body(&response(200, true, 4, true, &partial)),
        ResponseBody::PartialSuccess(PartialSuccess {
            rejected_data_points: 3,
            error_message: "",
            error_message_lossy: false,
        })
    );
    assert_eq!(
        decode_body(&response(200, true, 7, true, &partial)),
        ResponseBody::PartialSuccess(PartialSuccess {
            rejected_data_points: 3,
            error_message: "b",
            error_message_lossy: true,
        })
    );
    assert_eq!(
        decode_body(&response(200, true, 1, true, &partial)),
        ResponseBody::Truncated
    );
    assert_eq!(
        decode_body(&response(400, true, 4, true, &st)),
        ResponseBody::Truncated
    );
    assert_eq!(
        decode_body(&response(200, true, 1, false, &garbage)),
        ResponseBody::Invalid(DecodeError::InvalidWireType(7))
    );
    // body_len bigger than the slice is clamped, never a panic.
    assert_eq!(
        decode_body(&response(200, true, 99, false, &quiet)),
        ResponseBody::Success
    );
}
