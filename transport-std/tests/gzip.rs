//! `GzipExchange`: what reaches the wrapped exchange is a gzip member that decodes to the
//! original body, with `Content-Encoding: gzip`; the buffer is reused across requests.

use std::io::Read;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{Endpoint, Exchange, ExchangeError, HttpRequest, HttpResponse};
use otlp_embedded_std::GzipExchange;

/// Keeps what it was asked to send and answers 200.
#[derive(Default)]
struct Capture {
    bodies: Vec<Vec<u8>>,
    encodings: Vec<Option<String>>,
}

impl Exchange for Capture {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        _response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.bodies.push(request.body.to_vec());
        self.encodings
            .push(request.content_encoding.map(str::to_string));
        Ok(HttpResponse::new(200).with_bytes(request.body.len(), 0))
    }
}

fn send(exchange: &mut impl Exchange, body: &[u8], encoding: Option<&str>) -> HttpResponse {
    let endpoint = Endpoint::DEFAULT;
    let request = HttpRequest::new(&endpoint, body, Instant(1_000)).with_content_encoding(encoding);
    exchange.exchange(&request, &mut [0u8; 16]).unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Deterministic bytes that deflate cannot shrink (xorshift output).
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn bodies_round_trip_through_gzip() {
    let mut gzip = GzipExchange::new(Capture::default());
    let text: Vec<u8> = (0..50_000u32)
        .flat_map(|i| (i % 97).to_le_bytes())
        .collect();
    let bodies = [Vec::new(), b"x".to_vec(), text, noise(200_000)];
    for body in &bodies {
        send(&mut gzip, body, None);
        assert_eq!(
            gzip.last_compressed_len(),
            gzip.inner().bodies.last().unwrap().len()
        );
    }
    let capture = gzip.into_inner();
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(capture.encodings[i].as_deref(), Some("gzip"));
        assert_eq!(&gunzip(&capture.bodies[i]), body, "body {i}");
    }
    // Repetitive input shrinks; noise grows by at most the framing.
    assert!(capture.bodies[2].len() < bodies[2].len() / 10);
    assert!(capture.bodies[3].len() <= bodies[3].len() + 200);
}

#[test]
fn reserved_buffer_does_not_grow() {
    let mut gzip = GzipExchange::new(Capture::default());
    gzip.reserve(64 * 1024);
    let before = gzip.capacity();
    assert!(before >= 64 * 1024);
    let body = noise(64 * 1024);
    for _ in 0..3 {
        send(&mut gzip, &body, None);
    }
    // Unchanged after three incompressible requests: no allocation per request.
    assert_eq!(gzip.capacity(), before);
    for sent in &gzip.inner().bodies {
        assert_eq!(gunzip(sent), body);
    }
}

#[test]
fn an_already_encoded_body_is_not_compressed_twice() {
    let mut gzip = GzipExchange::new(Capture::default());
    send(&mut gzip, b"already", Some("br"));
    let capture = gzip.into_inner();
    assert_eq!(capture.bodies[0], b"already");
    assert_eq!(capture.encodings[0].as_deref(), Some("br"));
}
