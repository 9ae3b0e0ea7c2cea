//! The README's Linux quick start (`examples/quickstart_std.rs`, compiled in here as it is)
//! run against the test kit's sink through `OTEL_EXPORTER_OTLP_ENDPOINT`: the sink decodes
//! the one counter it recorded. A test binary of its own, since it sets the process
//! environment the quick start reads.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_embedded_std::config::ALL_VARIABLES;
use otlp_embedded_test_kit::sink::Sink;
use otlp_embedded_test_kit::totals::{AggregationTemporality, DataKind, SeriesKey};

mod quickstart {
    include!("../examples/quickstart_std.rs");

    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_quick_start_exports_its_counter_to_the_configured_collector() {
    let sink = Sink::start().expect("sink starts");
    // Only this test reads or writes the environment in this binary.
    for name in ALL_VARIABLES {
        std::env::remove_var(name);
    }
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", sink.base_url());
    std::env::set_var("OTEL_SERVICE_NAME", "quickstart-test");

    quickstart::run().expect("the quick start returns Ok");

    // The default interval is a minute: the one export is the final one, at shutdown.
    let requests = sink.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let totals = sink.totals();
    let key = SeriesKey::new("requests", &[("status", "200")]);
    assert_eq!(totals.keys().collect::<Vec<_>>(), [&key]);
    let total = &totals[&key];
    assert_eq!(total.kind, DataKind::Sum);
    assert_eq!(total.temporality, AggregationTemporality::Cumulative);
    assert_eq!(total.points, 1);
    assert_eq!(total.value(), 1.0);
    // The scope is the one the quick start names; the resource comes from the variables.
    let resource = &requests[0].resource_metrics[0];
    let scope = resource.scope_metrics[0].scope.as_ref().expect("a scope");
    assert_eq!(scope.name, "my-service");
    let service_name = resource
        .resource
        .as_ref()
        .expect("a resource")
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone());
    assert_eq!(
        service_name,
        Some(Value::StringValue("quickstart-test".into()))
    );
    // One connection, closed: the sink sees the close a moment after the export ends.
    sink.wait_for(Duration::from_secs(10), |s| s.connections_closed >= 1);
    let stats = sink.stats();
    assert_eq!(
        (stats.connections_accepted, stats.connections_closed),
        (1, 1)
    );
}
