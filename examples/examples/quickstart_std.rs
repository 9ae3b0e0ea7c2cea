use otlp_embedded::proto::KeyValue;
use otlp_embedded::registry::InstrumentDesc;
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 8 instruments, 128 series: about 28 KB with the exporter's snapshot.
    let registry = SharedRegistry::with_default_capacities();
    let requests = InstrumentDesc::counter_u64("requests").attributes(&["status"]);
    let requests = registry.instrument(requests)?;
    // Exports every OTEL_METRIC_EXPORT_INTERVAL to OTEL_EXPORTER_OTLP_ENDPOINT.
    let exporter = PeriodicExporter::from_env("my-service", &registry)?;

    requests.record(1u64, &[KeyValue::str("status", "200")])?;
    let stats = exporter.shutdown(); // one last export, then the thread ends
    println!(
        "exports: {} ok, {} failed",
        stats.exports_ok, stats.exports_failed
    );
    Ok(())
}
