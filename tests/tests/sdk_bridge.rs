//! otlp-embedded-std's `opentelemetry_sdk` exporter (feature `sdk`) against the test kit's
//! sink: for every metric kind, number type and temporality the SDK produces, the request
//! it sends decodes to exactly the message opentelemetry-proto's transform (what
//! opentelemetry-otlp sends) makes of the same `ResourceMetrics`; split across requests,
//! every point arrives once; configuration, partial success, errors and shutdown behave
//! as documented.
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, Temporality};
use otlp_embedded::export::{ExportErrorKind, ExportOutcome, RetryPolicy};
use otlp_embedded_std::config::Config;
use otlp_embedded_std::sdk::{BuildError, MetricExporter};
use otlp_embedded_test_kit::sink::{Fault, Sink};
use otlp_embedded_tests::sdk::{
    block_on, meters, observe_every_kind, provider, record_every_kind, SharedReader,
};
use otlp_embedded_tests::{assert_same, collector, metrics};
use prost::Message;

const WAIT: Duration = Duration::from_secs(10);

/// What `sink` would be configured with: its endpoint, nothing else from the environment.
fn config_for(sink: &Sink, more: &[(&str, &str)]) -> Config {
    let endpoint = sink.endpoint_url();
    let more: Vec<(String, String)> = more
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" => Some(endpoint.clone()),
        _ => more.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
    })
    .unwrap()
}

fn exporter_for(sink: &Sink) -> MetricExporter {
    MetricExporter::builder()
        .with_http()
        .with_config(config_for(sink, &[]))
        .build()
        .unwrap()
}

/// Two rounds recorded into every kind, with `temporality`; the second round's collect.
fn collected(temporality: Temporality) -> ResourceMetrics {
    let reader = SharedReader::new(temporality);
    let provider = provider(reader.clone());
    let meters = meters(&provider);
    let round = Arc::new(AtomicU64::new(1));
    observe_every_kind(&meters, Arc::clone(&round));
    record_every_kind(&meters, 1);
    let _ = reader.collect();
    round.store(2, std::sync::atomic::Ordering::Relaxed);
    record_every_kind(&meters, 2);
    reader.collect()
}

/// Every data point of `request` with its scope and metric, as prost bytes, sorted: what a
/// batch carries whatever the split.
fn points(requests: &[collector::ExportMetricsServiceRequest]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    use metrics::metric::Data;
    let mut out = Vec::new();
    for request in requests {
        for rm in &request.resource_metrics {
            for sm in &rm.scope_metrics {
                let scope = sm.scope.clone().unwrap_or_default().encode_to_vec();
                for metric in &sm.metrics {
                    let mut shell = metric.clone();
                    let points: Vec<Vec<u8>> = match shell.data.as_mut().unwrap() {
                        Data::Gauge(g) => {
                            g.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        Data::Sum(s) => {
                            s.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        Data::Histogram(h) => {
                            h.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        Data::ExponentialHistogram(e) => {
                            e.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        Data::Summary(_) => panic!("no summaries"),
                    };
                    let shell = shell.encode_to_vec();
                    out.extend(
                        points
                            .into_iter()
                            .map(|p| (scope.clone(), shell.clone(), p)),
                    );
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_kind_and_temporality_decodes_to_what_opentelemetry_otlp_sends() {
    for temporality in [
        Temporality::Cumulative,
        Temporality::Delta,
        Temporality::LowMemory,
    ] {
        let metrics = collected(temporality);
        let expected = collector::ExportMetricsServiceRequest::from(&metrics);
        // The batch really has every shape: 3 scopes, 14 metrics (11 synchronous, 3
        // observable), all four data kinds.
        let rm = &expected.resource_metrics[0];
        assert_eq!(rm.scope_metrics.len(), 3, "{temporality:?}");
        assert_eq!(
            rm.scope_metrics
                .iter()
                .map(|s| s.metrics.len())
                .sum::<usize>(),
            14
        );
        let kinds: std::collections::HashSet<_> = rm
            .scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| std::mem::discriminant(m.data.as_ref().unwrap()))
            .collect();
        assert_eq!(
            kinds.len(),
            4,
            "gauge, sum, histogram, exponential histogram"
        );
        // Both sides and the zero bucket of an exponential histogram are in use.
        let exp = rm
            .scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .find(|m| m.name == "duration.exp")
            .unwrap();
        let Some(metrics::metric::Data::ExponentialHistogram(exp)) = &exp.data else {
            panic!("duration.exp is exponential")
        };
        let point = &exp.data_points[0];
        assert!(point.zero_count > 0 && point.min.is_some());
        assert!(!point.positive.as_ref().unwrap().bucket_counts.is_empty());
        assert!(!point.negative.as_ref().unwrap().bucket_counts.is_empty());

        let sink = Sink::start().unwrap();
        let exporter = exporter_for(&sink);
        block_on(exporter.export(&metrics)).unwrap();
        let received = sink.requests();
        assert_eq!(received.len(), 1, "one request for the whole batch");
        assert_same(&received[0], &expected);

        let stats = exporter.stats();
        let report = stats.last_report().unwrap();
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.points_sent, points(&[expected]).len());
        assert_eq!((report.requests, report.retries), (1, 0));
    }
}

#[test]
fn a_batch_split_across_requests_carries_every_point_once() {
    let metrics = collected(Temporality::Cumulative);
    let expected = collector::ExportMetricsServiceRequest::from(&metrics);
    let sink = Sink::start().unwrap();
    let exporter = MetricExporter::builder()
        .with_config(config_for(&sink, &[]))
        .with_buffer_size(700)
        .build()
        .unwrap();
    block_on(exporter.export(&metrics)).unwrap();
    let received = sink.requests();
    assert!(
        received.len() >= 4,
        "700 bytes split the batch: {} requests",
        received.len()
    );
    for request in &received {
        let rm = &request.resource_metrics[0];
        // Each request repeats the resource; no scope goes out empty.
        assert_same(
            rm.resource.as_ref().unwrap(),
            expected.resource_metrics[0].resource.as_ref().unwrap(),
        );
        assert_eq!(rm.schema_url, "https://opentelemetry.io/schemas/1.26.0");
        assert!(rm.scope_metrics.iter().all(|s| !s.metrics.is_empty()));
    }
    assert_eq!(points(&received), points(&[expected]));
    let report = exporter.stats().last_report().unwrap();
    assert_eq!(report.requests as usize, received.len());
    assert_eq!(report.outcome, ExportOutcome::Success);
}

#[test]
fn a_u64_above_i64_max_saturates_where_opentelemetry_otlp_sends_zero() {
    let reader = SharedReader::new(Temporality::Cumulative);
    let provider = provider(reader.clone());
    let counter = provider.meter("big").u64_counter("huge").build();
    counter.add(u64::MAX - 5, &[]);
    let metrics = reader.collect();
    let sink = Sink::start().unwrap();
    block_on(exporter_for(&sink).export(&metrics)).unwrap();
    let value = |request: &collector::ExportMetricsServiceRequest| {
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(metrics::metric::Data::Sum(sum)) = &metric.data else {
            panic!("a sum")
        };
        sum.data_points[0].value
    };
    use metrics::number_data_point::Value::AsInt;
    assert_eq!(value(&sink.requests()[0]), Some(AsInt(i64::MAX)));
    assert_eq!(
        value(&collector::ExportMetricsServiceRequest::from(&metrics)),
        Some(AsInt(0))
    );
}

#[test]
fn the_temporality_preference_reaches_the_sdk_through_the_exporter() {
    let sink = Sink::start().unwrap();
    let config = config_for(
        &sink,
        &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")],
    );
    let exporter = MetricExporter::builder()
        .with_config(config)
        .build()
        .unwrap();
    assert_eq!(exporter.temporality(), Temporality::Delta);
    let stats = exporter.stats();
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    let meter = provider.meter("pref");
    let counter = meter.u64_counter("c").build();
    let up_down = meter.i64_up_down_counter("u").build();
    for _ in 0..2 {
        counter.add(5, &[]);
        up_down.add(5, &[]);
        provider.force_flush().unwrap();
    }
    assert!(stats.wait_for_exports(2, WAIT));
    let temporalities: BTreeMap<String, Vec<(i32, i64)>> = sink
        .requests()
        .iter()
        .flat_map(|r| r.resource_metrics[0].scope_metrics[0].metrics.clone())
        .fold(BTreeMap::new(), |mut map, m| {
            let Some(metrics::metric::Data::Sum(sum)) = m.data else {
                panic!("sums")
            };
            let Some(metrics::number_data_point::Value::AsInt(v)) = sum.data_points[0].value else {
                panic!("ints")
            };
            map.entry(m.name)
                .or_default()
                .push((sum.aggregation_temporality, v));
            map
        });
    // Delta for the counter (each export carries 5), cumulative for the up-down counter
    // (10 by the second), as the specification's table for `delta` says.
    assert_eq!(temporalities["c"], vec![(1, 5), (1, 5)]);
    assert_eq!(temporalities["u"], vec![(2, 5), (2, 10)]);
    provider.shutdown().unwrap();
}

#[test]
fn configured_headers_and_gzip_go_out() {
    let sink = Sink::start().unwrap();
    let config = config_for(
        &sink,
        &[
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0k3n"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    );
    let exporter = MetricExporter::builder()
        .with_config(config)
        .build()
        .unwrap();
    let metrics = collected(Temporality::Cumulative);
    block_on(exporter.export(&metrics)).unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("authorization"), Some("Bearer t0k3n"));
    assert_eq!(received[0].header("content-encoding"), Some("gzip"));
    assert_same(
        received[0].request.as_ref().unwrap(),
        &collector::ExportMetricsServiceRequest::from(&metrics),
    );
}

#[test]
fn a_reserved_or_invalid_header_is_refused_at_build() {
    let sink = Sink::start().unwrap();
    let header = |name: &str| {
        MetricExporter::builder()
            .with_config(config_for(&sink, &[]))
            .with_headers([(name.to_string(), "x".to_string())].into())
            .build()
    };
    match header("Content-Length") {
        Err(BuildError::Header { name, .. }) => assert_eq!(name, "Content-Length"),
        other => panic!("expected a header error, got {other:?}"),
    }
    assert!(matches!(header("bad name"), Err(BuildError::Header { .. })));
    assert!(header("x-tenant").is_ok());
    let many = (0..40)
        .map(|i| (format!("x-{i}"), "v".to_string()))
        .collect();
    assert!(matches!(
        MetricExporter::builder()
            .with_config(config_for(&sink, &[]))
            .with_headers(many)
            .build(),
        Err(BuildError::TooManyHeaders { count: 40 })
    ));
}

#[test]
fn retries_partial_success_and_failures_are_reported() {
    let sink = Sink::start().unwrap();
    let exporter = MetricExporter::builder()
        .with_config(config_for(&sink, &[]))
        .with_retry_policy(RetryPolicy::new().with_max_attempts(3))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let metrics = collected(Temporality::Cumulative);
    let points = points(&[collector::ExportMetricsServiceRequest::from(&metrics)]).len();

    // 503 with Retry-After 0, then a partial success: Ok, one retry, the rejection counted.
    sink.script([
        (
            Fault::Unavailable(Some(otlp_embedded_test_kit::RetryAfter::Seconds(0))),
            1,
        ),
        (
            Fault::PartialSuccess {
                rejected: 2,
                message: "2 points too old".into(),
            },
            1,
        ),
    ]);
    block_on(exporter.export(&metrics)).unwrap();
    let report = stats.last_report().unwrap();
    assert_eq!(report.outcome, ExportOutcome::PartialSuccess);
    assert_eq!(
        (report.retries, report.points_sent, report.points_rejected),
        (1, points, 2)
    );
    assert_eq!(stats.last_server_message(), "2 points too old");

    // A 400 is not retried: the export fails, naming the status.
    sink.script([(Fault::Status(400), 1)]);
    match block_on(exporter.export(&metrics)) {
        Err(OTelSdkError::InternalFailure(why)) => {
            assert!(why.contains("status 400"), "{why}");
            assert!(
                why.starts_with(&format!("{points} of {points} points")),
                "{why}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let report = stats.last_report().unwrap();
    assert_eq!(
        (report.outcome, report.points_dropped),
        (ExportOutcome::Failed, points)
    );
    assert_eq!(stats.last_server_message(), "sink fault: status 400");

    let totals = stats.totals();
    assert_eq!((totals.exports_ok, totals.exports_failed), (1, 1));
    assert_eq!(
        (totals.retries, totals.points_sent, totals.points_dropped),
        (1, points as u64, points as u64)
    );
    assert_eq!(stats.exports(), 2);
    assert_eq!(
        stats.report(1).map(|r| r.outcome),
        Some(ExportOutcome::PartialSuccess)
    );
    assert_eq!(sink.stats().requests_received, 3);
}

#[test]
fn a_refused_connection_ends_by_the_timeout_and_shutdown_refuses_exports() {
    // A port nothing listens on: connection refused, retried until the export's deadline.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let exporter = MetricExporter::builder()
        .with_endpoint(format!("http://127.0.0.1:{port}/v1/metrics"))
        .with_config(Config::from_lookup(|_| None).unwrap())
        .with_timeout(Duration::from_millis(600))
        .build()
        .unwrap();
    let metrics = collected(Temporality::Cumulative);
    let started = std::time::Instant::now();
    let result = block_on(exporter.export(&metrics));
    let took = started.elapsed();
    assert!(
        matches!(result, Err(OTelSdkError::Timeout(t)) if t == Duration::from_millis(600)),
        "{result:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "ended by its deadline: {took:?}"
    );
    // Refused, retried after backoff while the deadline allowed (a jittered backoff may
    // not fit in 600 ms at all), then out of time, the points undelivered.
    let report = exporter.stats().last_report().unwrap();
    assert!(matches!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Exchange(_))
    ));
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    assert_eq!(
        (report.points_sent, report.points_abandoned),
        (0, report.points_collected)
    );

    exporter.shutdown().unwrap();
    assert!(matches!(
        block_on(exporter.export(&metrics)),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        exporter.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
}

#[test]
fn sdk_disabled_sends_nothing() {
    let sink = Sink::start().unwrap();
    let exporter = MetricExporter::builder()
        .with_config(config_for(&sink, &[("OTEL_SDK_DISABLED", "true")]))
        .build()
        .unwrap();
    block_on(exporter.export(&collected(Temporality::Cumulative))).unwrap();
    assert_eq!(exporter.stats().exports(), 0);
    assert_eq!(sink.stats().connections_accepted, 0);
}
