use metrics::{counter, describe_counter, histogram, Unit};
use otlp_embedded_std::metrics_rs::MetricsRecorder;
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Each metric name takes an instrument: 8, with 128 series between them.
    let registry = SharedRegistry::with_default_capacities();
    let recorder = MetricsRecorder::new(registry.clone());
    let stats = recorder.stats_handle(); // what did not fit, counted
    metrics::set_global_recorder(recorder)?;
    // Exports every OTEL_METRIC_EXPORT_INTERVAL to OTEL_EXPORTER_OTLP_ENDPOINT.
    let exporter = PeriodicExporter::from_env("my-service", &registry)?;

    describe_counter!("requests", Unit::Count, "Requests served");
    counter!("requests", "status" => "200").increment(1);
    histogram!("latency", "route" => "/").record(0.25);
    let exports = exporter.shutdown(); // one last export, then the thread ends
    println!("{} exports ok; {}", exports.exports_ok, stats.get());
    Ok(())
}
