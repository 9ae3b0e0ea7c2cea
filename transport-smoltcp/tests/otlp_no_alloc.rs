//! 500 OTLP exports through `firmware::export_once` over the in-memory network allocate
//! nothing once warm: record into the registry, collect, encode, HTTP exchange over the
//! smoltcp socket, settle. Afterwards every socket is `Closed`/`TimeWait` and reusable.
//! The simulated network itself (devices, server) does not allocate after warm-up, so any
//! allocation counted would come from the library or smoltcp.
//!
//! Its own test binary (`harness = false`): a counting global allocator sees only this
//! thread's work.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_smoltcp::firmware::{export_once, Stack};
use otlp_embedded_smoltcp::{Blocking, TcpClient};
use prost::Message;
use smoltcp::socket::tcp::State;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

type Reg = Registry<4, 16, 24, 4, 64>;
type Snap = Snapshot<4, 16, 24, 4, 64>;
const EPOCH_NS: u64 = 1_700_000_000_000_000_000;
const ROUTES: [&str; 3] = ["/a", "/bb", "/ccc"];

fn main() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 4, 31337);
    let mut reg = Reg::new(EPOCH_NS);
    let requests = reg
        .declare(
            InstrumentDesc::counter_u64("http.requests")
                .attributes(&["route"])
                .max_series(4)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let latency = reg
        .declare(
            InstrumentDesc::histogram("http.latency")
                .bounds(&[10.0, 100.0])
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let header = RequestHeader::new(Resource::new(&[]), Scope::new("no-alloc"));
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: "10.0.0.2",
        port: SERVER_PORT,
        path: "/v1/metrics",
    };
    let config = ExporterConfig::new(endpoint, header);

    let mut one = |net: &mut Net<PipeDevice>, i: u64| {
        // One route per export (round robin), plus one latency sample.
        let route = ROUTES[(i % 3) as usize];
        let attrs = [KeyValue::new("route", AttributeValue::Str(route))];
        reg.record(requests, i + 1, &attrs).unwrap();
        reg.record(latency, (i % 150) as f64, &[]).unwrap();
        net.settle(1_000);
        let served = net.server.served;
        let unix_now = EPOCH_NS + net.clock.now().as_millis() * 1_000_000;
        let report = export_once(
            net.stack(),
            &mut reg,
            &mut snapshot,
            &mut buffer,
            config,
            unix_now,
        );
        assert_eq!(report.outcome, ExportOutcome::Success, "export {i}");
        assert_eq!(
            (report.points_sent, report.requests_delivered),
            (2, 1),
            "export {i}"
        );
        assert_eq!(net.server.served, served + 1, "export {i}");
        assert_eq!(net.server.last_request.len() as u64, report.bytes_sent);
        let st = net.client_state();
        assert!(
            matches!(st, State::Closed | State::TimeWait),
            "export {i}: {st:?}"
        );
    };

    for i in 0..20 {
        one(&mut net, i);
    }
    let before = allocations();
    assert!(
        before > 0,
        "the counter sees the set-up's allocations, so it is live"
    );
    let served_before = net.server.served;
    for i in 20..520 {
        one(&mut net, i);
    }
    let allocations = allocations() - before;
    assert_eq!(net.server.served - served_before, 500);
    assert_eq!(allocations, 0, "allocations during 500 exports");

    // The last request decodes to the last export's values (export 519: route "/a" as
    // 519 % 3 == 0, value 520; latency 519 % 150 = 69). Routes without a measurement since
    // their last commit carry no point.
    let request = &net.server.last_request;
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = ExportMetricsServiceRequest::decode(&request[end..]).unwrap();
    let metrics = &body.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2);
    let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
        panic!("{:?}", metrics[0]);
    };
    assert_eq!(sum.data_points.len(), 1);
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(520))
    );
    let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
        panic!("{:?}", metrics[1]);
    };
    assert_eq!(
        (
            h.data_points[0].count,
            h.data_points[0].sum,
            &h.data_points[0].bucket_counts
        ),
        (1, Some(69.0), &vec![0, 1, 0])
    );

    // Let TIME-WAIT expire on both sides: every socket is reusable.
    net.settle(11_000);
    assert_eq!(net.client_state(), State::Closed);
    assert!(net.server.states().iter().all(|s| *s == State::Listen));
    assert_eq!(net.device.wire().borrow().overflowed, 0);

    type Conn<'a> = Blocking<'a, 'static, PipeDevice, &'a SimClock, fn(Instant, Instant)>;
    println!(
        "otlp_no_alloc: 520 exports, 0 allocations in the last 500, simulated {} ms, {} idle calls",
        net.clock.now().as_millis(),
        net.idles
    );
    println!(
        "sizes on {}-bit: Registry<4,16,24,4,64> {} B, Snapshot {} B, TcpClient<8> {} B, \
         Stack {} B, Exporter<HttpClient<Blocking>> (lives on the stack during export_once) {} B",
        usize::BITS,
        size_of::<Reg>(),
        size_of::<Snap>(),
        size_of::<TcpClient<8>>(),
        size_of::<Stack<'static, 'static, PipeDevice, SimClock, fn(Instant, Instant)>>(),
        size_of::<Exporter<'static, HttpClient<Conn<'static>, &'static SimClock>>>(),
    );
    println!("1 passed, 0 failed");
}
