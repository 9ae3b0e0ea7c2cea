//! What the `OTEL_*` configuration puts on the wire, read back by the sink: the exporter's
//! `User-Agent`, or the one from `OTEL_EXPORTER_OTLP_HEADERS` in its place, never both.

use std::sync::Arc;
use std::time::Duration;

use otlp_embedded::export::ExportOutcome;
use otlp_embedded::http::USER_AGENT;
use otlp_embedded::proto::Temporality;
use otlp_embedded::registry::{InstrumentDesc, Snapshot};
use otlp_embedded_std::config::Config;
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
use otlp_embedded_test_kit::sink::{Received, Sink};

type Reg = SharedRegistry<2, 8, 34, 2, 32>;
type Snap = Snapshot<2, 8, 34, 2, 32>;

/// One forced export of one point through `PeriodicExporter::from_config` to a fresh sink
/// with `headers` as `OTEL_EXPORTER_OTLP_HEADERS`; what the sink received.
fn export_once_with_headers(headers: Option<&str>) -> Vec<Received> {
    let sink = Sink::start().expect("sink");
    let base = sink.base_url();
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(base.clone()),
        "OTEL_EXPORTER_OTLP_HEADERS" => headers.map(str::to_string),
        "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".into()),
        _ => None,
    })
    .expect("config");
    let registry = Arc::new(Reg::new(1));
    let counter = registry
        .declare(
            InstrumentDesc::counter_u64("wire.requests")
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    registry.record(counter, 3u64, &[]).unwrap();
    let exporter = PeriodicExporter::from_config(
        &config,
        "config-wire",
        registry.producer(),
        Box::new(Snap::new()),
    )
    .expect("exporter starts");
    let report = exporter
        .force_export(Duration::from_secs(20))
        .expect("the forced export finished");
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    exporter.shutdown();
    assert_eq!(
        sink.total("wire.requests", &[]).map(|t| t.value_sum),
        Some(3.0)
    );
    // The instrumentation scope is the caller's, as `from_config` was given it.
    let scopes: Vec<(String, String)> = sink
        .requests()
        .iter()
        .flat_map(|request| &request.resource_metrics)
        .flat_map(|resource| &resource.scope_metrics)
        .filter_map(|scope| scope.scope.as_ref())
        .map(|scope| (scope.name.clone(), scope.version.clone()))
        .collect();
    assert_eq!(scopes, [("config-wire".to_string(), String::new())]);
    sink.received()
}

fn user_agents(received: &Received) -> Vec<&str> {
    received
        .headers
        .iter()
        .filter(|(name, _)| name == "user-agent")
        .map(|(_, value)| value.as_str())
        .collect()
}

#[test]
fn the_exporter_user_agent_goes_out_once() {
    let received = export_once_with_headers(None);
    assert_eq!(received.len(), 1);
    assert_eq!(user_agents(&received[0]), [USER_AGENT]);
    assert!(
        USER_AGENT.starts_with("OTel-OTLP-Exporter-Rust/"),
        "{USER_AGENT}"
    );
}

#[test]
fn a_configured_user_agent_replaces_the_exporter_one_on_the_wire() {
    let received = export_once_with_headers(Some("user-agent=pump-controller%2F2.1,x-site=7"));
    assert_eq!(received.len(), 1);
    assert_eq!(user_agents(&received[0]), ["pump-controller/2.1"]);
    assert_eq!(received[0].header("x-site"), Some("7"));
}
