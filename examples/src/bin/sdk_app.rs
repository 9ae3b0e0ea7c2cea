//! An application instrumented through the `opentelemetry` API, exporting through
//! otlp-embedded-std's `opentelemetry_sdk` bridge, or with `--exporter otlp` through
//! opentelemetry-otlp's HTTP exporter, for side-by-side runs against the same collector.
//!
//! ```text
//! cargo run --release -p otlp-embedded-examples --bin sdk_app
//! cargo run --release -p otlp-embedded-examples --bin sdk_app -- --exporter otlp --exports 20 --interval-ms 200
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 cargo run --release -p otlp-embedded-examples --bin sdk_app
//! ```
//!
//! With no endpoint configured it starts the test kit's OTLP sink in this process and
//! checks that the request counts arrived. `--help` lists every flag.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use otlp_embedded::export::ExportReport;
use otlp_embedded_std::config::{self, Config};
use otlp_embedded_std::sdk::{ExportStatsHandle, MetricExporter};
use otlp_embedded_test_kit::sink::Sink;
use otlp_embedded_test_kit::totals::AggregationTemporality;

const HELP: &str = "\
sdk_app: a service instrumented with the opentelemetry API, exporting OTLP/HTTP through
otlp-embedded-std's opentelemetry_sdk bridge (or opentelemetry-otlp's exporter).

It counts requests by route, records their latency in a histogram and reports a queue
depth through an observable gauge, recording every 10 ms; the SDK's PeriodicReader exports
every interval, the last export being the one the provider's shutdown makes. One line is
printed per export. The reader's timer is its own: when an export outlasts the interval,
the next one may start before the shutdown's, and that extra export gets its line too.

With no endpoint configured (no --endpoint, OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) it starts an OTLP sink on 127.0.0.1 in this process
and checks that the request counts it received equal those recorded.

USAGE:
    sdk_app [--exporter otlp-embedded|otlp] [--exports N] [--interval-ms MS] [--endpoint URL]

FLAGS:
    --exporter NAME    otlp-embedded (default): this project's bridge; otlp:
                       opentelemetry-otlp's HTTP exporter (protobuf, its default client)
    --exports N        number of exports, 1 to 10000 (default 5)
    --interval-ms MS   time between exports, 1 to 3600000 (default 1000, or
                       OTEL_METRIC_EXPORT_INTERVAL)
    --endpoint URL     send to this collector; a base URL like OTEL_EXPORTER_OTLP_ENDPOINT
                       (`/v1/metrics` is appended), e.g. http://localhost:4318
    -h, --help         this text

ENVIRONMENT: the OTEL_* variables, read by the chosen exporter (endpoint, headers,
timeout, compression, temporality preference, certificates) and by the SDK (service name,
resource attributes).

EXIT STATUS:
    0 when every export succeeded (and, with the in-process sink, the counts matched);
    1 otherwise; 2 for a usage or configuration error.
";

/// Recording tick.
const TICK: Duration = Duration::from_millis(10);
const DEFAULT_INTERVAL: Duration = Duration::from_millis(1000);
const MAX_INTERVAL_MS: u64 = 3_600_000;
const MAX_EXPORTS: u32 = 10_000;
const ROUTES: [&str; 3] = ["/checkout", "/search", "/health"];

#[derive(Copy, Clone, PartialEq, Eq)]
enum Which {
    Embedded,
    Otlp,
}

struct Args {
    exporter: Which,
    exports: u32,
    interval: Option<Duration>,
    endpoint: Option<String>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        exporter: Which::Embedded,
        exports: 5,
        interval: None,
        endpoint: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--exporter" => {
                args.exporter = match value()?.as_str() {
                    "otlp-embedded" => Which::Embedded,
                    "otlp" => Which::Otlp,
                    other => {
                        return Err(format!("--exporter {other:?}: one of otlp-embedded, otlp"))
                    }
                }
            }
            "--exports" => {
                let text = value()?;
                let n: u32 = text.parse().map_err(|e| format!("--exports: {e}"))?;
                if !(1..=MAX_EXPORTS).contains(&n) {
                    return Err(format!("--exports {text}: 1 to {MAX_EXPORTS}"));
                }
                args.exports = n;
            }
            "--interval-ms" => {
                let text = value()?;
                let ms: u64 = text.parse().map_err(|e| format!("--interval-ms: {e}"))?;
                // The SDK's reader needs a non-zero interval.
                if !(1..=MAX_INTERVAL_MS).contains(&ms) {
                    return Err(format!("--interval-ms {text}: 1 to {MAX_INTERVAL_MS}"));
                }
                args.interval = Some(Duration::from_millis(ms));
            }
            "--endpoint" => args.endpoint = Some(value()?),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(args))
}

/// How one export ended, as the application saw it.
struct Outcome {
    result: Result<(), String>,
    took: Duration,
}

/// The outcomes of every export, for the application: the reader owns the exporter.
#[derive(Default)]
struct Outcomes {
    list: Mutex<Vec<Outcome>>,
    changed: Condvar,
}

impl Outcomes {
    /// Wait until `count` exports have ended, at most `timeout`; how many have.
    fn wait_for(&self, count: usize, timeout: Duration) -> usize {
        let until = Instant::now() + timeout;
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        while list.len() < count {
            let now = Instant::now();
            if now >= until {
                break;
            }
            list = match self.changed.wait_timeout(list, until - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        list.len()
    }
}

/// Any exporter, timed and its results kept in [`Outcomes`].
struct Observed<E> {
    inner: E,
    outcomes: Arc<Outcomes>,
}

impl<E: PushMetricExporter> PushMetricExporter for Observed<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let started = Instant::now();
        let result = self.inner.export(metrics).await;
        let outcome = Outcome {
            result: result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            took: started.elapsed(),
        };
        self.outcomes
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(outcome);
        self.outcomes.changed.notify_all();
        result
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// One line for export `n` of `of`; `report` is the bridge's account of it.
fn print_line(n: usize, of: u32, outcome: &Outcome, report: Option<ExportReport>) {
    let ms = outcome.took.as_secs_f64() * 1000.0;
    let status = match &outcome.result {
        Ok(()) => "ok",
        Err(_) => "FAILED",
    };
    let mut line = format!("export {n}/{of}: {status:<6} {ms:>8.1} ms");
    if let Some(r) = report {
        line.push_str(&format!(
            "  points {} (sent {}, rejected {})  requests {}  retries {}  bytes {}",
            r.points_collected,
            r.points_sent,
            r.points_rejected,
            r.requests,
            r.retries,
            r.bytes_sent
        ));
    }
    if let Err(e) = &outcome.result {
        line.push_str(&format!("  error: {e}"));
    }
    println!("{line}");
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sdk_app: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sdk_app: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether one of `variables` is set to something.
fn set(variables: &[&str]) -> bool {
    variables
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

fn run(args: Args) -> Result<bool, String> {
    // --endpoint stands in for OTEL_EXPORTER_OTLP_ENDPOINT; with no endpoint at all, the
    // in-process sink.
    let sink = if args.endpoint.is_none() && !set(&[config::ENDPOINT, config::METRICS_ENDPOINT]) {
        Some(Sink::start().map_err(|e| format!("starting the sink: {e}"))?)
    } else {
        None
    };
    let base = match (&sink, &args.endpoint) {
        (Some(sink), _) => Some(sink.base_url()),
        (None, Some(url)) => Some(url.clone()),
        (None, None) => None,
    };
    let lookup = |name: &str| match (&base, name) {
        (Some(url), config::ENDPOINT) => Some(url.clone()),
        (Some(_), config::METRICS_ENDPOINT) => None,
        _ => std::env::var(name).ok(),
    };
    // A flag's value is reported as the flag, not as the variable it stands in for.
    if let Some(url) = &args.endpoint {
        config::EndpointUrl::parse("--endpoint", url)
            .map_err(|e| format!("--endpoint {:?}: {}", e.value, e.problem))?;
    }
    let config = Config::from_lookup(lookup).map_err(|e| e.to_string())?;
    let interval = args.interval.unwrap_or(if set(&[config::EXPORT_INTERVAL]) {
        config.export_interval
    } else {
        DEFAULT_INTERVAL
    });
    let endpoint = config.endpoint.to_string();

    let outcomes = Arc::new(Outcomes::default());
    let mut stats: Option<ExportStatsHandle> = None;
    let provider = match args.exporter {
        Which::Embedded => {
            let exporter = MetricExporter::builder()
                .with_http()
                .with_config(config)
                .build()
                .map_err(|e| e.to_string())?;
            stats = Some(exporter.stats());
            let observed = Observed {
                inner: exporter,
                outcomes: Arc::clone(&outcomes),
            };
            provider_with(observed, interval)
        }
        Which::Otlp => {
            let mut builder = opentelemetry_otlp::MetricExporter::builder().with_http();
            if base.is_some() {
                builder = builder.with_endpoint(endpoint.clone());
            }
            let exporter = builder.build().map_err(|e| e.to_string())?;
            let observed = Observed {
                inner: exporter,
                outcomes: Arc::clone(&outcomes),
            };
            provider_with(observed, interval)
        }
    };
    let name = match args.exporter {
        Which::Embedded => "otlp-embedded-std",
        Which::Otlp => "opentelemetry-otlp",
    };
    println!(
        "sdk_app: {} exports every {} ms through {name} to {endpoint}",
        args.exports,
        interval.as_millis()
    );

    let meter = provider.meter("sdk_app");
    let requests = meter
        .u64_counter("app.requests")
        .with_unit("{request}")
        .with_description("Requests served, by route")
        .build();
    let latency = meter
        .f64_histogram("app.request.duration")
        .with_unit("ms")
        .with_boundaries(vec![5.0, 10.0, 25.0, 50.0, 100.0, 250.0])
        .build();
    let queue = Arc::new(AtomicU64::new(0));
    let observed_queue = Arc::clone(&queue);
    let _gauge = meter
        .u64_observable_gauge("app.queue.depth")
        .with_callback(move |o| o.observe(observed_queue.load(Ordering::Relaxed), &[]))
        .build();

    // Record until the reader has made all but the last export; the shutdown makes that.
    let mut recorded = [0u64; ROUTES.len()];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut printed = 0usize;
    let periodic = args.exports as usize - 1;
    // Bounded: each export has an interval plus its exporter's timeout (10 s by default).
    let per_export = interval + Duration::from_secs(40);
    let mut deadline = Instant::now() + per_export;
    while printed < periodic {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let route = (rng % ROUTES.len() as u64) as usize;
        requests.add(1, &[KeyValue::new("route", ROUTES[route])]);
        recorded[route] += 1;
        latency.record((1 + (rng >> 8) % 300) as f64, &[]);
        queue.store((rng >> 32) % 50, Ordering::Relaxed);
        std::thread::sleep(TICK);
        let done = outcomes.wait_for(printed + 1, Duration::ZERO).min(periodic);
        while printed < done {
            printed += 1;
            print_outcome(&outcomes, printed, args.exports, stats.as_ref());
            deadline = Instant::now() + per_export;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "export {} did not end within {per_export:?}",
                printed + 1
            ));
        }
    }
    // The last export: the provider's shutdown collects and exports once more.
    let shutdown = provider.shutdown();
    let finished = outcomes.wait_for(args.exports as usize, Duration::from_secs(1));
    let mut all_ok = finished >= args.exports as usize;
    if finished > printed {
        // Every export the reader made, one more than asked included (see HELP).
        while printed < finished {
            printed += 1;
            print_outcome(&outcomes, printed, args.exports, stats.as_ref());
        }
    } else {
        println!(
            "export {}/{}: did not end: {shutdown:?}",
            args.exports, args.exports
        );
    }
    all_ok &= outcomes
        .list
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .all(|o| o.result.is_ok());
    if let Some(stats) = &stats {
        let t = stats.totals();
        println!(
            "exporter totals: {} ok, {} failed, {} retries, {} requests delivered, {} points \
             sent, {} bytes sent",
            t.exports_ok,
            t.exports_failed,
            t.retries,
            t.requests_delivered,
            t.points_sent,
            t.bytes_sent
        );
    }
    if let Some(sink) = &sink {
        all_ok &= check_sink(sink, &recorded, all_ok);
    }
    Ok(all_ok)
}

/// A meter provider whose periodic reader exports through `exporter` every `interval`.
fn provider_with<E: PushMetricExporter>(exporter: E, interval: Duration) -> SdkMeterProvider {
    let reader = PeriodicReader::builder(exporter)
        .with_interval(interval)
        .build();
    SdkMeterProvider::builder().with_reader(reader).build()
}

fn print_outcome(outcomes: &Outcomes, n: usize, of: u32, stats: Option<&ExportStatsHandle>) {
    let list = outcomes.list.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(outcome) = list.get(n - 1) {
        print_line(n, of, outcome, stats.and_then(|s| s.report(n as u64)));
    }
}

/// Print what the sink received; with every export delivered, check the request counts.
fn check_sink(sink: &Sink, recorded: &[u64; ROUTES.len()], delivered: bool) -> bool {
    let st = sink.stats();
    println!(
        "sink: {} requests read, {} acknowledged, {} duplicates, {} connections",
        st.requests_received,
        st.requests_answered_2xx,
        st.duplicate_requests,
        st.connections_accepted
    );
    if !delivered {
        return false;
    }
    let mut ok = true;
    for (route, &count) in ROUTES.iter().zip(recorded) {
        let total = sink.total("app.requests", &[("route", route)]);
        let arrived = total.map_or(0.0, |t| match t.temporality {
            AggregationTemporality::Delta => t.value_sum,
            _ => t.last_value,
        });
        if arrived != count as f64 {
            println!("sink: app.requests{{route={route}}}: recorded {count}, arrived {arrived}");
            ok = false;
        }
    }
    if ok {
        println!("verified: the sink's request counts equal those recorded");
    }
    ok
}
