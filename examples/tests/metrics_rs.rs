//! The README's `metrics` crate example (`examples/metrics_rs.rs`, compiled in here as it
//! is) run against the test kit's sink through `OTEL_EXPORTER_OTLP_ENDPOINT`: the sink
//! decodes the counter and the histogram the facade's macros recorded. A test binary of
//! its own: it sets the process environment, and the example installs the global recorder.

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use otlp_embedded_std::config::ALL_VARIABLES;
use otlp_embedded_test_kit::sink::Sink;
use otlp_embedded_test_kit::totals::{AggregationTemporality, DataKind, SeriesKey};

mod example {
    include!("../examples/metrics_rs.rs");

    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_metrics_example_exports_what_the_macros_recorded() {
    let sink = Sink::start().expect("sink starts");
    // Only this test reads or writes the environment in this binary.
    for name in ALL_VARIABLES {
        std::env::remove_var(name);
    }
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", sink.base_url());
    std::env::set_var("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta");

    example::run().expect("the example returns Ok");

    // The default interval is a minute: the one export is the final one, at shutdown.
    let requests = sink.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let totals = sink.totals();
    let counter = SeriesKey::new("requests", &[("status", "200")]);
    let histogram = SeriesKey::new("latency", &[("route", "/")]);
    assert_eq!(totals.keys().collect::<Vec<_>>(), [&histogram, &counter]);
    let c = &totals[&counter];
    assert_eq!(
        (c.kind, c.temporality, c.points, c.value()),
        (DataKind::Sum, AggregationTemporality::Delta, 1, 1.0)
    );
    let h = &totals[&histogram];
    assert_eq!(
        (h.kind, h.temporality, h.count(), h.sum()),
        (
            DataKind::Histogram,
            AggregationTemporality::Delta,
            1,
            Some(0.25)
        )
    );
    // describe_counter! carried its unit (UCUM "1" for a count) and description.
    let metrics: Vec<_> = requests[0].resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| {
            let monotonic = matches!(&m.data, Some(Data::Sum(s)) if s.is_monotonic);
            (
                m.name.as_str(),
                m.unit.as_str(),
                m.description.as_str(),
                monotonic,
            )
        })
        .collect();
    assert_eq!(
        metrics,
        [
            ("requests", "1", "Requests served", true),
            ("latency", "", "", false)
        ]
    );
}
