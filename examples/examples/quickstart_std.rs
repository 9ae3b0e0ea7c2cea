//! The Linux quick start of the README, kept compiling: record a counter, export once to
//! the collector the `OTEL_*` variables name (default `http://localhost:4318`).
//!
//! `cargo run -p otlp-embedded-examples --example quickstart_std`
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope};
use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
use otlp_embedded_std::config::{Config, InstrumentKind};
use otlp_embedded_std::{StdClock, TcpConnector};

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    // 4 instruments, 16 series, 8 bytes of attribute values per series,
    // 4 histogram series, 160 bucket counters.
    type Metrics = Registry<4, 16, 8, 4, 160>;
    let mut registry = Box::new(Metrics::new(unix_nanos()));
    let requests = registry.declare(
        InstrumentDesc::counter_u64("requests")
            .attributes(&["status"])
            .max_series(4)
            .temporality(config.temporality_for(InstrumentKind::Counter)),
    )?;
    let ok = [KeyValue::new("status", AttributeValue::Str("200"))];
    registry.record(requests, 1u64, &ok)?;

    let headers = config.headers();
    let resource = config.resource_attributes();
    let header = RequestHeader::new(Resource::new(&resource), Scope::new("my-service"));
    let mut exporter_config = ExporterConfig::new(config.endpoint(), header);
    exporter_config.headers = &headers;
    exporter_config.request_timeout_ms = config.timeout.as_millis() as u32;
    exporter_config.export_timeout_ms = config.export_timeout.as_millis() as u32;

    let clock = StdClock::new();
    let client = HttpClient::new(TcpConnector::new(clock), clock);
    let mut exporter = Exporter::new(exporter_config, client);
    let mut snapshot = Box::new(SnapshotOf::<Metrics>::new());
    let mut buffer = vec![0u8; 4096];
    let report = exporter.export(
        &mut *registry,
        &mut snapshot,
        &mut buffer,
        &clock,
        unix_nanos(),
        |ms| std::thread::sleep(std::time::Duration::from_millis(ms)),
    );
    if report.outcome == ExportOutcome::Failed {
        eprintln!("export failed: {:?}", report.last_error);
    }
    Ok(())
}
