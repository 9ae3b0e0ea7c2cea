//! Run the sink from a shell to test a device or service against a bad collector.
//!
//! ```text
//! cargo run -p otlp-embedded-test-kit --example otlp_sink -- \
//!     --bind 0.0.0.0 --port 4318 --fault none --script 503=2*3,reset*1 --seconds 600
//! ```
//!
//! `--script FAULT*N,...` answers the next N requests with FAULT, step by step, then falls
//! back to `--fault`. Fault names are listed by `Fault::from_str` (`none`, `idle-close=MS`,
//! `429=SECONDS`, `503-date=SECONDS`, `trickle=BPS`, `reset`, ...). Each request is printed
//! as it is answered; the run ends after `--seconds` (default 600).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions};

fn main() -> Result<(), String> {
    let mut options = SinkOptions::default();
    let mut script: Vec<(Fault, usize)> = Vec::new();
    let mut seconds = 600u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => {
                options.bind = value()?
                    .parse::<IpAddr>()
                    .map_err(|e| format!("--bind: {e}"))?
            }
            "--port" => options.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--fault" => options.fault = value()?.parse()?,
            "--script" => {
                for step in value()?.split(',') {
                    let (fault, n) = step.rsplit_once('*').unwrap_or((step, "1"));
                    let n = n.parse().map_err(|e| format!("--script {step}: {e}"))?;
                    script.push((fault.parse()?, n));
                }
            }
            "--seconds" => seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--max-connections" => {
                options.max_connections = value()?
                    .parse()
                    .map_err(|e| format!("--max-connections: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let sink = Sink::start_with(options).map_err(|e| format!("cannot listen: {e}"))?;
    sink.script(script);
    println!("listening: {}", sink.endpoint_url());

    let until = Instant::now() + Duration::from_secs(seconds);
    let mut shown = 0;
    while Instant::now() < until {
        let received = sink.received();
        for r in received.iter().skip(shown) {
            let points: usize = r
                .request
                .iter()
                .flat_map(|q| q.resource_metrics.iter())
                .flat_map(|rm| rm.scope_metrics.iter())
                .flat_map(|sm| sm.metrics.iter())
                .map(|m| {
                    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
                    match &m.data {
                        Some(Data::Gauge(g)) => g.data_points.len(),
                        Some(Data::Sum(s)) => s.data_points.len(),
                        Some(Data::Histogram(h)) => h.data_points.len(),
                        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                        Some(Data::Summary(s)) => s.data_points.len(),
                        None => 0,
                    }
                })
                .sum();
            println!(
                "conn {} {} {} body {} B, {} points, fault {:?}, status {:?}, acknowledged {}",
                r.connection,
                r.method,
                r.path,
                r.body_len,
                points,
                r.fault,
                r.status,
                r.acknowledged
            );
        }
        shown = received.len();
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("{:?}", sink.stats());
    Ok(())
}
