//! The `embedded-nal-async` adapter (`otlp_embedded::nal_async`) over a `TcpConnect` on
//! tokio's sockets, against std listeners on loopback: what closing by drop does on the
//! wire. After a complete response the stream has nothing unread, so the drop closes with
//! FIN (the server reads to its end); after an error with bytes left unread, Linux resets
//! the connection (the server sees ECONNRESET). And a whole export through it to the sink.

use std::io::{ErrorKind as StdKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::AsyncHttpClient;
use otlp_embedded::nal_async::NalAsyncConnect;
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{
    AsyncExchange, Endpoint, ExchangeError, HttpRequest, Scheme, TransportError,
};
use otlp_embedded_test_kit::sink::Sink;
use otlp_embedded_test_kit::tokio_tcp::TokioTimer;

/// An `embedded-nal-async` TCP stack over tokio: connections are tokio streams, closed by
/// drop like every `TcpConnect` connection.
struct TokioNal;

impl embedded_nal_async::TcpConnect for TokioNal {
    type Error = std::io::Error;
    type Connection<'a> = FromTokio<tokio::net::TcpStream>;

    async fn connect<'a>(
        &'a self,
        remote: SocketAddr,
    ) -> Result<Self::Connection<'a>, Self::Error> {
        let stream = tokio::net::TcpStream::connect(remote).await?;
        stream.set_nodelay(true)?;
        Ok(FromTokio::new(stream))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A server that reads one request, writes `response`, then reads on: `Ok(bytes)` when
/// the client's FIN came, the error kind when it reset.
fn server(response: &'static [u8]) -> (u16, thread::JoinHandle<Result<usize, StdKind>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
        }
        // The body is two bytes here (see the requests below).
        while request.len() < request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4 + 2 {
            let n = s.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
        }
        s.write_all(response).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).map_err(|e| e.kind())
    });
    (port, handle)
}

fn exchange(port: u16) -> Result<otlp_embedded::transport::HttpResponse, ExchangeError> {
    runtime().block_on(async {
        let timer = TokioTimer::new();
        let mut client = AsyncHttpClient::new(NalAsyncConnect::new(TokioNal), timer);
        let endpoint = Endpoint::new(Scheme::Http, "127.0.0.1", port, "/v1/metrics");
        let request = HttpRequest::new(&endpoint, b"\x0a\x00", timer.now().add_millis(5_000));
        let mut body = [0u8; 64];
        client.exchange(&request, &mut body).await
    })
}

#[test]
fn a_complete_response_then_the_drop_sends_fin() {
    let (port, server) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let response = exchange(port).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(server.join().unwrap(), Ok(0), "the server read to our FIN");
}

#[test]
fn an_error_with_bytes_unread_then_the_drop_resets() {
    // Garbage, and more of it than the reader takes before it fails (its 1 KiB header
    // buffer): left unread, so the kernel resets the connection when the adapter drops it.
    let mut garbage = b"HTPT/1.1 2OO KO\r\n\r\n".to_vec();
    garbage.resize(8 * 1024, b'x');
    let (port, server) = server(Box::leak(garbage.into_boxed_slice()));
    let error = exchange(port).unwrap_err();
    assert!(matches!(error, ExchangeError::Malformed(_)), "{error:?}");
    assert_eq!(server.join().unwrap(), Err(StdKind::ConnectionReset));
}

#[test]
fn a_host_name_needs_a_resolver() {
    let error = runtime().block_on(async {
        let timer = TokioTimer::new();
        let mut client = AsyncHttpClient::new(NalAsyncConnect::new(TokioNal), timer);
        let endpoint = Endpoint::new(Scheme::Http, "collector.test", 4318, "/v1/metrics");
        let request = HttpRequest::new(&endpoint, b"\x0a\x00", timer.now().add_millis(5_000));
        client.exchange(&request, &mut [0u8; 16]).await.unwrap_err()
    });
    assert_eq!(error, ExchangeError::Connect(TransportError::Resolve));
}

#[test]
fn a_whole_export_through_the_adapter_reaches_the_sink() {
    type Metrics = Registry<2, 8, 16, 2, 32>;
    let sink = Sink::start().unwrap();
    let url = sink.endpoint_url();
    let mut registry = Metrics::new(1_700_000_000_000_000_000);
    let hits = registry
        .declare(InstrumentDesc::counter_u64("nal.hits").max_series(1))
        .unwrap();
    registry.record(hits, 41u64, &[]).unwrap();
    let header = RequestHeader::new(Resource::new(&[]), Scope::new("nal-async"));
    let config = ExporterConfig::new(Endpoint::parse(&url).unwrap(), header);
    let report = runtime().block_on(async {
        let timer = TokioTimer::new();
        let mut exporter = Exporter::new(
            config,
            AsyncHttpClient::new(NalAsyncConnect::new(TokioNal), timer),
        );
        let mut snapshot = SnapshotOf::<Metrics>::new();
        let mut buffer = [0u8; 512];
        exporter
            .export_async(
                &mut registry,
                &mut snapshot,
                &mut buffer,
                &timer,
                1_700_000_001_000_000_000,
            )
            .await
    });
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!(sink.total("nal.hits", &[]).unwrap().value_sum, 41.0);
    assert!(
        sink.wait_for(Duration::from_secs(5), |s| s.connections_closed
            == s.connections_accepted)
    );
}
