//! `PeriodicExporter::from_env` reads the process environment: a malformed variable is a
//! start error naming it, and `OTEL_SDK_DISABLED=true` starts nothing. A test binary of its
//! own with one test, since it sets the environment.

use otlp_embedded::registry::{InstrumentDesc, Producer, Snapshot};
use otlp_embedded_std::config::{ALL_VARIABLES, ENDPOINT, SDK_DISABLED};
use otlp_embedded_std::periodic::StartError;
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};

#[test]
fn from_env_refuses_a_malformed_endpoint_and_honours_sdk_disabled() {
    for name in ALL_VARIABLES {
        std::env::remove_var(name);
    }
    let registry = SharedRegistry::with_default_capacities();
    let requests = registry
        .instrument(InstrumentDesc::counter_u64("requests"))
        .unwrap();

    std::env::set_var(ENDPOINT, "ftp://collector:4318");
    match PeriodicExporter::from_env("from-env-test", &registry) {
        Err(StartError::Config(e)) => {
            assert_eq!(e.variable, ENDPOINT);
            assert_eq!(e.value, "ftp://collector:4318");
            let shown = StartError::Config(e).to_string();
            assert!(shown.contains(ENDPOINT), "{shown}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }

    std::env::set_var(ENDPOINT, "http://127.0.0.1:9");
    std::env::set_var(SDK_DISABLED, "true");
    let exporter = PeriodicExporter::from_env("from-env-test", &registry).unwrap();
    assert!(!exporter.is_running());
    requests.record(1u64, &[]).unwrap();
    let stats = exporter.shutdown();
    assert_eq!((stats.exports_ok, stats.exports_failed), (0, 0));
    // Nothing was collected: the point is still in the registry.
    let mut producer = registry.producer();
    let mut snapshot = Box::new(Snapshot::new());
    producer.collect(&mut snapshot, 1);
    assert_eq!(snapshot.total_points(), 1);
}
