//! `PeriodicExporter::from_config` with an `https` endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`
//! sends over TLS with no code of the caller's: the trusted CA comes from
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, and the sink in TLS mode decodes what arrived.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use otlp_embedded::export::ExportOutcome;
use otlp_embedded::proto::Temporality;
use otlp_embedded::registry::{InstrumentDesc, Snapshot};
use otlp_embedded::transport::Scheme;
use otlp_embedded_std::config::Config;
use otlp_embedded_std::periodic::StartError;
use otlp_embedded_std::tls::{TlsConfigError, TlsFile};
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
use otlp_embedded_test_kit::sink::{Sink, SinkOptions};
use otlp_embedded_test_kit::test_pki::TestPki;

type Reg = SharedRegistry<2, 8, 34, 2, 32>;
type Snap = Snapshot<2, 8, 34, 2, 32>;

/// A PEM file removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "otlp-embedded-periodic-tls-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn config(vars: &[(&str, String)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config")
}

#[test]
fn periodic_exporter_from_config_sends_to_an_https_endpoint() {
    let pki = TestPki::generate();
    let sink = Sink::start_with(SinkOptions {
        tls: Some(pki.sink_tls()),
        ..SinkOptions::default()
    })
    .expect("sink");
    let ca = TempFile::new("ca.pem", &pki.ca.cert_pem);
    let config = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.base_url()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            ca.0.to_string_lossy().into_owned(),
        ),
        // Exports only when forced and at shutdown.
        ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".into()),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "10000".into()),
    ]);
    assert_eq!(config.endpoint.scheme, Scheme::Https);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let registry = Arc::new(Reg::new(1));
    let requests = registry
        .declare(
            InstrumentDesc::counter_u64("tls.requests")
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    registry.record(requests, 7u64, &[]).unwrap();
    let exporter = PeriodicExporter::from_config(
        &config,
        "periodic-tls",
        registry.producer(),
        Box::new(Snap::new()),
    )
    .expect("exporter starts");
    let report = exporter
        .force_export(Duration::from_secs(20))
        .expect("the forced export finished");
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!((report.points_sent, report.requests), (1, 1), "{report:?}");

    registry.record(requests, 5u64, &[]).unwrap();
    let stats = exporter.shutdown();
    assert_eq!(stats.exports_failed, 0, "{stats:?}");
    assert_eq!(stats.points_sent, 2, "{stats:?}");

    let total = sink
        .total("tls.requests", &[])
        .expect("the sink decoded it");
    assert_eq!((total.points, total.value_sum), (2, 12.0));
    let stats = sink.stats();
    assert_eq!(stats.requests_received, 2);
    let tls = sink.tls_stats();
    assert_eq!((tls.handshakes, tls.handshake_failures), (2, 0), "{tls:?}");
}

#[test]
fn an_unreadable_ca_file_is_a_start_error() {
    let missing = std::env::temp_dir().join(format!(
        "otlp-embedded-periodic-tls-{}-missing.pem",
        std::process::id()
    ));
    let config = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:9".into()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            missing.to_string_lossy().into_owned(),
        ),
    ]);
    let registry = Arc::new(Reg::new(1));
    let result = PeriodicExporter::from_config(
        &config,
        "periodic-tls",
        registry.producer(),
        Box::new(Snap::new()),
    );
    match result {
        Err(StartError::Tls(e)) => assert_eq!(
            e,
            TlsConfigError::Read(TlsFile::CaCertificate, std::io::ErrorKind::NotFound)
        ),
        other => panic!("expected a TLS configuration error, got {other:?}"),
    }
}
