//! What the sink sends for each [`Fault`]: whole responses with their `google.rpc.Status`
//! or `ExportMetricsServiceResponse` bodies, cut-off responses, garbage, and what becomes
//! of the connection afterwards.

use std::time::Duration;

use prost::Message;

use super::fault::Fault;
use super::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};

/// How one connection's handling ended or continues.
pub(super) enum Next {
    /// Wait for the next request on this connection, at most this long.
    KeepAlive(Duration),
    /// Close gracefully (FIN, then drain what the client still sends).
    Close,
    /// Drop the socket at once.
    CloseNow,
}

/// What to do on the wire for one request.
pub(super) enum Action {
    /// Write these bytes (a whole response), then continue as `Next` says.
    Write(Vec<u8>, Next),
    /// Write these bytes (a cut-off response or garbage), then close.
    WriteThenClose(Vec<u8>),
    /// Write these bytes one at a time, `gap` apart, then continue as `Next` says.
    Trickle(Vec<u8>, Duration, Next),
    /// Close without answering.
    Close,
    /// Send header lines until the limit.
    Endless,
    /// Reset the connection.
    Reset,
}

/// Minimal `google.rpc.Status`, the body OTLP/HTTP servers send with error statuses.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn grpc_code(status: u16) -> i32 {
    match status {
        400 => 3,  // INVALID_ARGUMENT
        401 => 16, // UNAUTHENTICATED
        403 => 7,  // PERMISSION_DENIED
        404 => 5,  // NOT_FOUND
        413 => 8,  // RESOURCE_EXHAUSTED
        429 => 8,  // RESOURCE_EXHAUSTED
        503 => 14, // UNAVAILABLE
        _ => 13,   // INTERNAL
    }
}

/// A complete response with a body and optional extra header lines.
pub(super) fn response(
    status: u16,
    content_type: &str,
    body: &[u8],
    extra: &[(&str, String)],
    close: bool,
) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    ));
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub(super) fn status_response(
    status: u16,
    message: &str,
    extra: &[(&str, String)],
    close: bool,
) -> Vec<u8> {
    let body = RpcStatus {
        code: grpc_code(status),
        message: message.to_string(),
    }
    .encode_to_vec();
    response(status, "application/x-protobuf", &body, extra, close)
}

/// The body [`Fault::Chunked`] sends.
pub fn chunked_fault_body() -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 0,
            error_message: "sent chunked".into(),
        }),
    }
    .encode_to_vec()
}

/// The full body [`Fault::CloseMidBody`] announces (it sends only the first 5 bytes).
pub fn mid_body_fault_body() -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 0,
            error_message: "0123456789ab".into(),
        }),
    }
    .encode_to_vec()
}

/// The status sent (if any) and the action for a decoded request under `fault`;
/// `idle_timeout` is how long a keep-alive connection waits for its next request.
pub(super) fn plan(
    fault: &Fault,
    close_after: bool,
    idle_timeout: Duration,
) -> (Option<u16>, Action) {
    let keep = |idle: Duration| {
        if close_after {
            Next::Close
        } else {
            Next::KeepAlive(idle)
        }
    };
    let idle = idle_timeout;
    let ok = || response(200, "application/x-protobuf", &[], &[], close_after);
    match fault {
        // `DropOnReuse` on a connection's first request; its second is `CloseBeforeAnswer`.
        Fault::None | Fault::DropOnReuse => (Some(200), Action::Write(ok(), keep(idle))),
        Fault::IdleClose(after) => (Some(200), Action::Write(ok(), keep(*after))),
        Fault::AnswerThenClose => {
            let bytes = response(200, "application/x-protobuf", &[], &[], false);
            (Some(200), Action::Write(bytes, Next::Close))
        }
        Fault::CloseBeforeAnswer => (None, Action::Close),
        Fault::CloseMidHeaders => (
            Some(200),
            Action::WriteThenClose(b"HTTP/1.1 200 OK\r\nContent-Type: applic".to_vec()),
        ),
        Fault::CloseMidBody => {
            let body = mid_body_fault_body();
            let mut full = response(200, "application/x-protobuf", &body, &[], false);
            full.truncate(full.len() - body.len() + 5);
            (Some(200), Action::WriteThenClose(full))
        }
        Fault::Chunked => {
            let body = chunked_fault_body();
            let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n".to_vec();
            if close_after {
                bytes.extend_from_slice(b"Connection: close\r\n");
            }
            bytes.extend_from_slice(b"\r\n");
            for (i, part) in body.chunks(4).enumerate() {
                let size_line = if i == 0 {
                    format!("{:x};note=first\r\n", part.len())
                } else {
                    format!("{:x}\r\n", part.len())
                };
                bytes.extend_from_slice(size_line.as_bytes());
                bytes.extend_from_slice(part);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
            (Some(200), Action::Write(bytes, keep(idle)))
        }
        Fault::Trickle { bytes_per_second } => {
            let gap = Duration::from_secs(1) / (*bytes_per_second).max(1);
            (Some(200), Action::Trickle(ok(), gap, keep(idle)))
        }
        Fault::TooManyRequests(retry) | Fault::Unavailable(retry) => {
            let status = if matches!(fault, Fault::TooManyRequests(_)) {
                429
            } else {
                503
            };
            let extra: Vec<(&str, String)> = retry
                .iter()
                .map(|r| ("Retry-After", r.header_value()))
                .collect();
            let bytes = status_response(status, "sink fault: try again later", &extra, close_after);
            (Some(status), Action::Write(bytes, keep(idle)))
        }
        Fault::Status(status) => {
            let status = (*status).clamp(100, 999);
            let bytes = status_response(
                status,
                &format!("sink fault: status {status}"),
                &[],
                close_after,
            );
            (Some(status), Action::Write(bytes, keep(idle)))
        }
        // Answered before the body was read; never reaches here.
        Fault::PayloadTooLargeEarly => (None, Action::Close),
        Fault::PartialSuccess { rejected, message } => {
            let body = ExportMetricsServiceResponse {
                partial_success: Some(ExportMetricsPartialSuccess {
                    rejected_data_points: *rejected,
                    error_message: message.clone(),
                }),
            }
            .encode_to_vec();
            let bytes = response(200, "application/x-protobuf", &body, &[], close_after);
            (Some(200), Action::Write(bytes, keep(idle)))
        }
        Fault::Html502 => {
            let body = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n";
            let bytes = response(502, "text/html", body, &[], close_after);
            (Some(502), Action::Write(bytes, keep(idle)))
        }
        Fault::GarbageStatusLine => (
            None,
            Action::WriteThenClose(b"HTPT/1.1 2OO KO\r\n\r\n".to_vec()),
        ),
        Fault::EndlessHeaders => (Some(200), Action::Endless),
        Fault::Reset => (None, Action::Reset),
    }
}
