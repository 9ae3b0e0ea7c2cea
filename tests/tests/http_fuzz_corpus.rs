//! Replays the fuzz corpus (fuzz/corpus/<target>/) through the fuzz harness on stable, so
//! every seed and every crash the fuzzer ever found stays a regression test. The harness
//! asserts the invariants; this test also checks what the seeds cover, and compares the
//! body decoders with the reference decoder (prost) where both accept the bytes.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::PathBuf;

use harness::ReaderOutcome;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use otlp_embedded::proto::response::decode_export_response;
use otlp_embedded::transport::ExchangeError;
use prost::Message;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn response_reader_corpus() {
    let files = corpus("response_reader");
    assert!(files.len() >= 24, "{} seeds", files.len());
    let mut done = 0;
    let mut failed = 0;
    let mut outcome_of = std::collections::HashMap::new();
    for (name, data) in &files {
        let outcome = harness::response_reader(data);
        match &outcome {
            ReaderOutcome::Done(..) => done += 1,
            ReaderOutcome::Failed(_) => failed += 1,
        }
        outcome_of.insert(name.clone(), outcome);
    }
    assert!(done >= 10 && failed >= 10, "done {done}, failed {failed}");
    // Spot checks that the seeds mean what their names say.
    let status = |name: &str| match &outcome_of[name] {
        ReaderOutcome::Done(r, _, body, _) => (r.status, body.clone()),
        other => panic!("{name}: {other:?}"),
    };
    let error = |name: &str| match &outcome_of[name] {
        ReaderOutcome::Failed(e) => *e,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(status("chunked_ext_trailers"), (200, b"hello".to_vec()));
    assert_eq!(status("interim_100_103"), (202, b"ok".to_vec()));
    assert_eq!(status("close_delimited"), (200, b"until the end".to_vec()));
    assert_eq!(error("switching_101"), ExchangeError::SwitchingProtocols);
    assert_eq!(
        error("te_and_cl"),
        ExchangeError::TransferEncodingWithContentLength
    );
    assert_eq!(error("cl_duplicate"), ExchangeError::DuplicateContentLength);
    assert_eq!(
        error("cl_conflict"),
        ExchangeError::ConflictingContentLength
    );
    assert_eq!(
        error("truncated_head"),
        ExchangeError::ClosedEarly(otlp_embedded::transport::Stage::Headers)
    );
    assert_eq!(error("partial_status"), ExchangeError::ClosedBeforeResponse);
    // RFC 9112 framing: a coding list not ending in chunked runs to the close; chunked
    // last is read as chunks; HTTP/1.0 with Transfer-Encoding is faulty; a folded field
    // reads as one line.
    assert_eq!(status("te_gzip_to_close"), (200, b"to the close".to_vec()));
    assert_eq!(status("te_gzip"), (200, Vec::new()));
    assert_eq!(error("te_http10"), ExchangeError::TransferEncodingInHttp10);
    assert_eq!(status("obs_fold"), (503, b"ok".to_vec()));
    match &outcome_of["obs_fold"] {
        ReaderOutcome::Done(r, ..) => assert_eq!(
            r.retry_after,
            Some(otlp_embedded::transport::RetryAfter::UnixSeconds(
                784_111_777
            ))
        ),
        other => panic!("obs_fold: {other:?}"),
    }
}

#[test]
fn response_body_corpus() {
    let files = corpus("response_body");
    assert!(files.len() >= 24, "{} seeds", files.len());
    let (mut ok, mut err, mut compared) = (0, 0, 0);
    for (name, data) in &files {
        let summary = harness::response_body(data);
        if summary.export_ok {
            ok += 1;
        } else {
            err += 1;
        }
        // Where both decoders accept the bytes and the text is valid UTF-8, they agree.
        if let (Ok(ours), Ok(theirs)) = (
            decode_export_response(data),
            ExportMetricsServiceResponse::decode(&data[..]),
        ) {
            let ours = ours.partial_success;
            let theirs = theirs.partial_success;
            assert_eq!(ours.is_some(), theirs.is_some(), "{name}");
            if let (Some(o), Some(t)) = (ours, theirs) {
                assert_eq!(o.rejected_data_points, t.rejected_data_points, "{name}");
                assert_eq!(o.error_message, t.error_message, "{name}");
                compared += 1;
            }
        }
    }
    assert!(
        ok >= 8 && err >= 8 && compared >= 6,
        "ok {ok}, err {err}, compared {compared}"
    );
}
