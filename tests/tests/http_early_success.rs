//! A peer that answers 2xx before it has read the request (a health-check responder, a
//! broken proxy, something hostile) has not received the data: neither driver may report
//! that as a delivery. An early refusal (413 while the request is still being sent) stays
//! an answer; that case is in http_client.rs.

use core::task::Poll;

use embedded_io::ErrorKind;
use otlp_embedded::http::{HttpClient, NonBlockingExchange, ReaderConfig};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Exchange, ExchangeError, HttpRequest, TransportError,
};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// Answers 200 at once; never ready to take request bytes, or failing every write.
struct EarlyOk {
    pos: usize,
    written: usize,
    write_fails: bool,
}

impl embedded_io::ErrorType for EarlyOk {
    type Error = ErrorKind;
}

impl embedded_io::Read for EarlyOk {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let n = buf.len().min(OK.len() - self.pos);
        buf[..n].copy_from_slice(&OK[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl embedded_io::Write for EarlyOk {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if self.write_fails {
            return Err(ErrorKind::BrokenPipe);
        }
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl embedded_io::ReadReady for EarlyOk {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(true)
    }
}

impl embedded_io::WriteReady for EarlyOk {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(false)
    }
}

impl Connection for EarlyOk {
    fn set_deadline(&mut self, _: Instant) {}
    fn close(self, _: CloseMode) -> Result<(), TransportError> {
        Ok(())
    }
}

struct Connector;

impl Connect for Connector {
    type Connection<'c> = EarlyOk;
    fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<EarlyOk, TransportError> {
        Ok(EarlyOk {
            pos: 0,
            written: 0,
            write_fails: true,
        })
    }
}

struct Frozen;

impl Clock for Frozen {
    fn now(&self) -> Instant {
        Instant(0)
    }
}

fn request(body: &[u8]) -> HttpRequest<'_> {
    HttpRequest::new(&Endpoint::DEFAULT, body, Instant(10_000))
}

#[test]
fn poll_driver_does_not_take_an_early_2xx_as_delivery() {
    let body = [0x0au8; 64];
    let request = request(&body);
    let mut head = [0u8; 512];
    let mut response_body = [0u8; 64];
    let mut exchange = NonBlockingExchange::new(&request, ReaderConfig::default()).unwrap();
    let mut conn = EarlyOk {
        pos: 0,
        written: 0,
        write_fails: false,
    };
    let mut polls = 0;
    let finished = loop {
        polls += 1;
        assert!(polls < 1_000, "the exchange never finished");
        if let Poll::Ready(f) = exchange.poll(
            &mut conn,
            &request,
            &mut head,
            &mut response_body,
            Instant(0),
        ) {
            break f;
        }
    };
    assert_eq!(conn.written, 0);
    assert_eq!(
        finished.result,
        Err(ExchangeError::SuccessBeforeRequestSent)
    );
    assert_eq!(finished.close, CloseMode::Abort);
    assert!(ExchangeError::SuccessBeforeRequestSent.is_transient());
}

#[test]
fn blocking_driver_does_not_take_a_2xx_after_a_failed_write_as_delivery() {
    let mut client: HttpClient<Connector, Frozen> = HttpClient::new(Connector, Frozen);
    let body = [0x0au8; 64];
    let mut response_body = [0u8; 64];
    let result = client.exchange(&request(&body), &mut response_body);
    assert_eq!(result, Err(ExchangeError::SuccessBeforeRequestSent));
}
