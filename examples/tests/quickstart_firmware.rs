//! The README's firmware quick start (`examples/quickstart_firmware.rs`, compiled in here as
//! it is) on the simulated board, whose LAN relays to the test kit's sink: the sink decodes
//! what the firmware recorded, once per export, each over a connection of its own. A test
//! binary of its own, since it sets the variable that points the board's relay at the sink.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_embedded_examples::board::{COLLECTOR_VARIABLE, EXPORTS};
use otlp_embedded_test_kit::sink::Sink;
use otlp_embedded_test_kit::totals::{AggregationTemporality, DataKind, SeriesKey};

mod quickstart {
    include!("../examples/quickstart_firmware.rs");

    pub fn run() {
        main()
    }
}

#[test]
fn the_firmware_quick_start_exports_over_its_smoltcp_stack() {
    let sink = Sink::start().expect("sink starts");
    std::env::set_var(COLLECTOR_VARIABLE, sink.addr().to_string());

    quickstart::run();

    let exports = usize::try_from(EXPORTS).unwrap();
    let requests = sink.requests();
    assert_eq!(requests.len(), exports, "{requests:?}");
    let totals = sink.totals();
    let key = SeriesKey::new("boots", &[("reason", "power-on")]);
    assert_eq!(totals.keys().collect::<Vec<_>>(), [&key]);
    let total = &totals[&key];
    assert_eq!(total.kind, DataKind::Sum);
    assert_eq!(total.temporality, AggregationTemporality::Cumulative);
    // One cumulative point per export, each saying the board booted once.
    assert_eq!(total.points, u64::from(EXPORTS));
    assert_eq!(total.value_sum, f64::from(EXPORTS));
    assert_eq!(total.value(), 1.0);
    for request in &requests {
        let resource = &request.resource_metrics[0];
        let scope = resource.scope_metrics[0].scope.as_ref().expect("a scope");
        assert_eq!(scope.name, "pump-firmware");
        let attributes = &resource.resource.as_ref().expect("a resource").attributes;
        assert_eq!(attributes.len(), 1);
        assert_eq!(attributes[0].key, "service.name");
        assert_eq!(
            attributes[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(Value::StringValue("pump".into()))
        );
    }
    // A connection per export, every one closed.
    sink.wait_for(Duration::from_secs(10), |s| {
        s.connections_closed >= u64::from(EXPORTS)
    });
    let stats = sink.stats();
    assert_eq!(
        (stats.connections_accepted, stats.connections_closed),
        (u64::from(EXPORTS), u64::from(EXPORTS))
    );
}
