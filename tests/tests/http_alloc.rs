//! Zero heap allocations during an exchange over an in-memory stream, for both drivers and
//! every framing. Its own binary (`harness = false`) so no other thread is counted.

use otlp_embedded_tests::counting::{allocations, CountingAllocator};
use std::task::Poll;

use embedded_io::ErrorKind;
use otlp_embedded::http::{HttpClient, NonBlockingExchange, ReaderConfig};
use otlp_embedded::proto::response::{decode_body, ReceivedBody, ResponseBody};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Exchange, Header, HttpRequest, HttpResponse,
    TransportError,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A stream over a borrowed response, reading at most `step` bytes at a time, counting
/// written bytes: no heap anywhere.
struct Mem {
    response: &'static [u8],
    pos: usize,
    step: usize,
    written: usize,
    closes: usize,
}

struct MemConn<'c>(&'c mut Mem);

impl Connect for Mem {
    type Connection<'c> = MemConn<'c>;
    fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<MemConn<'_>, TransportError> {
        self.pos = 0;
        Ok(MemConn(self))
    }
}

impl embedded_io::ErrorType for MemConn<'_> {
    type Error = ErrorKind;
}

impl embedded_io::Read for MemConn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let rest = &self.0.response[self.0.pos..];
        let n = rest.len().min(buf.len()).min(self.0.step);
        buf[..n].copy_from_slice(&rest[..n]);
        self.0.pos += n;
        Ok(n)
    }
}

impl embedded_io::Write for MemConn<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.0.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl embedded_io::ReadReady for MemConn<'_> {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(true)
    }
}

impl embedded_io::WriteReady for MemConn<'_> {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(true)
    }
}

impl Connection for MemConn<'_> {
    fn set_deadline(&mut self, _: Instant) {}
    fn close(self, _: CloseMode) -> Result<(), TransportError> {
        self.0.closes += 1;
        Ok(())
    }
}

struct Zero;
impl Clock for Zero {
    fn now(&self) -> Instant {
        Instant(0)
    }
}

const RESPONSES: [&[u8]; 4] = [
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 9\r\n\r\n\x0a\x07\x08\x03\x12\x03bad",
    b"HTTP/1.1 503 Unavailable\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n0\r\nT: 1\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nclose-delimited body that is longer than the body buffer",
    b"HTTP/1.1 400 Bad\r\nContent-Type: application/x-protobuf\r\nContent-Length: 7\r\n\r\n\x08\x03\x12\x03bad",
];

/// The body `response` kept at the start of `body`, as the decoders take it.
fn received<'b>(response: &HttpResponse, body: &'b [u8]) -> ReceivedBody<'b> {
    ReceivedBody {
        status: response.status,
        is_protobuf: response.body_is_protobuf,
        bytes: &body[..response.body_len.min(body.len())],
        truncated: response.body_truncated,
    }
}

fn main() {
    let endpoint = Endpoint::DEFAULT;
    let headers = [Header {
        name: "Authorization",
        value: "Bearer token",
    }];
    let request = HttpRequest::new(&endpoint, &[0x0a; 300], Instant(1_000))
        .with_headers(&headers)
        .with_content_encoding(Some("gzip"));
    let mut statuses = [0u16; 8];
    let mut decoded = 0usize;
    let mut body = [0u8; 32];
    let mut head = [0u8; 512];
    let mut client: HttpClient<Mem, Zero, 512> = HttpClient::with_head_buffer(
        Mem {
            response: b"",
            pos: 0,
            step: 1,
            written: 0,
            closes: 0,
        },
        Zero,
        ReaderConfig::default(),
    );

    let before = allocations();
    for (i, response) in RESPONSES.iter().enumerate() {
        for step in [1usize, 7, 4096] {
            let mem = client.connector_mut();
            mem.response = response;
            mem.step = step;
            let r = client.exchange(&request, &mut body).unwrap();
            statuses[i] = r.status;
            if let ResponseBody::PartialSuccess(_) | ResponseBody::Status(_) =
                decode_body(&received(&r, &body))
            {
                decoded += 1;
            }
        }
        // The poll driver over the same bytes.
        let mut mem = Mem {
            response,
            pos: 0,
            step: 5,
            written: 0,
            closes: 0,
        };
        let mut conn = mem.connect(&endpoint, request.deadline).unwrap();
        let mut exchange = NonBlockingExchange::new(&request, ReaderConfig::default()).unwrap();
        let finished = loop {
            if let Poll::Ready(f) =
                exchange.poll(&mut conn, &request, &mut head, &mut body, Instant(0))
            {
                break f;
            }
        };
        statuses[4 + i] = finished.result.unwrap().status;
        conn.close(finished.close).unwrap();
    }
    let during = allocations() - before;

    assert_eq!(statuses, [200, 503, 200, 400, 200, 503, 200, 400]);
    assert_eq!(decoded, 6, "partial success and status bodies decoded");
    assert_eq!(client.connector().closes, 12);
    assert_eq!(during, 0, "heap allocations during exchanges");
    println!("http_alloc: 16 exchanges, {during} allocations");
}
