//! The sink in TLS mode answers with every fault of its plain mode: each fault is met by
//! core's HTTP client over the rustls `TlsConnector` and the real `TcpConnector`, and the
//! client sees what it would see in plain HTTP, except that a close without close_notify
//! is a truncation. One connection per request; every one is closed.

use std::time::Duration;

use otlp_embedded::http::HttpClient;
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{
    Endpoint, Exchange, ExchangeError, HttpRequest, HttpResponse, Malformed,
    RetryAfter as WireRetryAfter, Scheme, Stage, TlsFailure, TransportError,
};
use otlp_embedded_std::tls::{client_config_from_pem, TlsConnector};
use otlp_embedded_std::{StdClock, TcpConnector};
use otlp_embedded_test_kit::sink::{
    chunked_fault_body, ExportMetricsServiceRequest, ExportMetricsServiceResponse, Fault,
    RetryAfter, Sink, SinkOptions, SinkTls,
};
use otlp_embedded_test_kit::test_pki::TestPki;
use prost::Message;

fn body() -> Vec<u8> {
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "sink.tls".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            value: Some(number_data_point::Value::AsInt(9)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

struct Fixture {
    sink: Sink,
    client: HttpClient<TlsConnector<TcpConnector>, StdClock>,
    clock: StdClock,
}

fn fixture(tls: impl Fn(&TestPki) -> SinkTls) -> Fixture {
    let pki = TestPki::generate();
    let sink = Sink::start_with(SinkOptions {
        tls: Some(tls(&pki)),
        endless_header_limit: 64 * 1024,
        ..SinkOptions::default()
    })
    .expect("sink");
    let clock = StdClock::new();
    let config = client_config_from_pem(Some(pki.ca.cert_pem.as_bytes()), None).expect("config");
    let client = HttpClient::new(TlsConnector::new(TcpConnector::new(clock), config), clock);
    Fixture {
        sink,
        client,
        clock,
    }
}

impl Fixture {
    fn exchange(
        &mut self,
        fault: Fault,
        body_out: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.sink.script([(fault, 1)]);
        let port = self.sink.addr().port();
        let endpoint = Endpoint {
            scheme: Scheme::Https,
            host: "127.0.0.1",
            port,
            path: "/v1/metrics",
        };
        let body = body();
        let request = HttpRequest::new(&endpoint, &body, self.clock.now().add_millis(5_000));
        self.client.exchange(&request, body_out)
    }
}

#[test]
fn every_fault_through_tls() {
    let mut f = fixture(TestPki::sink_tls);
    let mut out = [0u8; 256];
    let ok = |r: Result<HttpResponse, ExchangeError>| r.expect("response").status;

    assert_eq!(ok(f.exchange(Fault::None, &mut out)), 200);
    assert_eq!(
        ok(f.exchange(Fault::IdleClose(Duration::from_millis(50)), &mut out)),
        200
    );
    assert_eq!(ok(f.exchange(Fault::AnswerThenClose, &mut out)), 200);
    assert_eq!(
        ok(f.exchange(
            Fault::Trickle {
                bytes_per_second: 5_000
            },
            &mut out
        )),
        200
    );

    let r = f
        .exchange(
            Fault::TooManyRequests(Some(RetryAfter::Seconds(7))),
            &mut out,
        )
        .expect("429");
    assert_eq!(
        (r.status, r.retry_after),
        (429, Some(WireRetryAfter::Seconds(7)))
    );
    assert!(r.body_is_protobuf);
    let r = f.exchange(Fault::Unavailable(None), &mut out).expect("503");
    assert_eq!((r.status, r.retry_after), (503, None));
    assert_eq!(ok(f.exchange(Fault::Status(404), &mut out)), 404);
    assert_eq!(ok(f.exchange(Fault::PayloadTooLargeEarly, &mut out)), 413);
    let r = f.exchange(Fault::Html502, &mut out).expect("502");
    assert_eq!((r.status, r.body_is_protobuf), (502, false));

    let r = f.exchange(Fault::Chunked, &mut out).expect("chunked");
    assert_eq!(r.status, 200);
    assert_eq!(&out[..r.body_len], chunked_fault_body().as_slice());
    let r = f
        .exchange(
            Fault::PartialSuccess {
                rejected: 3,
                message: "three".into(),
            },
            &mut out,
        )
        .expect("partial");
    let partial = ExportMetricsServiceResponse::decode(&out[..r.body_len])
        .expect("decodes")
        .partial_success
        .expect("partial success");
    assert_eq!(
        (partial.rejected_data_points, partial.error_message.as_str()),
        (3, "three")
    );

    // The sink closes these with its close_notify: a clean end of stream, mid-response.
    assert_eq!(
        f.exchange(Fault::CloseBeforeAnswer, &mut out).err(),
        Some(ExchangeError::ClosedBeforeResponse)
    );
    assert_eq!(
        f.exchange(Fault::CloseMidHeaders, &mut out).err(),
        Some(ExchangeError::ClosedEarly(Stage::Headers))
    );
    assert_eq!(
        f.exchange(Fault::CloseMidBody, &mut out).err(),
        Some(ExchangeError::ClosedEarly(Stage::ContentLengthBody))
    );
    assert_eq!(
        f.exchange(Fault::GarbageStatusLine, &mut out).err(),
        Some(ExchangeError::Malformed(Malformed::StatusLine))
    );
    assert!(matches!(
        f.exchange(Fault::EndlessHeaders, &mut out).err(),
        Some(ExchangeError::HeadersTooLarge { .. })
    ));
    // A reset is no close_notify: the TLS client reports the cut, never a clean end.
    let reset = f.exchange(Fault::Reset, &mut out).err();
    assert!(
        matches!(
            reset,
            Some(ExchangeError::Read(
                TransportError::Tls(TlsFailure::Truncated) | TransportError::Io(_)
            ))
        ),
        "{reset:?}"
    );

    let n = 17;
    assert!(
        f.sink
            .wait_for(Duration::from_secs(5), |s| s.connections_accepted == n
                && s.connections_closed == n),
        "{:?}",
        f.sink.stats()
    );
    let stats = f.sink.stats();
    assert_eq!(stats.requests_per_connection, vec![1; n as usize]);
    let tls = f.sink.tls_stats();
    assert_eq!((tls.handshakes, tls.handshake_failures), (n, 0), "{tls:?}");
    // 2xx answers whose body was decoded: None, IdleClose, AnswerThenClose, Trickle,
    // Chunked, PartialSuccess.
    assert_eq!(stats.requests_answered_2xx, 6);
    assert_eq!(f.sink.requests().len(), 6);
}

#[test]
fn pem_identity_and_client_ca() {
    // SinkTls from PEM; mutual TLS refuses a client without a certificate.
    let mut f = fixture(|pki| {
        SinkTls::from_pem(&pki.server.cert_pem, &pki.server.key_pem)
            .expect("pem")
            .require_client_cert(pki.ca.cert_der.clone())
    });
    let mut out = [0u8; 64];
    let error = f.exchange(Fault::None, &mut out).err();
    let refused = TransportError::Tls(TlsFailure::ClientCertificateRequired);
    assert!(
        error == Some(ExchangeError::Read(refused)) || error == Some(ExchangeError::Write(refused)),
        "{error:?}"
    );
    assert!(f
        .sink
        .wait_for(Duration::from_secs(5), |s| s.connections_closed == 1));
    let tls = f.sink.tls_stats();
    assert_eq!((tls.handshakes, tls.handshake_failures), (0, 1));
    assert_eq!(f.sink.stats().requests_received, 0);
    assert!(SinkTls::from_pem("not pem", "not pem").is_err());
}
