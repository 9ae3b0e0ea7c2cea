//! The embedded-nal adapter with a fake `TcpClientStack`: WouldBlock everywhere, PipeClosed
//! as end of stream, deadlines bounding every loop, DNS, and sockets always handed back.

mod http_common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use embedded_io::ErrorKind;
use embedded_nal::{AddrType, Dns, TcpClientStack, TcpError, TcpErrorKind};
use http_common::FakeClock;
use otlp_embedded::http::{HttpClient, USER_AGENT};
use otlp_embedded::nal::{DnsResolver, NalConnect};
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{
    Endpoint, Exchange, ExchangeError, HttpRequest, Scheme, Stage, TransportError,
};

#[derive(Debug)]
struct FakeError(TcpErrorKind);
impl TcpError for FakeError {
    fn kind(&self) -> TcpErrorKind {
        self.0
    }
}

/// One scripted `receive` answer; `None` is WouldBlock.
type Rx = Option<Result<Vec<u8>, TcpErrorKind>>;

#[derive(Default)]
struct FakeStack {
    free_sockets: usize,
    next_socket: u32,
    connect_would_block: usize,
    connect_error: Option<TcpErrorKind>,
    connected_to: Vec<SocketAddr>,
    rx: VecDeque<Rx>,
    /// What `receive` says when the script is used up: `None` blocks forever.
    rx_end: Option<TcpErrorKind>,
    send_error: Option<TcpErrorKind>,
    sent: Vec<u8>,
    closed: Vec<u32>,
}

impl TcpClientStack for FakeStack {
    type TcpSocket = u32;
    type Error = FakeError;

    fn socket(&mut self) -> Result<u32, FakeError> {
        if self.free_sockets == 0 {
            return Err(FakeError(TcpErrorKind::Other));
        }
        self.free_sockets -= 1;
        self.next_socket += 1;
        Ok(self.next_socket)
    }

    fn connect(&mut self, _: &mut u32, remote: SocketAddr) -> nb::Result<(), FakeError> {
        if self.connect_would_block > 0 {
            self.connect_would_block -= 1;
            return Err(nb::Error::WouldBlock);
        }
        if let Some(kind) = self.connect_error {
            return Err(nb::Error::Other(FakeError(kind)));
        }
        self.connected_to.push(remote);
        Ok(())
    }

    fn send(&mut self, _: &mut u32, buffer: &[u8]) -> nb::Result<usize, FakeError> {
        if let Some(kind) = self.send_error {
            return Err(nb::Error::Other(FakeError(kind)));
        }
        // Half of what is offered, to exercise the write loop.
        let n = buffer.len().div_ceil(2);
        self.sent.extend_from_slice(&buffer[..n]);
        Ok(n)
    }

    fn receive(&mut self, _: &mut u32, buffer: &mut [u8]) -> nb::Result<usize, FakeError> {
        match self.rx.pop_front() {
            Some(None) => Err(nb::Error::WouldBlock),
            Some(Some(Ok(mut data))) => {
                let n = data.len().min(buffer.len());
                buffer[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    data.drain(..n);
                    self.rx.push_front(Some(Ok(data)));
                }
                Ok(n)
            }
            Some(Some(Err(kind))) => Err(nb::Error::Other(FakeError(kind))),
            None => match self.rx_end {
                Some(kind) => Err(nb::Error::Other(FakeError(kind))),
                None => Err(nb::Error::WouldBlock),
            },
        }
    }

    fn close(&mut self, socket: u32) -> Result<(), FakeError> {
        self.closed.push(socket);
        self.free_sockets += 1;
        Ok(())
    }
}

struct FakeDns {
    would_block: usize,
    lookups: Rc<Cell<usize>>,
}

impl Dns for FakeDns {
    type Error = ();
    fn get_host_by_name(&mut self, host: &str, _: AddrType) -> nb::Result<IpAddr, ()> {
        self.lookups.set(self.lookups.get() + 1);
        if self.would_block > 0 {
            self.would_block -= 1;
            return Err(nb::Error::WouldBlock);
        }
        match host {
            "collector.local" => Ok(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            _ => Err(nb::Error::Other(())),
        }
    }
    fn get_host_by_address(&mut self, _: IpAddr, _: &mut [u8]) -> nb::Result<usize, ()> {
        Err(nb::Error::Other(()))
    }
}

const BODY: &[u8] = b"\x0a\x00";

fn endpoint(host: &'static str) -> Endpoint<'static> {
    Endpoint {
        scheme: Scheme::Http,
        host,
        port: 4318,
        path: "/v1/metrics",
    }
}

fn request<'a>(endpoint: &'a Endpoint<'a>) -> HttpRequest<'a> {
    HttpRequest::new(endpoint, BODY, Instant(1_000))
}

/// An idle hook that moves the clock 10 ms and counts its calls.
fn idle(clock: &FakeClock, calls: &Rc<Cell<usize>>) -> impl FnMut(Instant, Instant) {
    let clock = clock.clone();
    let calls = calls.clone();
    move |_now: Instant, _until: Instant| {
        clock.advance(10);
        calls.set(calls.get() + 1);
    }
}

fn stack() -> FakeStack {
    FakeStack {
        free_sockets: 1,
        ..FakeStack::default()
    }
}

#[test]
fn exchange_through_would_block_and_pipe_closed() {
    let clock = FakeClock::default();
    let calls = Rc::new(Cell::new(0));
    let mut s = stack();
    s.connect_would_block = 2;
    s.rx = VecDeque::from([
        None,
        Some(Ok(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\r\nab".to_vec(),
        )),
        None,
        None,
        Some(Ok(b"cd".to_vec())),
    ]);
    s.rx_end = Some(TcpErrorKind::PipeClosed);
    let connect = NalConnect::new(s, clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    let ep = endpoint("127.0.0.1");
    let mut body = [0u8; 8];
    let response = client.exchange(&request(&ep), &mut body).unwrap();
    assert_eq!((response.status, response.body_len), (200, 4));
    assert!(response.body_is_protobuf);
    assert_eq!(&body[..4], b"abcd");
    assert_eq!(calls.get(), 5, "idle between each WouldBlock");
    let (stack, ..) = client.into_parts().0.into_parts();
    assert_eq!(stack.closed, vec![1]);
    assert_eq!(stack.free_sockets, 1);
    assert_eq!(stack.connected_to, vec!["127.0.0.1:4318".parse().unwrap()]);
    let expected = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1:4318\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: 2\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n\r\n\n\0"
    );
    assert_eq!(String::from_utf8(stack.sent).unwrap(), expected);
    assert_eq!(response.bytes_sent, expected.len());
}

#[test]
fn connect_that_never_completes_ends_at_the_deadline() {
    let clock = FakeClock::default();
    let calls = Rc::new(Cell::new(0));
    let mut s = stack();
    s.connect_would_block = usize::MAX;
    let connect = NalConnect::new(s, clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    let ep = endpoint("::1");
    let e = client.exchange(&request(&ep), &mut [0u8; 8]).unwrap_err();
    assert_eq!(e, ExchangeError::Timeout(Stage::Connect));
    assert_eq!(calls.get(), 100);
    assert_eq!(clock.get(), 1_000);
    let (stack, ..) = client.into_parts().0.into_parts();
    assert_eq!(stack.closed, vec![1], "the socket goes back to the stack");
}

#[test]
fn silent_peer_ends_at_the_deadline_and_the_socket_is_closed_once() {
    let clock = FakeClock::default();
    let calls = Rc::new(Cell::new(0));
    let connect = NalConnect::new(stack(), clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    let ep = endpoint("127.0.0.1");
    let e = client.exchange(&request(&ep), &mut [0u8; 8]).unwrap_err();
    assert_eq!(e, ExchangeError::Timeout(Stage::StatusLine));
    assert_eq!(clock.get(), 1_000);
    let (stack, ..) = client.into_parts().0.into_parts();
    assert_eq!(stack.closed, vec![1]);
}

#[test]
fn errors_map_to_transport_errors() {
    let clock = FakeClock::default();
    let calls = Rc::new(Cell::new(0));
    let ep = endpoint("127.0.0.1");

    // No free socket.
    let connect = NalConnect::new(FakeStack::default(), clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    assert_eq!(
        client.exchange(&request(&ep), &mut [0u8; 8]),
        Err(ExchangeError::Connect(TransportError::Exhausted))
    );

    // Connect refused by the stack: the socket is handed back.
    let mut s = stack();
    s.connect_error = Some(TcpErrorKind::Other);
    let connect = NalConnect::new(s, clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    assert_eq!(
        client.exchange(&request(&ep), &mut [0u8; 8]),
        Err(ExchangeError::Connect(TransportError::Io(ErrorKind::Other)))
    );
    assert_eq!(client.into_parts().0.into_parts().0.closed, vec![1]);

    // https needs TLS, which this adapter does not have.
    let connect = NalConnect::new(stack(), clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    let tls = Endpoint {
        scheme: Scheme::Https,
        ..ep
    };
    let e = client.exchange(&request(&tls), &mut [0u8; 8]).unwrap_err();
    assert_eq!(e, ExchangeError::Connect(TransportError::UnsupportedScheme));
    assert!(!e.is_transient());

    // A host name without a resolver.
    let named = endpoint("collector.local");
    let e = client
        .exchange(&request(&named), &mut [0u8; 8])
        .unwrap_err();
    assert_eq!(e, ExchangeError::Connect(TransportError::Resolve));

    // The peer closes while we send: PipeClosed on send is BrokenPipe.
    let mut s = stack();
    s.send_error = Some(TcpErrorKind::PipeClosed);
    s.rx_end = Some(TcpErrorKind::PipeClosed);
    let connect = NalConnect::new(s, clock.clone(), idle(&clock, &calls));
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    assert_eq!(
        client.exchange(&request(&ep), &mut [0u8; 8]),
        Err(ExchangeError::Write(TransportError::Io(
            ErrorKind::BrokenPipe
        )))
    );
    assert_eq!(client.into_parts().0.into_parts().0.closed, vec![1]);
}

#[test]
fn names_resolve_through_dns() {
    let clock = FakeClock::default();
    let calls = Rc::new(Cell::new(0));
    let lookups = Rc::new(Cell::new(0));
    let mut s = stack();
    s.rx = VecDeque::from([Some(Ok(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()))]);
    let dns = DnsResolver(FakeDns {
        would_block: 3,
        lookups: lookups.clone(),
    });
    let connect = NalConnect::with_resolver(s, clock.clone(), idle(&clock, &calls), dns);
    let mut client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    let ep = endpoint("collector.local");
    assert_eq!(
        client
            .exchange(&request(&ep), &mut [0u8; 8])
            .unwrap()
            .status,
        204
    );
    assert_eq!(lookups.get(), 4);
    assert_eq!(calls.get(), 3);
    let unknown = endpoint("nowhere.local");
    assert_eq!(
        client.exchange(&request(&unknown), &mut [0u8; 8]),
        Err(ExchangeError::Connect(TransportError::Resolve))
    );
    let (stack, ..) = client.into_parts().0.into_parts();
    assert_eq!(stack.connected_to, vec!["127.0.0.1:4318".parse().unwrap()]);
    assert_eq!(stack.closed, vec![1]);
}
