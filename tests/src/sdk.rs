//! The `opentelemetry_sdk` side of the bridge's tests and bench: an application that
//! records every instrument kind the SDK has, across three scopes, with attributes of
//! every value kind; a manual reader the test keeps; a minimal `block_on`.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Stream,
    Temporality,
};
use opentelemetry_sdk::Resource;

/// Run a future that needs no waking to completion (the exporters' `export` futures here:
/// ours never waits; opentelemetry-otlp's blocking client neither).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut context) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// A [`ManualReader`] the test keeps while the provider holds it.
#[derive(Clone, Debug)]
pub struct SharedReader(pub Arc<ManualReader>);

impl SharedReader {
    /// A manual reader aggregating with `temporality`.
    pub fn new(temporality: Temporality) -> Self {
        SharedReader(Arc::new(
            ManualReader::builder()
                .with_temporality(temporality)
                .build(),
        ))
    }

    /// Collect what the provider's instruments hold now.
    pub fn collect(&self) -> ResourceMetrics {
        let mut metrics = ResourceMetrics::default();
        self.0.collect(&mut metrics).expect("collect");
        metrics
    }
}

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The resource: string, int, double, bool and array attributes, and a schema URL.
pub fn resource() -> Resource {
    Resource::builder_empty()
        .with_schema_url(
            [
                KeyValue::new("service.name", "sdk-bridge"),
                KeyValue::new("service.instance.id", 7i64),
                KeyValue::new("host.load", 0.25),
                KeyValue::new("host.virtual", true),
                KeyValue::new(
                    "process.command_args",
                    Value::Array(Array::String(vec![
                        StringValue::from("app"),
                        StringValue::from("--port=4318"),
                    ])),
                ),
            ],
            "https://opentelemetry.io/schemas/1.26.0",
        )
        .build()
}

/// Histograms whose names end in `.exp` aggregate as base-2 exponential histograms.
fn exponential_view(instrument: &Instrument) -> Option<Stream> {
    if !instrument.name().ends_with(".exp") {
        return None;
    }
    Stream::builder()
        .with_aggregation(Aggregation::Base2ExponentialHistogram {
            max_size: 40,
            max_scale: 6,
            record_min_max: true,
        })
        .build()
        .ok()
}

/// A provider with [`resource`], the exponential view and `reader`.
pub fn provider<R: MetricReader>(reader: R) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_resource(resource())
        .with_view(exponential_view)
        .with_reader(reader)
        .build()
}

/// The three scopes: a versioned one with attributes and a schema URL, a bare one, one
/// whose attributes are arrays.
pub fn meters(provider: &SdkMeterProvider) -> [Meter; 3] {
    let app = InstrumentationScope::builder("bridge.app")
        .with_version("1.2.3")
        .with_schema_url("https://example.invalid/app")
        .with_attributes([KeyValue::new("team", "core"), KeyValue::new("shard", 3i64)])
        .build();
    let arrays = InstrumentationScope::builder("bridge.arrays")
        .with_attributes([
            KeyValue::new("flags", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("weights", Value::Array(Array::F64(vec![0.5, -1.0]))),
        ])
        .build();
    [
        provider.meter_with_scope(app),
        provider.meter("bridge.bare"),
        provider.meter_with_scope(arrays),
    ]
}

/// Point attributes of every value kind; `route` picks the series.
pub fn attributes(route: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("route", route),
        KeyValue::new("ok", route.len().is_multiple_of(2)),
        KeyValue::new("code", 200i64 + route.len() as i64),
        KeyValue::new("ratio", route.len() as f64 / 8.0),
        KeyValue::new("tags", Value::Array(Array::I64(vec![1, -2, 3]))),
    ]
}

/// Record into every synchronous instrument kind and number type; register every
/// observable kind. `round` scales the values so that successive rounds differ.
pub fn record_every_kind(meters: &[Meter; 3], round: u64) {
    let [app, bare, arrays] = meters;
    let r = round as f64;
    let requests = app.u64_counter("requests").with_unit("{request}").build();
    for (route, n) in [("/a", 1u64), ("/bb", 2), ("/ccc", 3)] {
        requests.add(n * round, &attributes(route));
    }
    app.f64_counter("bytes.in")
        .with_description("bytes received")
        .with_unit("By")
        .build()
        .add(1.5 * r, &attributes("/a"));
    app.i64_up_down_counter("queue.depth")
        .build()
        .add(-3 * round as i64, &attributes("/bb"));
    app.f64_up_down_counter("balance")
        .build()
        .add(-0.5 * r, &[]);
    let latency = app
        .u64_histogram("latency.ms")
        .with_boundaries(vec![1.0, 5.0, 10.0, 50.0])
        .build();
    for v in [0, 3, 7, 7, 49, 1000] {
        latency.record(v * round, &attributes("/a"));
    }
    let size = bare.f64_histogram("size").build();
    for v in [0.5, 12.0, 250.0] {
        size.record(v * r, &[KeyValue::new("kind", "blob")]);
    }
    let duration = bare.f64_histogram("duration.exp").with_unit("s").build();
    for v in [0.001, 0.02, 0.02, 3.0, -0.0, -2.5] {
        duration.record(v * r, &attributes("/ccc"));
    }
    let sizes = bare.u64_histogram("count.exp").build();
    for v in [1, 2, 1024, 1 << 20] {
        sizes.record(v * round, &[]);
    }
    arrays
        .u64_gauge("temperature.u")
        .build()
        .record(21 * round, &[]);
    arrays
        .i64_gauge("temperature.i")
        .build()
        .record(-4 * round as i64, &attributes("/a"));
    arrays
        .f64_gauge("temperature.f")
        .build()
        .record(20.5 * r, &attributes("/bb"));
}

/// Register one observable instrument of each kind (once per provider): their callbacks
/// report the current `round` through the given cell.
pub fn observe_every_kind(meters: &[Meter; 3], round: Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering::Relaxed;
    let [_, bare, arrays] = meters;
    let r = Arc::clone(&round);
    let _ = bare
        .u64_observable_counter("uptime")
        .with_unit("s")
        .with_callback(move |o| o.observe(10 * r.load(Relaxed), &[KeyValue::new("cpu", 0i64)]))
        .build();
    let r = Arc::clone(&round);
    let _ = bare
        .i64_observable_up_down_counter("connections")
        .with_callback(move |o| o.observe(2 - r.load(Relaxed) as i64, &attributes("/a")))
        .build();
    let r = round;
    let _ = arrays
        .f64_observable_gauge("load")
        .with_callback(move |o| o.observe(0.75 * r.load(Relaxed) as f64, &[]))
        .build();
}

/// A collected batch of exactly 500 points, as a busy service's: 250 counter series by
/// route, method and status, 100 latency histograms (the SDK's 15 default bounds) and 150
/// gauges, under the [`resource`].
pub fn five_hundred_points(temporality: Temporality) -> ResourceMetrics {
    let (reader, _provider) = five_hundred_series(temporality);
    let metrics = reader.collect();
    let points: usize = opentelemetry_proto_points(&metrics);
    assert_eq!(points, 500, "the batch has 500 points");
    metrics
}

/// The provider behind [`five_hundred_points`] and its reader, to collect from again.
pub fn five_hundred_series(temporality: Temporality) -> (SharedReader, SdkMeterProvider) {
    let reader = SharedReader::new(temporality);
    let provider = provider(reader.clone());
    let meter = provider.meter("bench.service");
    let requests = meter.u64_counter("http.server.requests").build();
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .build();
    let memory = meter
        .i64_gauge("process.memory.usage")
        .with_unit("By")
        .build();
    let route = |i: usize| {
        [
            KeyValue::new("http.route", format!("/api/v1/items/{i}")),
            KeyValue::new(
                "http.request.method",
                if i.is_multiple_of(2) { "GET" } else { "POST" },
            ),
            KeyValue::new("http.response.status_code", 200 + (i % 3) as i64),
        ]
    };
    for i in 0..250 {
        requests.add(i as u64 + 1, &route(i));
    }
    for i in 0..100 {
        for v in [0.003, 0.02, 0.2, 1.5] {
            duration.record(v * (i + 1) as f64, &route(i));
        }
    }
    for i in 0..150 {
        memory.record(
            1_000_000 + i as i64,
            &[KeyValue::new("process.pid", i as i64)],
        );
    }
    (reader, provider)
}

/// Data points of a collected batch, counted through opentelemetry-proto's transform.
fn opentelemetry_proto_points(metrics: &ResourceMetrics) -> usize {
    use crate::metrics::metric::Data;
    let request = crate::collector::ExportMetricsServiceRequest::from(metrics);
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match m.data.as_ref() {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(e)) => e.data_points.len(),
            _ => 0,
        })
        .sum()
}
