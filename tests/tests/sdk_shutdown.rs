//! The SDK bridge against a collector that accepts connections and never answers:
//! `SdkMeterProvider::shutdown` returns within 5.1 s (the SDK waits 5 s for its reader's
//! final export), each export ends by `OTEL_EXPORTER_OTLP_TIMEOUT`, and every connection
//! the exporter opened is closed by then, whatever the collector does.
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use otlp_embedded_std::config::Config;
use otlp_embedded_std::sdk::MetricExporter;

/// Accepts every connection and keeps it, reading nothing and answering nothing.
struct Silent {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<(Instant, TcpStream)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
            thread::spawn(move || {
                // Bounded: the test stops it, and it gives up after a minute regardless.
                let until = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    match listener.accept() {
                        Ok((stream, _)) => accepted.lock().unwrap().push((Instant::now(), stream)),
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Silent {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// How long after being accepted each connection was closed by the exporter (FIN or
    /// RST), reading what it sent; `None` for one still open `wait` from now.
    fn closed_after(&self, wait: Duration) -> Vec<Option<Duration>> {
        let until = Instant::now() + wait;
        let mut out = Vec::new();
        for (accepted, stream) in self.accepted.lock().unwrap().iter_mut() {
            let mut buf = [0u8; 16 * 1024];
            let closed = loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break None;
                }
                stream.set_read_timeout(Some(left)).unwrap();
                match stream.read(&mut buf) {
                    Ok(0) => break Some(accepted.elapsed()),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        break Some(accepted.elapsed())
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => panic!("{e}"),
                }
            };
            out.push(closed);
        }
        out
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A provider exporting to `collector` through the bridge, `timeout_ms` as
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (unset: the default 10 s), with one counter recorded.
fn provider(
    collector: &Silent,
    timeout_ms: Option<&str>,
) -> (SdkMeterProvider, otlp_embedded_std::sdk::ExportStatsHandle) {
    let endpoint = format!("http://{}/v1/metrics", collector.addr);
    let timeout = timeout_ms.map(str::to_string);
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_EXPORTER_OTLP_TIMEOUT" => timeout.clone(),
        _ => None,
    })
    .unwrap();
    let exporter = MetricExporter::builder()
        .with_config(config)
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    provider
        .meter("silent")
        .u64_counter("c")
        .build()
        .add(1, &[]);
    (provider, stats)
}

#[test]
fn shutdown_returns_within_5_1_s_with_the_default_timeout() {
    let collector = Silent::start();
    let (provider, stats) = provider(&collector, None);
    let started = Instant::now();
    let result = provider.shutdown();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(5100), "shutdown took {took:?}");
    // The SDK stopped waiting at 5 s; the exporter is still in its 10 s export.
    assert!(result.is_err(), "{result:?}");
    // The export ends by its deadline and closes its connection: exactly one, closed
    // 10 s after it was opened (the request timeout; measured from the listener's accept,
    // which polls), not left open.
    let closed = collector.closed_after(Duration::from_secs(8));
    assert_eq!(closed.len(), 1, "one connection");
    let after = closed[0].expect("closed by the exporter");
    assert!(
        after >= Duration::from_millis(9_500) && after < Duration::from_millis(11_000),
        "{after:?}"
    );
    assert!(stats.wait_for_exports(1, Duration::from_secs(2)));
    let report = stats.last_report().unwrap();
    assert_eq!(
        (
            report.points_collected,
            report.points_sent,
            report.points_abandoned
        ),
        (1, 0, 1)
    );
}

#[test]
fn each_export_ends_by_the_configured_timeout() {
    let collector = Silent::start();
    let (provider, stats) = provider(&collector, Some("1500"));
    let started = Instant::now();
    let result = provider.shutdown();
    let took = started.elapsed();
    // The final export gave up at its 1.5 s deadline; the reader reports the failure.
    assert!(result.is_err(), "{result:?}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert_eq!(stats.exports(), 1);
    let report = stats.last_report().unwrap();
    assert_eq!(report.points_abandoned, 1);
    // Its connection is already closed.
    let closed = collector.closed_after(Duration::from_millis(500));
    assert!(
        !closed.is_empty() && closed.iter().all(Option::is_some),
        "{closed:?}"
    );
}
