//! What the custom transport examples share: the in-process OTLP sink standing in for the
//! collector, a registry with one counter, one export through the example's exchange, and
//! a check of what the sink decoded.
// Each example uses its own part (the gateway or the modem).
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};

use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::transport::{Endpoint, Exchange, Scheme};
use otlp_embedded_std::StdClock;
use otlp_embedded_test_kit::sink::Sink;

/// Starts the sink, records `pump.cycles = 42`, exports once through the exchange that
/// `make` builds (given the sink's address), prints the outcome and checks the sink got it.
pub fn record_export_check<X: Exchange>(
    name: &'static str,
    make: impl FnOnce(SocketAddr, StdClock) -> X,
) -> Result<(), Box<dyn std::error::Error>> {
    let sink = Sink::start()?;
    let clock = StdClock::new();
    let mut registry: Registry<1, 2, 8, 1, 1> = Registry::new(0);
    let pumps = registry.declare(InstrumentDesc::counter_u64("pump.cycles").max_series(1))?;
    registry.record(pumps, 42u64, &[])?;

    let resource = Resource::new(&[]);
    let scope = Scope::new(name);
    // The device addresses the collector by name; its gateway or modem knows where it is.
    let endpoint = Endpoint::new(Scheme::Http, "collector.example", 4318, "/v1/metrics");
    let config = ExporterConfig::new(endpoint, RequestHeader::new(resource, scope));
    let mut exporter = Exporter::new(config, make(sink.addr(), clock));
    let (mut snapshot, mut buffer) = (Snapshot::new(), [0u8; 1024]);
    let report = exporter.export(
        &mut registry,
        &mut snapshot,
        &mut buffer,
        &clock,
        1_000,
        otlp_embedded_std::Sleep,
    );
    let total = sink.total("pump.cycles", &[]).map(|t| t.last_value);
    println!(
        "{name}: {:?}, {} point(s) sent in {} request(s), {} bytes; the sink decoded pump.cycles = {total:?}",
        report.outcome, report.points_sent, report.requests, report.bytes_sent
    );
    match (report.outcome, total) {
        (ExportOutcome::Success, Some(42.0)) => Ok(()),
        _ => Err(format!("{name}: export failed: {:?}", report.last_error).into()),
    }
}

/// Bytes in flight on the serial link.
pub type Bytes = Vec<u8>;

/// The serial gateway of `custom_stream`: opens a TCP connection to `collector` and relays
/// bytes both ways on a thread of its own. Returns the device's ends of the link; dropping
/// the sender is hanging up, and the receiver ends when the collector closes.
pub fn gateway_session(collector: SocketAddr) -> std::io::Result<(Sender<Bytes>, Receiver<Bytes>)> {
    let (to_gateway, from_device) = channel::<Vec<u8>>();
    let (to_device, from_gateway) = channel::<Vec<u8>>();
    let tcp = TcpStream::connect(collector)?;
    std::thread::spawn(move || relay(tcp, from_device, to_device));
    Ok((to_gateway, from_gateway))
}

/// The gateway: device bytes to TCP until the device hangs up, TCP bytes back until EOF.
fn relay(mut tcp: TcpStream, from_device: Receiver<Vec<u8>>, to_device: Sender<Vec<u8>>) {
    let Ok(mut reader) = tcp.try_clone() else {
        return;
    };
    let back = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if to_device.send(buf[..n].to_vec()).is_err() {
                break;
            }
        } // dropping `to_device` is the device's end of stream
    });
    for chunk in from_device {
        if tcp.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// An HTTP POST as a cellular modem's HTTP commands take it: target, body, extra headers.
pub struct ModemPost {
    /// `host:port/path` as the device configured it.
    pub url: String,
    /// Extra headers, such as `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
    /// Where the modem puts its answer.
    pub reply: Sender<std::io::Result<ModemReply>>,
}

/// What the modem reports back: status, the headers it exposes, and the body.
pub struct ModemReply {
    /// HTTP status.
    pub status: u16,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

/// The simulated modem's firmware: a thread that performs each [`ModemPost`] with an HTTP
/// stack of its own (here one request per TCP connection to `collector`, read to the end).
pub fn modem(collector: SocketAddr) -> Sender<ModemPost> {
    let (commands, queue) = channel::<ModemPost>();
    std::thread::spawn(move || {
        for post in queue {
            let _ = post.reply.send(modem_post(collector, &post));
        }
    });
    commands
}

fn modem_post(collector: SocketAddr, post: &ModemPost) -> std::io::Result<ModemReply> {
    let mut tcp = TcpStream::connect(collector)?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let path = post.url.find('/').map_or("/", |i| &post.url[i..]);
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        post.url
    );
    for (name, value) in &post.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", post.body.len()));
    tcp.write_all(head.as_bytes())?;
    tcp.write_all(&post.body)?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)?; // the server closes after a `Connection: close` request
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "garbled response");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&answer[..split]).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = answer[split + 4..].to_vec();
    Ok(ModemReply {
        status: status.ok_or_else(bad)?,
        headers,
        body,
    })
}
