//! The sink against a hand-written HTTP/1.1 client on a plain `TcpStream`: each fault mode
//! produces exactly the bytes and the connection behaviour it promises, and the counters
//! and decoded requests match what was sent.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use otlp_embedded_test_kit::sink::{
    chunked_fault_body, http_date, mid_body_fault_body, Fault, RetryAfter, Sink, SinkOptions,
};
use prost::Message;

const WAIT: Duration = Duration::from_secs(10);

/// `google.rpc.Status`, decoded on the test side.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn metrics_request(value: i64, route: &str) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "requests".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            attributes: vec![KeyValue {
                                key: "route".into(),
                                value: Some(AnyValue {
                                    value: Some(any_value::Value::StringValue(route.into())),
                                }),
                                ..Default::default()
                            }],
                            value: Some(number_data_point::Value::AsInt(value)),
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(body: &[u8], extra_headers: &str) -> Vec<u8> {
    let mut out = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn connect(sink: &Sink) -> TcpStream {
    let s = TcpStream::connect(sink.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Everything read for this response, head and body as on the wire.
    raw: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_byte(s: &mut TcpStream, raw: &mut Vec<u8>) -> u8 {
    let mut b = [0u8; 1];
    let n = s.read(&mut b).unwrap();
    assert_eq!(
        n,
        1,
        "connection ended early; got so far: {:?}",
        String::from_utf8_lossy(raw)
    );
    raw.push(b[0]);
    b[0]
}

fn read_line(s: &mut TcpStream, raw: &mut Vec<u8>) -> String {
    let mut line = Vec::new();
    loop {
        let b = read_byte(s, raw);
        if b == b'\n' {
            break;
        }
        line.push(b);
        assert!(line.len() < 100_000, "line too long");
    }
    assert_eq!(line.pop(), Some(b'\r'), "lines end with CRLF");
    String::from_utf8(line).unwrap()
}

/// Read one response framed by Content-Length or chunked encoding, byte by byte so that
/// nothing of a following response is consumed.
fn read_response(s: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let status_line = read_line(s, &mut raw);
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"));
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let line = read_line(s, &mut raw);
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap();
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
        raw: Vec::new(),
    };
    if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let size_line = read_line(s, &mut raw);
            let size_hex = size_line.split(';').next().unwrap();
            let size = usize::from_str_radix(size_hex, 16).unwrap();
            for _ in 0..size {
                let b = read_byte(s, &mut raw);
                response.body.push(b);
            }
            assert_eq!(read_line(s, &mut raw), "");
            if size == 0 {
                break;
            }
        }
    } else {
        let len: usize = response.header("content-length").unwrap().parse().unwrap();
        for _ in 0..len {
            let b = read_byte(s, &mut raw);
            response.body.push(b);
        }
    }
    response.raw = raw;
    response
}

/// Read until the peer closes (bounded by the read timeout and a size cap).
fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("expected EOF, got {e} after {} bytes", out.len()),
        }
        assert!(out.len() < 64 * 1024 * 1024);
    }
}

fn assert_plain_ok(r: &Response) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let sink = Sink::start().unwrap();
    let mut s = connect(&sink);
    for v in 1..=3 {
        s.write_all(&post(&metrics_request(v, "/a").encode_to_vec(), ""))
            .unwrap();
        let r = read_response(&mut s);
        assert_plain_ok(&r);
        assert_eq!(r.header("connection"), None);
    }
    // The client asks to close: the sink says so and closes after answering.
    s.write_all(&post(
        &metrics_request(4, "/b").encode_to_vec(),
        "Connection: close\r\n",
    ))
    .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(read_to_eof(&mut s), b"");
    drop(s);
    assert!(sink.wait_for(WAIT, |st| st.connections_closed == 1));

    let stats = sink.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.connections_closed, 1);
    assert_eq!(stats.requests_received, 4);
    assert_eq!(stats.requests_answered_2xx, 4);
    assert_eq!(stats.requests_per_connection, vec![4]);
    assert_eq!(stats.decode_errors, 0);

    let got = sink.requests();
    let want: Vec<_> = (1..=3)
        .map(|v| metrics_request(v, "/a"))
        .chain([metrics_request(4, "/b")])
        .collect();
    assert_eq!(got, want);
    let a = sink.total("requests", &[("route", "/a")]).unwrap();
    assert_eq!((a.points, a.value_sum, a.last_value), (3, 6.0, 3.0));
    let b = sink.total("requests", &[("route", "/b")]).unwrap();
    assert_eq!((b.points, b.value_sum), (1, 4.0));
    assert_eq!(sink.totals().len(), 2);

    let received = sink.received();
    assert_eq!(received.len(), 4);
    assert_eq!(received[0].path, "/v1/metrics");
    assert_eq!(received[0].method, "POST");
    assert_eq!(
        received[0].header("Content-Type"),
        Some("application/x-protobuf")
    );
    assert!(received
        .iter()
        .all(|r| r.acknowledged && r.status == Some(200)));
}

#[test]
fn gzip_bodies_are_decoded() {
    let sink = Sink::start().unwrap();
    let mut s = connect(&sink);
    let plain = metrics_request(42, "/gz").encode_to_vec();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    s.write_all(&post(&gz, "Content-Encoding: gzip\r\n"))
        .unwrap();
    assert_plain_ok(&read_response(&mut s));
    assert_eq!(sink.requests(), vec![metrics_request(42, "/gz")]);
    assert_eq!(sink.received()[0].body_len, gz.len());
}

#[test]
fn undecodable_body_gets_400_and_is_counted() {
    let sink = Sink::start().unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(b"\xff\xff\xff not protobuf", ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 400);
    assert_eq!(RpcStatus::decode(&r.body[..]).unwrap().code, 3);
    assert_eq!(sink.stats().decode_errors, 1);
    assert_eq!(sink.stats().requests_answered_2xx, 0);
    assert!(sink.requests().is_empty());
}

#[test]
fn idle_close_closes_a_quiet_keep_alive_connection_without_warning() {
    let sink = Sink::with_fault(Fault::IdleClose(Duration::from_millis(200))).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_plain_ok(&r);
    assert_eq!(r.header("connection"), None, "no warning of the close");
    // Nothing more is sent; the sink closes the idle connection (FIN, no bytes).
    assert_eq!(read_to_eof(&mut s), b"");
    assert!(sink.wait_for(WAIT, |st| st.connections_closed == 1));
    assert_eq!(sink.stats().requests_answered_2xx, 1);
}

#[test]
fn answer_then_close() {
    let sink = Sink::with_fault(Fault::AnswerThenClose).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_plain_ok(&r);
    assert_eq!(r.header("connection"), None);
    assert_eq!(read_to_eof(&mut s), b"");
    assert_eq!(sink.requests().len(), 1, "a complete 200 acknowledges");
}

#[test]
fn close_before_answer_reads_the_request_and_sends_nothing() {
    let sink = Sink::with_fault(Fault::CloseBeforeAnswer).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(7, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    drop(s);
    assert!(sink.wait_for(WAIT, |st| st.connections_closed == 1));
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].request, Some(metrics_request(7, "/a")));
    assert_eq!(received[0].status, None);
    assert!(!received[0].acknowledged);
    assert!(sink.requests().is_empty());
    assert_eq!(sink.stats().requests_received, 1);
    assert_eq!(sink.stats().requests_answered_2xx, 0);
}

#[test]
fn drop_on_reuse_drops_the_first_request_on_a_reused_connection() {
    let sink = Sink::with_fault(Fault::DropOnReuse).unwrap();
    // First connection: its first request answered, keep-alive; its second read in full,
    // then the connection closed without an answer.
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_plain_ok(&r);
    assert_eq!(r.header("connection"), None, "kept alive");
    s.write_all(&post(&metrics_request(2, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_eq!(
        read_to_eof(&mut s),
        b"",
        "the reused connection gets no answer"
    );
    drop(s);
    // A new connection is a first request again.
    let mut t = connect(&sink);
    t.write_all(&post(&metrics_request(3, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_plain_ok(&read_response(&mut t));
    drop(t);
    assert!(sink.wait_for(WAIT, |st| st.connections_closed == 2));

    let stats = sink.stats();
    assert_eq!(stats.requests_per_connection, vec![2, 1]);
    assert_eq!(stats.requests_received, 3);
    assert_eq!(stats.requests_answered_2xx, 2);
    assert_eq!(stats.duplicate_requests, 0);
    let received = sink.received();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[1].request,
        Some(metrics_request(2, "/a")),
        "read in full"
    );
    assert_eq!(
        (received[1].status, received[1].acknowledged),
        (None, false)
    );
    assert!(received.iter().all(|r| r.fault == Fault::DropOnReuse));
    assert_eq!(
        sink.requests(),
        vec![metrics_request(1, "/a"), metrics_request(3, "/a")]
    );
}

#[test]
fn a_request_read_again_counts_as_a_duplicate() {
    let sink = Sink::start().unwrap();
    // The same body sent again: after an answer the client missed (here: on another
    // connection after the first closed unanswered) and once more after a success.
    sink.script([(Fault::CloseBeforeAnswer, 1)]);
    let body = metrics_request(5, "/a").encode_to_vec();
    let mut s = connect(&sink);
    s.write_all(&post(&body, "")).unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    let mut t = connect(&sink);
    for _ in 0..2 {
        t.write_all(&post(&body, "")).unwrap();
        assert_plain_ok(&read_response(&mut t));
    }
    // A different body is no duplicate; nor is a body the sink did not read in full.
    t.write_all(&post(&metrics_request(6, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_plain_ok(&read_response(&mut t));
    assert_eq!(sink.stats().duplicate_requests, 2);
    assert_eq!(sink.stats().requests_received, 4);
    assert_eq!(
        sink.requests().len(),
        3,
        "the sink acknowledged the repeat twice"
    );
}

#[test]
fn drop_on_reuse_parses_from_its_command_line_name() {
    assert_eq!("drop-on-reuse".parse::<Fault>(), Ok(Fault::DropOnReuse));
}

#[test]
fn close_mid_headers() {
    let sink = Sink::with_fault(Fault::CloseMidHeaders).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_eq!(
        read_to_eof(&mut s),
        b"HTTP/1.1 200 OK\r\nContent-Type: applic".to_vec()
    );
    assert!(sink.requests().is_empty());
}

#[test]
fn close_mid_body() {
    let sink = Sink::with_fault(Fault::CloseMidBody).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let got = read_to_eof(&mut s);
    let body = mid_body_fault_body();
    assert_eq!(body.len(), 16);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut want = head.into_bytes();
    want.extend_from_slice(&body[..5]);
    assert_eq!(got, want);
    assert!(sink.requests().is_empty());
}

#[test]
fn chunked_response_framing() {
    let sink = Sink::start().unwrap();
    sink.script([(Fault::Chunked, 1)]);
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body, chunked_fault_body());
    let decoded = ExportMetricsServiceResponse::decode(&r.body[..]).unwrap();
    let ps = decoded.partial_success.unwrap();
    assert_eq!(
        (ps.rejected_data_points, ps.error_message.as_str()),
        (0, "sent chunked")
    );
    // Exact framing: 4-byte chunks, the first with an extension, then the last chunk.
    let text = String::from_utf8_lossy(&r.raw).into_owned();
    let framing = text.split("\r\n\r\n").nth(1).unwrap();
    assert!(framing.starts_with("4;note=first\r\n"), "{framing:?}");
    assert!(r.raw.ends_with(b"\r\n0\r\n\r\n"));
    let chunks = text.matches("\r\n4\r\n").count() + 1;
    assert_eq!(chunks, r.body.len() / 4);
    // The connection stays usable after the script step.
    s.write_all(&post(&metrics_request(2, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_plain_ok(&read_response(&mut s));
    assert_eq!(sink.stats().requests_per_connection, vec![2]);
    assert_eq!(sink.stats().requests_answered_2xx, 2);
}

#[test]
fn trickle_sends_the_response_a_byte_at_a_time() {
    let sink = Sink::with_fault(Fault::Trickle {
        bytes_per_second: 500,
    })
    .unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    // Count reads with a large buffer: a trickled response cannot arrive in one piece.
    let want =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 4096];
    while got.len() < want.len() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert_eq!(got, want.to_vec());
    assert!(reads >= 2, "arrived in {reads} reads");
    assert!(sink.wait_for(WAIT, |st| st.requests_answered_2xx == 1));
}

#[test]
fn too_many_requests_with_retry_after_seconds() {
    let sink = Sink::start().unwrap();
    sink.script([(Fault::TooManyRequests(Some(RetryAfter::Seconds(7))), 1)]);
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 429);
    assert!(r.raw.starts_with(b"HTTP/1.1 429 Too Many Requests\r\n"));
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(RpcStatus::decode(&r.body[..]).unwrap().code, 8);
    // Keep-alive, and the script is used up: the retry succeeds on the same connection.
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_plain_ok(&read_response(&mut s));
    let received = sink.received();
    assert_eq!(received[0].status, Some(429));
    assert!(!received[0].acknowledged);
    assert_eq!(sink.requests().len(), 1);
}

#[test]
fn unavailable_with_retry_after_http_date() {
    let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(http_date(date), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
    let sink = Sink::with_fault(Fault::Unavailable(Some(RetryAfter::HttpDate(date)))).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert!(r.raw.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
    assert_eq!(
        r.header("retry-after"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(RpcStatus::decode(&r.body[..]).unwrap().code, 14);

    // Without Retry-After the header is absent.
    sink.set_fault(Fault::Unavailable(None));
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), None);

    // date_in is in the future and well-formed.
    let v = RetryAfter::date_in(60).header_value();
    assert!(v.ends_with(" GMT") && v.len() == 29, "{v}");
}

#[test]
fn error_statuses_carry_a_google_rpc_status_body() {
    let sink = Sink::start().unwrap();
    sink.script([
        (Fault::Status(400), 1),
        (Fault::Status(404), 1),
        (Fault::Status(500), 1),
    ]);
    let mut s = connect(&sink);
    for (status, code, line) in [
        (400, 3, "HTTP/1.1 400 Bad Request\r\n"),
        (404, 5, "HTTP/1.1 404 Not Found\r\n"),
        (500, 13, "HTTP/1.1 500 Internal Server Error\r\n"),
    ] {
        s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
            .unwrap();
        let r = read_response(&mut s);
        assert_eq!(r.status, status);
        assert!(r.raw.starts_with(line.as_bytes()));
        let st = RpcStatus::decode(&r.body[..]).unwrap();
        assert_eq!(st.code, code);
        assert_eq!(st.message, format!("sink fault: status {status}"));
    }
    assert_eq!(sink.stats().requests_answered_2xx, 0);
    assert_eq!(sink.stats().requests_per_connection, vec![3]);
}

#[test]
fn payload_too_large_is_answered_before_the_body() {
    let sink = Sink::with_fault(Fault::PayloadTooLargeEarly).unwrap();
    let mut s = connect(&sink);
    // Only the head: the sink must answer without waiting for the body.
    s.write_all(
        b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(RpcStatus::decode(&r.body[..]).unwrap().code, 8);
    // The body can still be written (the sink drains it) and then the connection ends.
    let _ = s.write_all(&vec![0u8; 100_000]);
    assert_eq!(read_to_eof(&mut s), b"");
    let received = sink.received();
    assert_eq!(received[0].status, Some(413));
    assert_eq!(received[0].body_len, 0);
    assert_eq!(received[0].request, None);
}

#[test]
fn partial_success_body() {
    let sink = Sink::with_fault(Fault::PartialSuccess {
        rejected: 5,
        message: "five points too old".into(),
    })
    .unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let ps = ExportMetricsServiceResponse::decode(&r.body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(ps.rejected_data_points, 5);
    assert_eq!(ps.error_message, "five points too old");
    assert_eq!(sink.stats().requests_answered_2xx, 1);
}

#[test]
fn html_502_page() {
    let sink = Sink::with_fault(Fault::Html502).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let r = read_response(&mut s);
    assert!(r.raw.starts_with(b"HTTP/1.1 502 Bad Gateway\r\n"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.body.starts_with(b"<html>"));
    assert!(sink.requests().is_empty());
}

#[test]
fn garbage_status_line() {
    let sink = Sink::with_fault(Fault::GarbageStatusLine).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_eq!(read_to_eof(&mut s), b"HTPT/1.1 2OO KO\r\n\r\n".to_vec());
}

#[test]
fn endless_headers_stop_at_the_limit() {
    let sink = Sink::start_with(SinkOptions {
        fault: Fault::EndlessHeaders,
        endless_header_limit: 200_000,
        ..SinkOptions::default()
    })
    .unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let got = read_to_eof(&mut s);
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\nX-Endless-0: aaaa"));
    assert!(got.len() >= 200_000 && got.len() < 201_000, "{}", got.len());
    assert!(
        !got.windows(4).any(|w| w == b"\r\n\r\n"),
        "the header block never ends"
    );
    assert!(sink.requests().is_empty());
}

#[test]
fn endless_headers_stop_when_the_client_leaves() {
    let sink = Sink::with_fault(Fault::EndlessHeaders).unwrap(); // 4 MiB limit
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let mut buf = [0u8; 1024];
    s.read_exact(&mut buf).unwrap();
    drop(s);
    assert!(sink.wait_for(WAIT, |st| st.connections_closed == 1));
}

#[test]
fn reset_sends_rst() {
    let sink = Sink::with_fault(Fault::Reset).unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    let mut buf = [0u8; 64];
    let err = s.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(sink.received()[0].request, Some(metrics_request(1, "/a")));
}

#[test]
fn script_steps_run_in_order_then_the_fault_returns() {
    let sink = Sink::start().unwrap();
    sink.set_fault(Fault::Status(404));
    sink.script([(Fault::Status(500), 2), (Fault::None, 1)]);
    let mut s = connect(&sink);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
            .unwrap();
        statuses.push(read_response(&mut s).status);
    }
    assert_eq!(statuses, vec![500, 500, 200, 404]);
    let faults: Vec<Fault> = sink.received().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        vec![
            Fault::Status(500),
            Fault::Status(500),
            Fault::None,
            Fault::Status(404)
        ]
    );
}

#[test]
fn stop_accepting_refuses_new_connections_and_serves_open_ones() {
    let sink = Sink::start().unwrap();
    let mut s = connect(&sink);
    assert!(sink.wait_for(WAIT, |st| st.connections_accepted == 1));
    sink.stop_accepting();
    let err = TcpStream::connect(sink.addr()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_plain_ok(&read_response(&mut s));
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let sink = Sink::start_with(SinkOptions {
        max_connections: 1,
        ..SinkOptions::default()
    })
    .unwrap();
    let first = connect(&sink);
    assert!(sink.wait_for(WAIT, |st| st.connections_accepted == 1));
    let mut second = connect(&sink); // completes in the kernel's backlog
    second
        .write_all(&post(&metrics_request(2, "/b").encode_to_vec(), ""))
        .unwrap();
    assert!(!sink.wait_for(Duration::from_millis(300), |st| st.connections_accepted > 1));
    drop(first);
    assert_plain_ok(&read_response(&mut second));
    let stats = sink.stats();
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(stats.requests_per_connection, vec![0, 1]);
}

#[test]
fn dropping_the_sink_closes_its_connections() {
    let sink = Sink::start().unwrap();
    let mut s = connect(&sink);
    s.write_all(&post(&metrics_request(1, "/a").encode_to_vec(), ""))
        .unwrap();
    assert_plain_ok(&read_response(&mut s));
    let addr = sink.addr();
    drop(sink);
    // The idle connection ends and the port no longer listens.
    assert_eq!(read_to_eof(&mut s), b"");
    assert_eq!(
        TcpStream::connect(addr).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn endpoint_urls() {
    let sink = Sink::start().unwrap();
    let port = sink.addr().port();
    assert_eq!(
        sink.endpoint_url(),
        format!("http://127.0.0.1:{port}/v1/metrics")
    );
    assert_eq!(sink.base_url(), format!("http://127.0.0.1:{port}"));
    assert!(sink.addr().ip().is_loopback());
}

#[test]
fn faults_parse_from_their_command_line_form() {
    let cases = [
        ("none", Fault::None),
        (
            "idle-close=250",
            Fault::IdleClose(Duration::from_millis(250)),
        ),
        ("answer-then-close", Fault::AnswerThenClose),
        ("close-before-answer", Fault::CloseBeforeAnswer),
        ("close-mid-headers", Fault::CloseMidHeaders),
        ("close-mid-body", Fault::CloseMidBody),
        ("chunked", Fault::Chunked),
        (
            "trickle=10",
            Fault::Trickle {
                bytes_per_second: 10,
            },
        ),
        ("429", Fault::TooManyRequests(None)),
        (
            "429=3",
            Fault::TooManyRequests(Some(RetryAfter::Seconds(3))),
        ),
        ("503=9", Fault::Unavailable(Some(RetryAfter::Seconds(9)))),
        ("status=404", Fault::Status(404)),
        ("413-early", Fault::PayloadTooLargeEarly),
        (
            "partial=4:too old",
            Fault::PartialSuccess {
                rejected: 4,
                message: "too old".into(),
            },
        ),
        ("html502", Fault::Html502),
        ("garbage", Fault::GarbageStatusLine),
        ("endless-headers", Fault::EndlessHeaders),
        ("reset", Fault::Reset),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Fault>(), Ok(want), "{text}");
    }
    match "503-date=60".parse::<Fault>() {
        Ok(Fault::Unavailable(Some(RetryAfter::HttpDate(t)))) => {
            assert!(t > std::time::SystemTime::now())
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        "",
        "teapot",
        "idle-close",
        "idle-close=x",
        "status=42",
        "partial=x",
        "trickle=-1",
    ] {
        assert!(bad.parse::<Fault>().is_err(), "{bad:?}");
    }
}

/// The crate's three parts together: configuration from variables pointing at the sink,
/// a TcpConnector connection carrying a request with the configured headers, an explicit
/// graceful close that the sink sees as a closed connection.
#[test]
fn config_and_tcp_connector_against_the_sink() {
    use embedded_io::{Read as _, Write as _};
    use otlp_embedded::time::Clock;
    use otlp_embedded::transport::{CloseMode, Connect, Connection};
    use otlp_embedded_std::{Config, StdClock, TcpConnector};

    let sink = Sink::start().unwrap();
    let base = sink.base_url();
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(format!("{base}/")),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-api-key=s3cr%3Dt".into()),
        _ => None,
    })
    .unwrap();
    let endpoint = config.endpoint();
    assert_eq!(endpoint.path, "/v1/metrics");

    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let deadline = clock.now().add_millis(10_000);
    let mut conn = connector.connect(&endpoint, deadline).unwrap();
    conn.set_deadline(deadline);
    let body = metrics_request(9, "/cfg").encode_to_vec();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n",
        endpoint.path,
        endpoint.host,
        endpoint.port,
        body.len()
    );
    for h in config.headers() {
        head.push_str(&format!("{}: {}\r\n", h.name, h.value));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body).unwrap();
    let want =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
    let mut got = vec![0u8; want.len()];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(got, want.to_vec());
    conn.close(CloseMode::Graceful).unwrap();

    assert!(sink.wait_for(WAIT, |st| st.connections_closed == 1));
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("x-api-key"), Some("s3cr=t"));
    assert_eq!(received[0].request, Some(metrics_request(9, "/cfg")));
    assert_eq!(sink.stats().requests_answered_2xx, 1);
}
