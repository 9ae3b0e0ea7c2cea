//! The whole chain over TLS, on loopback: Registry -> Exporter -> core's HttpClient ->
//! a TLS connector over the real `TcpConnector` of otlp-embedded-std -> the OTLP sink in TLS
//! mode (the test kit's feature `tls`), with its rcgen test PKI.
//!
//! Two TLS clients: the rustls one of otlp-embedded-std (`tls::TlsConnector`) and the
//! no-heap firmware one of otlp-embedded-tls (embedded-tls). Each success decodes what the
//! sink acknowledged and compares the totals with what was recorded; each certificate
//! failure is asserted as the exact error the exporter reports, with exactly one attempt
//! (certificate failures are not retried) and the points kept for the next export. Every
//! connection carries one request, is closed, and the sink reads the client's close_notify.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otlp_embedded::export::{
    ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExportStats, Exporter,
    ExporterConfig, RetryPolicy,
};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::transport::{
    Connect, Endpoint, ExchangeError, Scheme, TlsFailure, TransportError,
};
use otlp_embedded_std::{StdClock, TcpConnector};
use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions, SinkTls, TlsStats};
use otlp_embedded_test_kit::test_pki::{TestPki, SERVER_NOT_AFTER_UNIX};

type Reg = Registry<4, 32, 34, 8, 256>;
type Snap = Snapshot<4, 32, 34, 8, 256>;

/// Points in [`recorded`]: two counter series and one gauge.
const POINTS: usize = 3;

const RESOURCE: [KeyValue<'static>; 1] = [KeyValue::new(
    "service.name",
    AttributeValue::Str("tls-export-test"),
)];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(&RESOURCE),
        Scope::new("tls-export").with_version("1"),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A registry with route=a: 3 + 4, route=b: 5 (delta counter) and a gauge at -12.
fn recorded() -> Reg {
    let mut registry = Reg::new(unix_now());
    let requests = registry
        .declare(
            InstrumentDesc::counter_u64("tls.export.requests")
                .attributes(&["route"])
                .temporality(Temporality::Delta),
        )
        .expect("declare counter");
    let a = [KeyValue::new("route", AttributeValue::Str("a"))];
    let b = [KeyValue::new("route", AttributeValue::Str("b"))];
    registry.record(requests, 3u64, &a).expect("record");
    registry.record(requests, 4u64, &a).expect("record");
    registry.record(requests, 5u64, &b).expect("record");
    let gauge = registry
        .declare(InstrumentDesc::gauge_i64("tls.export.temperature"))
        .expect("declare gauge");
    registry.record(gauge, -12i64, &[]).expect("record");
    registry
}

/// The sink acknowledged exactly what [`recorded`] holds, once.
fn assert_totals(sink: &Sink) {
    let totals = sink.totals();
    assert_eq!(totals.len(), 3, "series: {totals:?}");
    let a = sink
        .total("tls.export.requests", &[("route", "a")])
        .expect("route a");
    assert_eq!((a.points, a.value_sum), (1, 7.0));
    let b = sink
        .total("tls.export.requests", &[("route", "b")])
        .expect("route b");
    assert_eq!((b.points, b.value_sum), (1, 5.0));
    let g = sink
        .total("tls.export.temperature", &[])
        .expect("temperature");
    assert_eq!((g.points, g.last_value), (1, -12.0));
}

fn tls_sink(tls: SinkTls) -> Sink {
    Sink::start_with(SinkOptions {
        tls: Some(tls),
        ..SinkOptions::default()
    })
    .expect("start TLS sink")
}

/// One export of `registry` through `connector` to `https://host:port/v1/metrics`, with
/// short retry delays and real sleeps.
fn export<C: Connect>(
    connector: C,
    host: &str,
    port: u16,
    registry: &mut Reg,
) -> (ExportReport, ExportStats) {
    let (report, stats, ()) = export_then(connector, host, port, registry, |_| ());
    (report, stats)
}

/// As [`export`], then `after` looks at the connector.
fn export_then<C: Connect, T>(
    connector: C,
    host: &str,
    port: u16,
    registry: &mut Reg,
    after: impl FnOnce(&C) -> T,
) -> (ExportReport, ExportStats, T) {
    let clock = StdClock::new();
    let endpoint = Endpoint {
        scheme: Scheme::Https,
        host,
        port,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header());
    config.export_timeout_ms = 15_000;
    config.request_timeout_ms = 5_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(20)
        .with_max_delay_ms(100)
        .with_max_attempts(0);
    let client: HttpClient<C, StdClock> = HttpClient::new(connector, clock);
    let mut exporter = Exporter::new(config, client);
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 4096];
    let report = exporter.export(
        registry,
        &mut *snapshot,
        &mut buffer,
        &clock,
        unix_now(),
        otlp_embedded_std::Sleep,
    );
    let seen = after(exporter.exchange().connector());
    (report, *exporter.stats(), seen)
}

/// Every connection is closed, carried `requests_per_connection`, completed its handshake
/// and ended with the client's close_notify.
fn assert_clean_connections(sink: &Sink, requests_per_connection: &[u64]) {
    let n = requests_per_connection.len() as u64;
    assert!(
        sink.wait_for(Duration::from_secs(5), |s| s.connections_accepted == n
            && s.connections_closed == n),
        "connections: {:?}",
        sink.stats()
    );
    assert_eq!(
        sink.stats().requests_per_connection,
        requests_per_connection
    );
    let tls = sink.tls_stats();
    assert_eq!(
        (
            tls.handshakes,
            tls.handshake_failures,
            tls.close_notify_received
        ),
        (n, 0, n),
        "{tls:?}"
    );
}

fn assert_delivered(report: &ExportReport, retries: u32) {
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!(report.points_collected, POINTS);
    assert_eq!(report.points_sent, POINTS);
    assert_eq!((report.requests, report.requests_delivered), (1, 1));
    assert_eq!(report.retries, retries);
}

/// The export failed on its first and only attempt with `error`; nothing was sent, the
/// points are kept for the next export, and the sink saw one connection whose handshake
/// failed (and no request).
fn assert_refused(sink: &Sink, report: &ExportReport, error: ExchangeError) -> TlsStats {
    let expected = Some(ExportError {
        request: 0,
        kind: ExportErrorKind::Exchange(error),
    });
    assert!(!error.is_transient());
    assert_eq!(report.outcome, ExportOutcome::Failed, "{report:?}");
    assert_eq!(report.first_error, expected, "{report:?}");
    assert_eq!(report.last_error, expected, "{report:?}");
    assert_eq!(report.retries, 0, "a certificate failure was retried");
    assert_eq!(report.requests, 1);
    assert_eq!(report.points_sent, 0);
    assert_eq!(report.points_dropped, 0);
    assert_eq!(report.points_abandoned, POINTS);
    assert!(
        sink.wait_for(Duration::from_secs(5), |s| s.connections_accepted == 1
            && s.connections_closed == 1),
        "{:?}",
        sink.stats()
    );
    let stats = sink.stats();
    assert_eq!(stats.connections_accepted, 1, "exactly one attempt");
    assert_eq!(stats.requests_received, 0);
    assert!(sink.requests().is_empty());
    let tls = sink.tls_stats();
    assert_eq!((tls.handshakes, tls.handshake_failures), (0, 1), "{tls:?}");
    tls
}

fn connect_tls(failure: TlsFailure) -> ExchangeError {
    ExchangeError::Connect(TransportError::Tls(failure))
}

mod rustls_client {
    use super::*;
    use otlp_embedded_std::tls::{TlsConnector, TlsOptions};
    use rustls::ClientConfig;

    /// A rustls client configuration trusting `ca_pem`, with the test client certificate
    /// when `client` is set. The PEM files live only while the configuration is built.
    fn client_config(tag: &str, pki: &TestPki, ca_pem: &str, client: bool) -> Arc<ClientConfig> {
        let dir =
            std::env::temp_dir().join(format!("otlp-tls-export-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let write = |name: &str, pem: &str| -> PathBuf {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write pem");
            path
        };
        let options = TlsOptions {
            ca_certificate: Some(write("ca.pem", ca_pem)),
            client_certificate: client.then(|| write("client.pem", &pki.client.cert_pem)),
            client_key: client.then(|| write("client.key", &pki.client.key_pem)),
        };
        let config = options.client_config();
        let _ = std::fs::remove_dir_all(&dir);
        config.expect("client config")
    }

    fn connector(config: Arc<ClientConfig>) -> TlsConnector<TcpConnector> {
        TlsConnector::new(TcpConnector::new(StdClock::new()), config)
    }

    #[test]
    fn right_ca_delivers_what_was_recorded() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        let mut registry = recorded();
        let config = client_config("ok", &pki, &pki.ca.cert_pem, false);
        let (report, stats) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        assert_delivered(&report, 0);
        assert_eq!(stats.exports_ok, 1);
        assert_totals(&sink);
        assert_clean_connections(&sink, &[1]);
        let received = sink.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].header("connection"), Some("close"));
        assert_eq!(received[0].path, "/v1/metrics");
    }

    /// The host name `localhost` (a DNS name in the certificate) works as well as the
    /// address; the std connector resolves it.
    #[test]
    fn dns_name_localhost_delivers() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        let mut registry = recorded();
        let config = client_config("dns", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "localhost",
            sink.addr().port(),
            &mut registry,
        );
        assert_delivered(&report, 0);
        assert_totals(&sink);
    }

    #[test]
    fn wrong_ca_is_unknown_issuer_once_and_points_are_kept() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        let mut registry = recorded();
        let config = client_config("wrongca", &pki, &pki.other_ca.cert_pem, false);
        let (report, stats) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        let tls = assert_refused(&sink, &report, connect_tls(TlsFailure::UnknownIssuer));
        assert_eq!(stats.exports_failed, 1);
        // The client told the server why before closing.
        assert!(
            tls.handshake_errors[0].contains("UnknownCA"),
            "{:?}",
            tls.handshake_errors
        );
        // Nothing was lost: with the right CA the next export carries all of it.
        let config = client_config("wrongca-then-right", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        assert_delivered(&report, 0);
        assert_totals(&sink);
    }

    #[test]
    fn wrong_host_name_is_a_mismatch_once() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls_wrong_name());
        let mut registry = recorded();
        let config = client_config("name", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        assert_refused(&sink, &report, connect_tls(TlsFailure::HostNameMismatch));
    }

    #[test]
    fn expired_certificate_is_expired_once() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls_expired());
        let mut registry = recorded();
        let config = client_config("expired", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        let tls = assert_refused(&sink, &report, connect_tls(TlsFailure::Expired));
        assert!(
            tls.handshake_errors[0].contains("CertificateExpired"),
            "{:?}",
            tls.handshake_errors
        );
    }

    /// TLS 1.3: the client finishes its handshake before the server judges the (missing)
    /// certificate, so the server's `certificate_required` alert is what the request
    /// exchange runs into.
    #[test]
    fn missing_client_certificate_is_reported_once() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls_mutual());
        let mut registry = recorded();
        let config = client_config("nocert", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        let error = match report.first_error.map(|e| e.kind) {
            Some(ExportErrorKind::Exchange(e)) => e,
            other => panic!("not an exchange error: {other:?}"),
        };
        let failure = TransportError::Tls(TlsFailure::ClientCertificateRequired);
        assert!(
            error == ExchangeError::Write(failure) || error == ExchangeError::Read(failure),
            "{error:?}"
        );
        let tls = assert_refused(&sink, &report, error);
        assert!(
            tls.handshake_errors[0].contains("no certificates"),
            "{:?}",
            tls.handshake_errors
        );
    }

    #[test]
    fn mutual_tls_with_client_certificate_delivers() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls_mutual());
        let mut registry = recorded();
        let config = client_config("mtls", &pki, &pki.ca.cert_pem, true);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        assert_delivered(&report, 0);
        assert_totals(&sink);
        assert_clean_connections(&sink, &[1]);
    }

    /// A fault through TLS: 503 once, then OK. The retry opens a new connection.
    #[test]
    fn unavailable_once_then_delivered() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        sink.script([(Fault::Unavailable(None), 1)]);
        let mut registry = recorded();
        let config = client_config("503", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        assert_delivered(&report, 1);
        assert_eq!(
            report.first_error,
            Some(ExportError {
                request: 0,
                kind: ExportErrorKind::Status(503)
            })
        );
        assert_totals(&sink);
        assert_clean_connections(&sink, &[1, 1]);
        let statuses: Vec<_> = sink.received().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Some(503), Some(200)]);
    }

    /// A chunked response body and a connection reset, both through TLS: the first is
    /// read whole, the second (a TCP reset, no close_notify) is retried.
    #[test]
    fn reset_then_chunked_answer_is_delivered() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        sink.script([(Fault::Reset, 1), (Fault::Chunked, 1)]);
        let mut registry = recorded();
        let config = client_config("reset", &pki, &pki.ca.cert_pem, false);
        let (report, _) = export(
            connector(config),
            "127.0.0.1",
            sink.addr().port(),
            &mut registry,
        );
        assert_delivered(&report, 1);
        assert!(
            matches!(
                report.first_error.map(|e| e.kind),
                Some(ExportErrorKind::Exchange(ExchangeError::Read(_)))
            ),
            "{report:?}"
        );
        assert_totals(&sink);
        assert!(sink.wait_for(Duration::from_secs(5), |s| s.connections_closed == 2));
        assert_eq!(sink.stats().requests_per_connection, [1, 1]);
        let tls = sink.tls_stats();
        // The reset connection ended before the client could say close_notify.
        assert_eq!(
            (tls.handshakes, tls.close_notify_received),
            (2, 1),
            "{tls:?}"
        );
    }
}

mod firmware_client {
    use super::*;
    use otlp_embedded_test_kit::tls_clock::WallClock;
    use otlp_embedded_tls::{
        ClientIdentity, NoClock, SigningKey, TlsClock, TlsConnector, TlsOptions, READ_BUFFER_LEN,
    };
    use p256::pkcs8::DecodePrivateKey;
    use rand_core::OsRng;

    /// A wall clock one day past the server certificate's not-after.
    struct AfterExpiry;
    impl TlsClock for AfterExpiry {
        fn now() -> Option<u64> {
            Some(SERVER_NOT_AFTER_UNIX + 86_400)
        }
    }

    /// Export through the firmware TLS client over the std TCP connector. The endpoint is
    /// the address; the certificate is checked against `localhost` (the firmware client
    /// does not match IP address names).
    fn firmware_export<K: TlsClock>(
        sink: &Sink,
        ca_der: &[u8],
        identity: Option<ClientIdentity<'_>>,
        registry: &mut Reg,
    ) -> (ExportReport, Option<TransportError>) {
        let mut read = vec![0u8; READ_BUFFER_LEN];
        let mut write = vec![0u8; 4096];
        let mut options = TlsOptions::new(ca_der).with_server_name("localhost");
        if let Some(identity) = identity {
            options = options.with_identity(identity);
        }
        let tls: TlsConnector<'_, TcpConnector, OsRng, K> = TlsConnector::new(
            TcpConnector::new(StdClock::new()),
            OsRng,
            options,
            &mut read,
            &mut write,
        );
        let (report, _, failure) =
            export_then(tls, "127.0.0.1", sink.addr().port(), registry, |tls| {
                tls.last_failure()
            });
        (report, failure)
    }

    #[test]
    fn right_ca_delivers_what_was_recorded() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        let mut registry = recorded();
        let (report, failure) =
            firmware_export::<WallClock>(&sink, &pki.ca.cert_der, None, &mut registry);
        assert_delivered(&report, 0);
        assert_eq!(failure, None);
        assert_totals(&sink);
        assert_clean_connections(&sink, &[1]);
    }

    #[test]
    fn wrong_ca_is_unknown_issuer_once() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        let mut registry = recorded();
        let (report, failure) =
            firmware_export::<WallClock>(&sink, &pki.other_ca.cert_der, None, &mut registry);
        assert_refused(&sink, &report, connect_tls(TlsFailure::UnknownIssuer));
        assert_eq!(
            failure,
            Some(TransportError::Tls(TlsFailure::UnknownIssuer))
        );
    }

    #[test]
    fn clock_past_not_after_is_expired_once() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls());
        let mut registry = recorded();
        let (report, failure) =
            firmware_export::<AfterExpiry>(&sink, &pki.ca.cert_der, None, &mut registry);
        assert_refused(&sink, &report, connect_tls(TlsFailure::Expired));
        assert_eq!(failure, Some(TransportError::Tls(TlsFailure::Expired)));
    }

    #[test]
    fn expired_certificate_without_a_clock_is_accepted() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls_expired());
        let mut registry = recorded();
        let (report, _) = firmware_export::<NoClock>(&sink, &pki.ca.cert_der, None, &mut registry);
        // Documented: without wall time the dates are not checked.
        assert_delivered(&report, 0);
        assert_totals(&sink);
    }

    #[test]
    fn mutual_tls_with_client_certificate_delivers() {
        let pki = TestPki::generate();
        let sink = tls_sink(pki.sink_tls_mutual());
        let mut registry = recorded();
        let identity = ClientIdentity {
            certificate_der: &pki.client.cert_der,
            key: SigningKey::from_pkcs8_der(&pki.client.key_der).expect("client key"),
        };
        let (report, _) =
            firmware_export::<WallClock>(&sink, &pki.ca.cert_der, Some(identity), &mut registry);
        assert_delivered(&report, 0);
        assert_totals(&sink);
        assert_clean_connections(&sink, &[1]);
    }
}
