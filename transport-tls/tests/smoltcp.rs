//! The firmware TLS client composes over transport-smoltcp's `Blocking` connector: the type
//! `HttpClient<TlsConnector<Blocking<..>>>` builds, and an exchange through it runs the TLS
//! handshake over an in-memory smoltcp device pair (transport-smoltcp's test network).
//!
//! The test server there speaks plain HTTP and waits for a whole HTTP request, so the
//! ClientHello gets no answer: the handshake ends at its deadline with the stream's
//! timeout, and the connection is released (the server sees it end). A whole TLS export
//! over smoltcp to the sink belongs to the smoltcp end-to-end test (TAP device).

#[path = "../../transport-smoltcp/tests/common/mod.rs"]
mod common;

use common::{device_pair, Net, SERVER_PORT};
use otlp_embedded::http::{ExchangeError, HttpClient, Stage};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Exchange, HttpRequest, Scheme, TransportError};
use otlp_embedded_tls::{NoClock, TlsConnector, TlsOptions, READ_BUFFER_LEN};
use rand_core::{CryptoRng, RngCore};

/// Deterministic bytes: enough for a handshake that never completes.
struct Counter(u64);
impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 56) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}

#[test]
fn tls_runs_over_the_smoltcp_blocking_connector() {
    let (client_dev, server_dev) = device_pair();
    let mut net = Net::new(client_dev, server_dev, 1, 49_152);
    let clock = net.clock.clone();
    let mut read = vec![0u8; READ_BUFFER_LEN];
    let mut write = vec![0u8; 2048];
    // Any DER will do: the handshake never gets as far as the certificate.
    let ca = [0x30u8, 0x00];
    let (result, failure) = {
        let blocking = net.blocking();
        let tls: TlsConnector<'_, _, Counter, NoClock> = TlsConnector::new(
            blocking,
            Counter(7),
            TlsOptions::new(&ca).with_server_name("collector.example"),
            &mut read,
            &mut write,
        );
        let mut client: HttpClient<_, _> = HttpClient::new(tls, clock.clone());
        let endpoint = Endpoint {
            scheme: Scheme::Https,
            host: "10.0.0.2",
            port: SERVER_PORT,
            path: "/v1/metrics",
        };
        let request = HttpRequest {
            endpoint: &endpoint,
            headers: &[],
            content_encoding: None,
            body: b"",
            deadline: clock.now().add_millis(2_000),
        };
        let mut body = [0u8; 64];
        let result = client.exchange(&request, &mut body).map(|r| r.status);
        (result, client.connector().last_failure())
    };
    // The https endpoint reached smoltcp as a plain TCP connection (smoltcp refuses an
    // https endpoint with UnsupportedScheme), the ClientHello went out, and the silent peer
    // ran the handshake into its deadline.
    assert_eq!(result, Err(ExchangeError::Timeout(Stage::Connect)));
    // The TLS layer saw the stream beneath time out (not a TLS failure, not a refused
    // scheme).
    assert_eq!(
        failure,
        Some(TransportError::Io(embedded_io::ErrorKind::TimedOut))
    );
    assert!(clock.now() >= Instant(2_000));
    net.settle(200);
    assert_eq!(
        net.server.accepted, 1,
        "one TCP connection reached the server"
    );
    assert_eq!(net.server.served, 0, "a ClientHello is not an HTTP request");
    assert_eq!(net.server.incomplete, 1, "the aborted connection ended");
}
