//! The otlp-embedded demo: a simulated device that records four instruments on a fast tick
//! and exports them over OTLP/HTTP with core's exporter and HTTP client on the std TCP
//! transport.
//!
//! ```text
//! cargo run --release -p otlp-embedded-examples --bin demo
//! cargo run --release -p otlp-embedded-examples --bin demo -- --sink-fault '503=1,idle-close=50*all'
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 cargo run --release -p otlp-embedded-examples --bin demo
//! ```
//!
//! With no endpoint configured it starts the in-process OTLP sink, prints what the sink
//! decoded, and checks that it equals what was recorded. `--help` lists every flag.

#[path = "../demo_drivers.rs"]
mod drivers;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otlp_embedded::export::{ExportErrorKind, ExportOutcome, ExportReport, RetryPolicy};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, Scope};
use otlp_embedded::registry::{
    Instrument, InstrumentDesc, NumberKind, Observe, Registry, Snapshot,
};
use otlp_embedded::transport::{ExchangeError, TransportError};
use otlp_embedded_std::config::{
    self, Compression, Config, ConfigWarning, EndpointUrl, TemporalityPreference,
};
use otlp_embedded_std::{GzipExchange, StdClock, TcpConnector};
use otlp_embedded_test_kit::sink::{Fault, Sink};
use otlp_embedded_test_kit::totals::{AggregationTemporality, DataKind, SeriesKey, SeriesTotal};

use drivers::{DemoExporter, Driver};

const HELP: &str = "\
otlp-embedded demo: a simulated device exporting OTLP/HTTP metrics with fixed memory.

It records a temperature gauge (double), a request counter with a `status` attribute,
a latency histogram (explicit buckets) and an exponential histogram of payload sizes every
10 ms, reports its tick count through an observable counter, and exports them every interval,
printing one line per export. Instruments take their temporality from
OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (the observable counter too).

With no endpoint configured (no --endpoint, OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) it starts an OTLP sink on 127.0.0.1 in this process,
prints what the sink decoded and checks it against what was recorded.

USAGE:
    demo [--exports N] [--interval-ms MS] [--endpoint URL] [--sink-fault SPEC]
         [--driver blocking|superloop|async]

FLAGS:
    --exports N        number of exports, 1 to 10000 (default 5)
    --interval-ms MS   time between exports, recording meanwhile, 0 to 3600000 (default
                       1000, or OTEL_METRIC_EXPORT_INTERVAL)
    --endpoint URL     send to this collector; a base URL like OTEL_EXPORTER_OTLP_ENDPOINT
                       (`/v1/metrics` is appended), e.g. http://localhost:4318
    --sink-fault SPEC  make the in-process sink misbehave: comma-separated steps FAULT[*N],
                       each answering the next N requests (default 1; `*all`: every request
                       from then on), then the sink behaves. FAULT is one of: none,
                       idle-close=MS, answer-then-close, close-before-answer,
                       close-mid-headers, close-mid-body, chunked, trickle=BYTES_PER_SECOND,
                       429[=SECONDS], 503[=SECONDS], 429-date=SECONDS, 503-date=SECONDS,
                       status=CODE, 413-early, partial=REJECTED[:MESSAGE], html502, garbage,
                       endless-headers, reset. Example: 503=1,close-before-answer*2
    --driver DRIVER    how the exports are carried out, one policy for all three:
                       blocking (default: the thread sleeps through retries; TLS and
                       gzip too), superloop (one non-blocking poll per 1 ms tick of a
                       loop that keeps recording), async (awaited on a tokio runtime);
                       superloop and async speak plain http without compression
    -h, --help         this text

ENVIRONMENT (read as the OpenTelemetry specification defines them):
    OTEL_EXPORTER_OTLP[_METRICS]_ENDPOINT, OTEL_EXPORTER_OTLP[_METRICS]_HEADERS,
    OTEL_EXPORTER_OTLP[_METRICS]_TIMEOUT (per request; demo default 5000 ms),
    OTEL_METRIC_EXPORT_TIMEOUT (per export, retries included; demo default 5000 ms),
    OTEL_METRIC_EXPORT_INTERVAL (demo default 1000 ms; --interval-ms wins),
    OTEL_EXPORTER_OTLP[_METRICS]_COMPRESSION (none, gzip),
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (cumulative, delta, lowmemory),
    OTEL_EXPORTER_OTLP[_METRICS]_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY (https,
    with the `tls` feature), OTEL_SDK_DISABLED (true: export nothing),
    OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES.
    A value that cannot be used is a warning, and the default applies.

EXIT STATUS:
    0 when every export succeeded (and, with the sink, the totals matched); 1 otherwise;
    2 for a usage or configuration error.
";

/// The demo's timeouts: short, so that an unreachable collector is reported in seconds.
const DEMO_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Recording tick.
const TICK: Duration = Duration::from_millis(10);
/// The demo's interval when neither --interval-ms nor OTEL_METRIC_EXPORT_INTERVAL gives one.
const DEMO_INTERVAL: Duration = Duration::from_millis(1000);
/// Longest interval the demo waits between exports (an hour).
const MAX_INTERVAL_MS: u64 = 3_600_000;
/// Most exports one run makes.
const MAX_EXPORTS: u32 = 10_000;
/// Request buffer: several requests per export when one buffer is not enough.
const BUFFER_LEN: usize = 4096;

const STATUSES: [&str; 4] = ["200", "404", "500", "503"];
const LATENCY_BOUNDS: [f64; 8] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

// 5 instruments; series: gauge 1+1, counter 4+1, histograms 1+1 each, observable
// counter 1+1 = 13 of 16; 8 bytes of attribute values (tag + "200"); 4 histogram series;
// bucket counters: 2 x 9 explicit + 2 x (2 x 32) exponential = 146 of 160.
type DemoRegistry = Registry<5, 16, 8, 4, 160>;
type DemoSnapshot = Snapshot<5, 16, 8, 4, 160>;

/// Recording ticks so far, which the observable counter's callback reads (a callback is a
/// plain function: device state lives in statics).
static TICKS: AtomicU64 = AtomicU64::new(0);

fn observe_ticks(o: &mut dyn Observe) {
    o.observe(TICKS.load(Ordering::Relaxed).into(), &[]);
}

struct Args {
    exports: u32,
    /// From --interval-ms; else the environment's or the demo's.
    interval: Option<Duration>,
    endpoint: Option<String>,
    sink_fault: Vec<(Fault, usize)>,
    sink_fault_standing: Option<Fault>,
    driver: Driver,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        exports: 5,
        interval: None,
        endpoint: None,
        sink_fault: Vec::new(),
        sink_fault_standing: None,
        driver: Driver::Blocking,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--exports" => {
                let text = value()?;
                let n: u32 = text.parse().map_err(|e| format!("--exports: {e}"))?;
                if !(1..=MAX_EXPORTS).contains(&n) {
                    return Err(format!(
                        "--exports {text}: out of range; the demo makes 1 to {MAX_EXPORTS}"
                    ));
                }
                args.exports = n;
            }
            "--interval-ms" => {
                let text = value()?;
                let ms: u64 = text.parse().map_err(|e| format!("--interval-ms: {e}"))?;
                // Beyond this the demo would sit silent before its first export.
                if ms > MAX_INTERVAL_MS {
                    return Err(format!(
                        "--interval-ms {text}: out of range; the demo waits 0 to \
                         {MAX_INTERVAL_MS} ms between exports"
                    ));
                }
                args.interval = Some(Duration::from_millis(ms));
            }
            "--endpoint" => args.endpoint = Some(value()?),
            "--driver" => args.driver = value()?.parse()?,
            "--sink-fault" => {
                for step in value()?.split(',').filter(|s| !s.is_empty()) {
                    let (fault, count) = step.rsplit_once('*').unwrap_or((step, "1"));
                    let fault: Fault = fault.parse().map_err(|e| format!("--sink-fault: {e}"))?;
                    if count == "all" {
                        args.sink_fault_standing = Some(fault);
                        break;
                    }
                    let n = count
                        .parse()
                        .map_err(|_| format!("--sink-fault {step}: count must be N or all"))?;
                    args.sink_fault.push((fault, n));
                }
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(args))
}

/// What the demo recorded, to compare with what arrived.
#[derive(Clone, Default)]
struct Recorded {
    /// `None` until the first tick.
    last_temperature: Option<f64>,
    requests: BTreeMap<&'static str, u64>,
    latency_count: u64,
    latency_sum: f64,
    size_count: u64,
    size_sum: f64,
    /// The tick count the observable counter reports.
    ticks: u64,
}

/// The simulated device: instruments and a deterministic generator.
struct Device {
    temperature: Instrument,
    requests: Instrument,
    latency: Instrument,
    payload: Instrument,
    rng: u64,
    tick: u64,
    recorded: Recorded,
}

impl Device {
    fn declare(registry: &mut DemoRegistry, config: &Config) -> Result<Device, String> {
        // No instrument below chooses a temporality: the configured preference applies.
        registry.set_temporality_preference(config.temporality);
        let e = |e| format!("declaring instruments: {e}");
        registry
            .declare(
                InstrumentDesc::observable_counter("device.ticks", NumberKind::Int, observe_ticks)
                    .unit("{tick}")
                    .description("Recording ticks since the device started")
                    .max_series(1),
            )
            .map_err(e)?;
        Ok(Device {
            temperature: registry
                .declare(
                    InstrumentDesc::gauge_f64("device.temperature")
                        .unit("Cel")
                        .description("Board temperature")
                        .max_series(1),
                )
                .map_err(e)?,
            requests: registry
                .declare(
                    InstrumentDesc::counter_u64("device.requests")
                        .unit("{request}")
                        .description("Requests served, by status")
                        .attributes(&["status"])
                        .max_series(STATUSES.len() as u16),
                )
                .map_err(e)?,
            latency: registry
                .declare(
                    InstrumentDesc::histogram("device.request.duration")
                        .unit("ms")
                        .description("Request latency")
                        .bounds(&LATENCY_BOUNDS)
                        .max_series(1),
                )
                .map_err(e)?,
            payload: registry
                .declare(
                    InstrumentDesc::exponential_histogram("device.payload.size")
                        .unit("By")
                        .description("Payload sizes")
                        .exponential_limits(32, 20)
                        .max_series(1),
                )
                .map_err(e)?,
            rng: 0x2545_F491_4F6C_DD1D,
            tick: 0,
            recorded: Recorded::default(),
        })
    }

    fn next(&mut self) -> u64 {
        // xorshift64: deterministic, good enough to vary a demo.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// One tick of the device: a temperature reading and a few served requests.
    fn tick(&mut self, registry: &mut DemoRegistry) -> Result<(), String> {
        self.tick += 1;
        TICKS.store(self.tick, Ordering::Relaxed);
        self.recorded.ticks = self.tick;
        let e = |e| format!("recording: {e}");
        let temperature =
            21.0 + ((self.tick % 200) as f64 / 200.0 * std::f64::consts::TAU).sin() * 3.0;
        registry
            .record(self.temperature, temperature, &[])
            .map_err(e)?;
        self.recorded.last_temperature = Some(temperature);
        for _ in 0..(self.next() % 3) {
            let r = self.next();
            // Mostly 200, some errors.
            let status = STATUSES[match r % 10 {
                0..=6 => 0,
                7 => 1,
                8 => 2,
                _ => 3,
            }];
            let attrs = [KeyValue::new("status", AttributeValue::Str(status))];
            registry.record(self.requests, 1u64, &attrs).map_err(e)?;
            *self.recorded.requests.entry(status).or_default() += 1;
            // Whole milliseconds and bytes, so that float sums are exact in any order.
            let latency = (1 + (r >> 8) % 400) as f64;
            registry.record(self.latency, latency, &[]).map_err(e)?;
            self.recorded.latency_count += 1;
            self.recorded.latency_sum += latency;
            let size = (16u64 << ((r >> 20) % 8)) + (r >> 32) % 64;
            registry.record(self.payload, size as f64, &[]).map_err(e)?;
            self.recorded.size_count += 1;
            self.recorded.size_sum += size as f64;
        }
        Ok(())
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn outcome_name(outcome: ExportOutcome) -> &'static str {
    match outcome {
        ExportOutcome::Success => "success",
        ExportOutcome::PartialSuccess => "partial-success",
        ExportOutcome::Failed => "FAILED",
    }
}

/// Records, exports `args.exports` times through `exporter`, prints a line per export.
/// Returns the number of failed exports, whether a connection was refused, and what had
/// been recorded when the last export collected (what the exports can have carried).
fn run<E: DemoExporter>(
    args: &Args,
    interval: Duration,
    exporter: &mut E,
    registry: &mut DemoRegistry,
    device: &mut Device,
) -> Result<(u32, bool, Recorded), String> {
    let mut snapshot: Box<DemoSnapshot> = Box::new(Snapshot::new());
    let mut buffer = vec![0u8; BUFFER_LEN];
    let mut failed = 0;
    let mut refused = false;
    let mut collected = Recorded::default();
    for n in 1..=args.exports {
        let until = std::time::Instant::now() + interval;
        // Bounded: one tick per TICK until the interval is over.
        loop {
            device.tick(registry)?;
            let now = std::time::Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep(TICK.min(until - now));
        }
        // The export collects exactly this (a superloop records on during the export, into
        // the next one).
        collected = device.recorded.clone();
        let started = std::time::Instant::now();
        let report = exporter.export(
            &mut *registry,
            &mut snapshot,
            &mut buffer,
            unix_nanos(),
            &mut |registry| device.tick(registry),
        )?;
        print_report(
            n,
            args.exports,
            &report,
            started.elapsed(),
            exporter.last_server_message(),
        );
        if report.outcome == ExportOutcome::Failed {
            failed += 1;
        }
        refused |= [report.first_error, report.last_error].iter().any(|e| {
            matches!(
                e.map(|e| e.kind),
                Some(ExportErrorKind::Exchange(ExchangeError::Connect(
                    TransportError::Io(embedded_io::ErrorKind::ConnectionRefused)
                )))
            )
        });
    }
    let stats = exporter.stats();
    println!(
        "exporter totals: {} ok, {} failed, {} retries, {} requests delivered, {} dropped, \
         {} points sent, {} bytes sent",
        stats.exports_ok,
        stats.exports_failed,
        stats.retries,
        stats.requests_delivered,
        stats.requests_dropped,
        stats.points_sent,
        stats.bytes_sent
    );
    Ok((failed, refused, collected))
}

fn print_report(n: u32, of: u32, report: &ExportReport, took: Duration, server_said: &str) {
    let mut line = format!(
        "export {n}/{of}: {:<15} points {:>3} (sent {}, dropped {}, abandoned {})  requests {}  \
         retries {}  bytes {:>5}  {:>7.1} ms",
        outcome_name(report.outcome),
        report.points_collected,
        report.points_sent,
        report.points_dropped,
        report.points_abandoned,
        report.requests,
        report.retries,
        report.bytes_sent,
        took.as_secs_f64() * 1000.0
    );
    if report.points_rejected > 0 {
        let _ = write!(line, "  rejected {}", report.points_rejected);
    }
    if let Some(error) = report.last_error {
        let _ = write!(line, "  last error: {error}");
        if let Some(first) = report.first_error.filter(|f| *f != error) {
            let _ = write!(line, " (first: {first})");
        }
        let message = server_said;
        if !message.is_empty() {
            let _ = write!(line, " (server said: {message:?})");
        }
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
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    match demo(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether the value `config` holds for a setting came from one of `variables` (set, and
/// not warned about and so ignored) rather than from a default.
fn from_variables(
    config: &Config,
    lookup: &impl Fn(&str) -> Option<String>,
    variables: &[&str],
) -> bool {
    variables.iter().any(|name| {
        lookup(name).is_some_and(|v| !v.trim().is_empty())
            && !config.warnings.iter().any(|w| w.variable == *name)
    })
}

fn demo(args: Args) -> Result<bool, String> {
    // A flag's value is reported as the flag, not as the variable it stands in for.
    if let Some(url) = &args.endpoint {
        EndpointUrl::parse("--endpoint", url)
            .map_err(|e| format!("--endpoint {:?}: {}", e.value, e.problem))?;
    }
    // The environment, with --endpoint standing in for OTEL_EXPORTER_OTLP_ENDPOINT.
    let lookup = |name: &str| {
        if let Some(url) = &args.endpoint {
            if name == config::ENDPOINT {
                return Some(url.clone());
            }
            if name == config::METRICS_ENDPOINT {
                return None;
            }
        }
        std::env::var(name).ok()
    };
    let mut config = Config::from_lookup(lookup).map_err(|e| e.to_string())?;
    let use_sink = !from_variables(
        &config,
        &lookup,
        &[config::ENDPOINT, config::METRICS_ENDPOINT],
    );
    if !use_sink && (!args.sink_fault.is_empty() || args.sink_fault_standing.is_some()) {
        return Err("--sink-fault applies only to the in-process sink (no endpoint)".into());
    }

    // The demo's own defaults where the variables gave nothing usable; the warnings say so.
    let demo_default = |d: Duration| format!("{} ms (the demo's default)", d.as_millis());
    let timeout_set = from_variables(
        &config,
        &lookup,
        &[config::METRICS_TIMEOUT, config::TIMEOUT],
    );
    let request_timeout = if timeout_set {
        config.timeout
    } else {
        DEMO_TIMEOUT
    };
    let export_timeout_set = from_variables(&config, &lookup, &[config::EXPORT_TIMEOUT]);
    let export_timeout = if export_timeout_set {
        config.export_timeout
    } else {
        DEMO_TIMEOUT
    };
    let interval = match args.interval {
        Some(flag) => flag,
        None if from_variables(&config, &lookup, &[config::EXPORT_INTERVAL]) => {
            if config.export_interval > Duration::from_millis(MAX_INTERVAL_MS) {
                config.warnings.push(ConfigWarning {
                    variable: config::EXPORT_INTERVAL,
                    value: lookup(config::EXPORT_INTERVAL).unwrap_or_default(),
                    problem: format!("more than the demo waits ({MAX_INTERVAL_MS} ms)"),
                    instead: String::new(),
                });
                DEMO_INTERVAL
            } else {
                config.export_interval
            }
        }
        None => DEMO_INTERVAL,
    };
    for warning in config.warnings.iter_mut() {
        match warning.variable {
            config::METRICS_TIMEOUT | config::TIMEOUT if !timeout_set => {
                warning.instead = demo_default(DEMO_TIMEOUT);
            }
            config::EXPORT_TIMEOUT => warning.instead = demo_default(DEMO_TIMEOUT),
            config::EXPORT_INTERVAL => {
                warning.instead = match args.interval {
                    Some(flag) => format!("{} ms from --interval-ms", flag.as_millis()),
                    None => demo_default(DEMO_INTERVAL),
                }
            }
            _ => {}
        }
        eprintln!("demo: warning: {warning}");
    }
    if config.sdk_disabled {
        println!(
            "demo: {}=true: the SDK is disabled; nothing is recorded or exported",
            config::SDK_DISABLED
        );
        return Ok(true);
    }

    if args.driver != Driver::Blocking {
        // The superloop and async transports of this demo are plain TCP.
        if config.endpoint.scheme == otlp_embedded::transport::Scheme::Https {
            return Err(format!(
                "--driver {}: an https endpoint needs the blocking driver (TLS)",
                args.driver.name()
            ));
        }
        if config.compression == Compression::Gzip {
            return Err(format!(
                "--driver {}: gzip compression needs the blocking driver",
                args.driver.name()
            ));
        }
    }

    let sink = if use_sink {
        let sink = Sink::start().map_err(|e| format!("cannot start the sink: {e}"))?;
        sink.script(args.sink_fault.iter().cloned());
        if let Some(fault) = &args.sink_fault_standing {
            sink.set_fault(fault.clone());
        }
        config.endpoint = EndpointUrl::parse("sink", &sink.endpoint_url())
            .map_err(|e| format!("the sink's own URL: {e}"))?;
        Some(sink)
    } else {
        None
    };

    let url = config.endpoint.to_string();
    let temporality = match config.temporality {
        TemporalityPreference::Cumulative => "cumulative",
        TemporalityPreference::Delta => "delta",
        TemporalityPreference::LowMemory => {
            "lowmemory (delta counters and histograms, cumulative observable counter)"
        }
    };
    let compression = match config.compression {
        Compression::None => "none",
        Compression::Gzip => "gzip",
    };
    println!(
        "demo: {} exports every {} ms to {url}{}; temporality {temporality}; \
         compression {compression}; timeouts {} ms per request, {} ms per export; \
         driver {}",
        args.exports,
        interval.as_millis(),
        if sink.is_some() {
            " (in-process sink)"
        } else {
            ""
        },
        request_timeout.as_millis(),
        export_timeout.as_millis(),
        args.driver.name(),
    );

    // The demo's own timeouts where the variables set none (above), then the one
    // conversion to core's configuration.
    config.timeout = request_timeout;
    config.export_timeout = export_timeout;
    let parts = config.exporter_parts();
    let scope = Scope::new("otlp-embedded-demo").with_version(env!("CARGO_PKG_VERSION"));
    let mut exporter_config = parts.exporter_config(scope);
    // A quick first retry so that the demo shows retries within its short deadline.
    exporter_config.retry = RetryPolicy::new().with_initial_backoff_ms(250);
    exporter_config.jitter_seed = unix_nanos() | 1;

    let mut registry: Box<DemoRegistry> = Box::new(Registry::new(unix_nanos()));
    let mut device = Device::declare(&mut registry, &config)?;
    let clock = StdClock::new();
    let (failed, refused, collected) = match (args.driver, config.compression) {
        (Driver::Blocking, Compression::None) => {
            let exchange: HttpClient<DemoConnector, StdClock> =
                HttpClient::new(connector(&config, clock)?, clock);
            let mut exporter = drivers::Blocking::new(exporter_config, exchange, clock);
            run(&args, interval, &mut exporter, &mut registry, &mut device)?
        }
        (Driver::Blocking, Compression::Gzip) => {
            let exchange: HttpClient<DemoConnector, StdClock> =
                HttpClient::new(connector(&config, clock)?, clock);
            let mut gzip = GzipExchange::new(exchange);
            gzip.reserve(BUFFER_LEN);
            let mut exporter = drivers::Blocking::new(exporter_config, gzip, clock);
            run(&args, interval, &mut exporter, &mut registry, &mut device)?
        }
        (Driver::Superloop, _) => {
            let mut exporter = drivers::Superloop::new(exporter_config, clock);
            let result = run(&args, interval, &mut exporter, &mut registry, &mut device)?;
            println!(
                "superloop: {} polls, none waiting (one per 1 ms tick)",
                exporter.polls
            );
            result
        }
        (Driver::Async, _) => {
            let mut exporter = drivers::Async::new(exporter_config)?;
            run(&args, interval, &mut exporter, &mut registry, &mut device)?
        }
    };

    let mut ok = failed == 0;
    if failed > 0 {
        println!("{failed} of {} exports failed", args.exports);
        if refused {
            let e = config.endpoint();
            println!(
                "connection refused: nothing is listening at {}:{} (start a collector there, \
                 or run without an endpoint to use the in-process sink)",
                e.host, e.port
            );
        }
    }
    if let Some(sink) = sink {
        if config.compression == Compression::Gzip {
            // What arrived, as the sink saw it on the wire.
            let received = sink.received();
            let gzip = received
                .iter()
                .filter(|r| r.header("content-encoding") == Some("gzip"))
                .count();
            println!(
                "sink: {gzip} of {} requests arrived with Content-Encoding: gzip",
                received.len()
            );
        }
        ok &= report_sink(&sink, &collected);
    }
    Ok(ok)
}

/// Plain TCP; with the `tls` feature, TLS too for `https` endpoints.
#[cfg(feature = "tls")]
type DemoConnector = otlp_embedded_std::tls::SchemeConnector<TcpConnector>;
/// Plain TCP; with the `tls` feature, TLS too for `https` endpoints.
#[cfg(not(feature = "tls"))]
type DemoConnector = TcpConnector;

/// The stream transport for `config`'s endpoint.
fn connector(config: &Config, clock: StdClock) -> Result<DemoConnector, String> {
    let tcp = TcpConnector::new(clock);
    #[cfg(feature = "tls")]
    {
        let _ = config;
        let tls = otlp_embedded_std::tls::TlsOptions::from_env()
            .client_config()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        Ok(otlp_embedded_std::tls::SchemeConnector::new(tcp, tls))
    }
    #[cfg(not(feature = "tls"))]
    {
        if config.endpoint.scheme == otlp_embedded::transport::Scheme::Https {
            return Err(
                "https endpoint: build the demo with `--features tls` (rustls) to use it".into(),
            );
        }
        Ok(tcp)
    }
}

/// What a series' exported points must add up to.
#[derive(Clone, Copy, Debug)]
enum Expected {
    /// A gauge's last reading or a counter's total.
    Value(f64),
    /// A histogram's measurement count and sum.
    Distribution { count: u64, sum: f64 },
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Value(v) => write!(f, "{v}"),
            Expected::Distribution { count, sum } => write!(f, "count {count}, sum {sum}"),
        }
    }
}

impl Recorded {
    /// Every series the device recorded into, with what its points must add up to; an
    /// instrument that recorded nothing has no series.
    fn expected(&self) -> BTreeMap<SeriesKey, Expected> {
        let mut out = BTreeMap::new();
        if let Some(t) = self.last_temperature {
            out.insert(
                SeriesKey::new("device.temperature", &[]),
                Expected::Value(t),
            );
        }
        if self.ticks > 0 {
            out.insert(
                SeriesKey::new("device.ticks", &[]),
                Expected::Value(self.ticks as f64),
            );
        }
        for (status, n) in &self.requests {
            out.insert(
                SeriesKey::new("device.requests", &[("status", status)]),
                Expected::Value(*n as f64),
            );
        }
        for (name, count, sum) in [
            (
                "device.request.duration",
                self.latency_count,
                self.latency_sum,
            ),
            ("device.payload.size", self.size_count, self.size_sum),
        ] {
            if count > 0 {
                out.insert(
                    SeriesKey::new(name, &[]),
                    Expected::Distribution { count, sum },
                );
            }
        }
        out
    }
}

/// `status=200,...`: a series' attributes as the table shows them.
fn attributes_text(key: &SeriesKey) -> String {
    let parts: Vec<String> = key
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.join(",")
}

/// `name{status=200}` (or just `name`): a series in a mismatch line.
fn series_text(key: &SeriesKey) -> String {
    if key.attributes.is_empty() {
        key.metric.clone()
    } else {
        format!("{}{{{}}}", key.metric, attributes_text(key))
    }
}

fn kind_text(total: &SeriesTotal) -> String {
    let kind = match total.kind {
        DataKind::Gauge => "gauge",
        DataKind::Sum => "sum",
        DataKind::Histogram => "histogram",
        DataKind::ExponentialHistogram => "exp. histogram",
        DataKind::Summary => "summary",
    };
    match total.temporality {
        AggregationTemporality::Delta => format!("{kind} (delta)"),
        AggregationTemporality::Cumulative => format!("{kind} (cumulative)"),
        AggregationTemporality::Unspecified => kind.to_string(),
    }
}

/// What is wrong with `got` given that `want` was recorded, if anything.
fn mismatch(name: &str, got: Option<&SeriesTotal>, want: Expected) -> Vec<String> {
    let Some(got) = got else {
        return vec![format!("{name}: sink has nothing, recorded {want}")];
    };
    let mut out = Vec::new();
    if got.shape_changes > 0 {
        out.push(format!(
            "{name}: {} point(s) changed kind or temporality",
            got.shape_changes
        ));
    }
    match want {
        Expected::Value(v) if got.value() != v => {
            out.push(format!("{name}: sink has {}, recorded {v}", got.value()))
        }
        Expected::Distribution { count, sum } => {
            if got.count() != count {
                out.push(format!(
                    "{name} count: sink has {}, recorded {count}",
                    got.count()
                ));
            }
            match got.sum() {
                Some(got) if got == sum => {}
                Some(got) => out.push(format!("{name} sum: sink has {got}, recorded {sum}")),
                None => out.push(format!("{name} sum: sink has no sum, recorded {sum}")),
            }
        }
        Expected::Value(_) => {}
    }
    out
}

/// Prints what the sink decoded and its connection counts, and checks its totals against
/// `recorded`, what the device had recorded when the last export collected. Returns
/// whether they match.
fn report_sink(sink: &Sink, recorded: &Recorded) -> bool {
    // The sink's connection threads count a close when they notice it; give them a moment.
    sink.wait_for(Duration::from_secs(2), |s| {
        s.connections_closed >= s.connections_accepted
    });
    let series = sink.totals();
    println!();
    println!("what the sink decoded (acknowledged requests only):");
    println!(
        "{:<26} {:<14} {:<28} {:>8} {:>12} {:>14} {:>6}",
        "metric", "attributes", "kind", "value", "count", "sum", "points"
    );
    for (key, total) in &series {
        let (value, count, sum) = match total.kind {
            DataKind::Gauge | DataKind::Sum => (
                format!("{:.3}", total.value()),
                String::from("-"),
                String::from("-"),
            ),
            _ => (
                String::from("-"),
                total.count().to_string(),
                total.sum().map_or(String::from("-"), |s| s.to_string()),
            ),
        };
        println!(
            "{:<26} {:<14} {:<28} {value:>8} {count:>12} {sum:>14} {:>6}",
            key.metric,
            attributes_text(key),
            kind_text(total),
            total.points
        );
    }
    let stats = sink.stats();
    let most = stats
        .requests_per_connection
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    println!(
        "sink: {} connections accepted, {} closed, {} requests received, {} answered 2xx, \
         {} undecodable, at most {most} request(s) on one connection",
        stats.connections_accepted,
        stats.connections_closed,
        stats.requests_received,
        stats.requests_answered_2xx,
        stats.decode_errors,
    );

    let expected = recorded.expected();
    let mut mismatches: Vec<String> = expected
        .iter()
        .flat_map(|(key, want)| mismatch(&series_text(key), series.get(key), *want))
        .collect();
    for key in series.keys().filter(|k| !expected.contains_key(*k)) {
        mismatches.push(format!(
            "{}: sink has a series the demo never recorded into",
            series_text(key)
        ));
    }
    println!();
    if mismatches.is_empty() {
        println!("verified: sink totals match recorded totals");
        true
    } else {
        println!("MISMATCH between what the sink decoded and what the demo recorded:");
        for m in &mismatches {
            println!("  {m}");
        }
        println!(
            "  (a failed export leaves its delta data for the next one; a request the sink \
             kept but whose answer was lost is sent again: delivery is at least once)"
        );
        false
    }
}
