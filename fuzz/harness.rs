//! Fuzz harness shared by the cargo-fuzz targets and by the corpus replay test
//! (`tests/tests/http_fuzz_corpus.rs`, which includes this file by path), so that a plain
//! `cargo test` on stable runs every corpus file through exactly what the fuzzer runs.
//!
//! Every function panics when an invariant breaks; that is what the fuzzer looks for.
#![allow(dead_code)]

use otlp_embedded::http::{Progress, ReaderConfig, ResponseEnd, ResponseReader};
use otlp_embedded::proto::response::{
    decode_body, decode_export_response, decode_export_response_prefix, decode_status,
    ReceivedBody, ResponseBody,
};
use otlp_embedded::transport::{ExchangeError, HttpResponse};

/// What one run of the reader produced, compared across chunkings.
#[derive(Debug, PartialEq)]
pub enum ReaderOutcome {
    /// A finished response, with the kept body.
    Done(HttpResponse, ResponseEnd, Vec<u8>, usize),
    /// The error.
    Failed(ExchangeError),
}

/// Reader limits and buffers from two control bytes, the response from the rest.
fn reader_setup(data: &[u8]) -> (usize, usize, ReaderConfig, u64, &[u8]) {
    let (control, response) = if data.len() >= 2 {
        data.split_at(2)
    } else {
        (&[0u8, 0][..], data)
    };
    let (a, b) = (control[0], control[1]);
    let head = 24 + usize::from(b & 0x0f) * 64;
    let body = usize::from(b >> 4) * 8;
    let config = ReaderConfig::new()
        .with_drain_cap(usize::from(a & 0x07) * 64)
        .with_max_chunk_line(8 + usize::from(a >> 3) * 8);
    (
        head,
        body,
        config,
        u64::from(a) << 8 | u64::from(b),
        response,
    )
}

/// Feed `response` in chunks whose sizes come from `next_chunk`, then end the stream.
/// `direct` reads into `recv_buf` instead of using `feed`, as the drivers do.
fn run_reader(
    response: &[u8],
    head_len: usize,
    body_len: usize,
    config: ReaderConfig,
    direct: bool,
    mut next_chunk: impl FnMut() -> usize,
) -> ReaderOutcome {
    let mut head = vec![0u8; head_len];
    let mut body = vec![0u8; body_len];
    let mut reader = ResponseReader::new(&mut head, &mut body, config);
    let mut pos = 0usize;
    let mut result: Result<Progress, ExchangeError> = Ok(Progress::NeedMore);
    while pos < response.len() && !reader.is_finished() {
        let n = next_chunk().max(1).min(response.len() - pos);
        let chunk = &response[pos..pos + n];
        if direct {
            let buf = reader.recv_buf();
            assert!(
                !buf.is_empty(),
                "an unfinished reader offers room to read into"
            );
            let k = buf.len().min(chunk.len());
            buf[..k].copy_from_slice(&chunk[..k]);
            pos += k;
            result = reader.received(k);
        } else {
            result = reader.feed(chunk).map(|(used, progress)| {
                assert!(used <= chunk.len(), "feed took more than it was given");
                if progress == Progress::NeedMore {
                    assert_eq!(used, chunk.len(), "feed stops early only when done");
                }
                progress
            });
            pos += n;
        }
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() && !reader.is_finished() {
        result = reader.eof();
        assert!(
            reader.is_finished(),
            "end of stream always finishes the reader"
        );
    }
    assert!(
        reader.bytes_received() <= response.len(),
        "consumed more than received"
    );
    match result {
        Err(e) => {
            assert!(reader.response().is_none(), "no response after an error");
            // The error is sticky.
            assert_eq!(reader.eof(), Err(e));
            assert_eq!(reader.received(0), Err(e));
            ReaderOutcome::Failed(e)
        }
        Ok(Progress::NeedMore) => panic!("finished reader reported NeedMore"),
        Ok(Progress::Done(end)) => {
            let r = reader.response().expect("a done reader has a response");
            assert!(r.body_len <= body_len, "body_len within the buffer");
            assert!((200..=999).contains(&r.status), "final status {}", r.status);
            assert_eq!(r.bytes_sent, 0);
            assert_eq!(r.bytes_received, reader.bytes_received());
            let drained = reader.drained();
            assert_eq!(r.body_truncated, drained > 0);
            if r.body_truncated {
                assert_eq!(
                    r.body_len, body_len,
                    "nothing is drained while there is room"
                );
            }
            if end == ResponseEnd::DrainCapReached {
                assert!(drained > config.drain_cap);
            } else {
                assert!(drained <= config.drain_cap);
            }
            let kept = body[..r.body_len].to_vec();
            ReaderOutcome::Done(r, end, kept, drained)
        }
    }
}

/// The response reader fed the same bytes three ways (at once, in pseudo-random chunks
/// through `recv_buf`, one byte at a time through `feed`) must give the same outcome, and
/// every outcome must satisfy the reader's invariants. Returns the whole-input outcome.
pub fn response_reader(data: &[u8]) -> ReaderOutcome {
    let (head, body, config, seed, response) = reader_setup(data);
    let whole = run_reader(response, head, body, config, true, || usize::MAX);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let chunked = run_reader(response, head, body, config, true, || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 23) as usize + 1
    });
    let bytes = run_reader(response, head, body, config, false, || 1);
    assert_eq!(whole, chunked, "outcome depends on chunking");
    assert_eq!(whole, bytes, "outcome depends on feed vs recv_buf");
    whole
}

/// Whether `s` is empty or lies inside `data` (decoders borrow, never copy).
fn borrowed_from(s: &str, data: &[u8]) -> bool {
    let start = data.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    s.is_empty() || (p >= start && p + s.len() <= start + data.len())
}

/// What the body decoders made of one input, for the replay test to tally.
#[derive(Debug, Default, Clone, Copy)]
pub struct BodySummary {
    /// `decode_export_response` succeeded.
    pub export_ok: bool,
    /// `decode_status` succeeded.
    pub status_ok: bool,
}

/// Both decoders and the body helper on arbitrary bytes: no panic, strings borrowed from
/// the input, lossy flags honest, and the helper agreeing with the decoders.
pub fn response_body(data: &[u8]) -> BodySummary {
    let export = decode_export_response(data);
    let status = decode_status(data);
    if let Ok(e) = &export {
        if let Some(p) = e.partial_success {
            assert!(borrowed_from(p.error_message, data));
        }
    }
    if let Ok(s) = &status {
        assert!(borrowed_from(s.message, data));
    }
    for (code, protobuf, truncated) in [
        (200u16, true, false),
        (206, true, false),
        (400, true, false),
        (503, true, false),
        (200, false, false),
        (200, true, true),
    ] {
        let decoded = decode_body(&ReceivedBody {
            status: code,
            is_protobuf: protobuf,
            bytes: data,
            truncated,
        });
        let success = (200..300).contains(&code);
        match decoded {
            ResponseBody::Success => assert!(success),
            ResponseBody::PartialSuccess(p) => {
                assert!(success && protobuf);
                if truncated {
                    // What arrived of a cut-off body, decoded leniently.
                    assert_eq!(decode_export_response_prefix(data).partial_success, Some(p));
                } else {
                    assert_eq!(export.ok().and_then(|e| e.partial_success), Some(p));
                }
            }
            ResponseBody::Status(s) => {
                assert!(!success && protobuf && !truncated);
                assert_eq!(status.ok(), Some(s));
            }
            ResponseBody::NotDecoded => assert!(!protobuf || (!success && data.is_empty())),
            ResponseBody::Truncated => assert!(truncated && protobuf),
            ResponseBody::Invalid(e) => {
                assert!(protobuf && !truncated);
                let expected = if success { export.err() } else { status.err() };
                assert_eq!(expected, Some(e));
            }
        }
    }
    BodySummary {
        export_ok: export.is_ok(),
        status_ok: status.is_ok(),
    }
}
