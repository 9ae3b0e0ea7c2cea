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
//! as it is answered; the run ends after `--seconds` (default 600), or as soon as the file
//! given to `--stop-file` exists.
//!
//! `--points` also prints every data point of each acknowledged request, one `point ...`
//! line each, with its temporality, start and time (histograms with their bucket counts).
//! At the end the sink waits (up to 2 s) for its connections to close, then prints its
//! counters as one `stats ...` line and the decoded totals per series as `total ...` lines:
//! every reading of the test kit's `SeriesTotal`, and as `value`, `count` and `sum` what
//! the series says was recorded (delta points added up, a cumulative series' latest
//! point). `scripts/qemu-board.sh` reads these.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions};

fn main() -> Result<(), String> {
    let mut options = SinkOptions::default();
    let mut script: Vec<(Fault, usize)> = Vec::new();
    let mut seconds = 600u64;
    let mut stop_file: Option<PathBuf> = None;
    let mut print_points = false;
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
            "--stop-file" => stop_file = Some(PathBuf::from(value()?)),
            "--points" => print_points = true,
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
    loop {
        let stop = Instant::now() >= until || stop_file.as_ref().is_some_and(|f| f.exists());
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
            if let (true, true, Some(request)) = (print_points, r.acknowledged, &r.request) {
                print_points_of(request);
            }
        }
        shown = received.len();
        if stop {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // A peer that just finished may still be closing: give it a moment, bounded.
    sink.wait_for(Duration::from_secs(2), |s| {
        s.connections_closed >= s.connections_accepted
    });
    let stats = sink.stats();
    println!("{stats:?}");
    println!(
        "stats accepted={} closed={} requests={} decode_errors={}",
        stats.connections_accepted,
        stats.connections_closed,
        stats.requests_received,
        stats.decode_errors
    );
    for (key, t) in sink.totals() {
        println!(
            "total {}{{{}}} temporality={} points={} value_sum={} last_value={} histogram_count={} histogram_sum={} value={} count={} sum={}",
            key.metric,
            key.attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            t.temporality as i32,
            t.points,
            t.value_sum,
            t.last_value,
            t.histogram_count,
            t.histogram_sum,
            t.value(),
            t.count(),
            t.sum().map_or("none".to_string(), |s| s.to_string())
        );
    }
    Ok(())
}

/// One `point` line per data point of `request`.
fn print_points_of(request: &ExportMetricsServiceRequest) {
    let attrs = |kvs: &[KeyValue]| {
        kvs.iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    Some(any_value::Value::IntValue(i)) => i.to_string(),
                    Some(any_value::Value::BoolValue(b)) => b.to_string(),
                    Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                    other => format!("{other:?}"),
                };
                format!("{}={v}", kv.key)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let metrics = request
        .resource_metrics
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter());
    for m in metrics {
        match &m.data {
            Some(Data::Sum(sum)) => {
                for p in &sum.data_points {
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
                        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
                        None => "none".into(),
                    };
                    println!(
                        "point {}{{{}}} temporality={} start={} time={} value={value}",
                        m.name,
                        attrs(&p.attributes),
                        sum.aggregation_temporality,
                        p.start_time_unix_nano,
                        p.time_unix_nano
                    );
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &h.data_points {
                    println!(
                        "point {}{{{}}} temporality={} start={} time={} count={} sum={} buckets={}",
                        m.name,
                        attrs(&p.attributes),
                        h.aggregation_temporality,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.count,
                        p.sum.unwrap_or(0.0),
                        p.bucket_counts
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
            }
            _ => println!("point {} (kind not printed)", m.name),
        }
    }
}
