//! The exchange seam: a user-written transport for a cellular modem that speaks HTTP itself.
//!
//! Many modems take an HTTP POST as a command (URL, headers, body) and report status and
//! body back; there is no byte stream to hand to core's HTTP client. Implementing
//! `Exchange` covers that: take the encoded request, return status, `Retry-After` and body,
//! and the exporter does the rest (retries, partial success, settling). Here the modem is a
//! thread with its own HTTP stack, posting to the in-process OTLP sink.
//! Run: `cargo run -p otlp-embedded-examples --example custom_exchange`
mod common;

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

use otlp_embedded::http::parse_retry_after;
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{
    Exchange, ExchangeError, HttpRequest, HttpResponse, Stage, TransportError,
};
use otlp_embedded_std::StdClock;

use common::{ModemPost, ModemReply};

/// The device's driver for the modem: one command per request.
struct Modem {
    commands: Sender<ModemPost>,
    clock: StdClock,
}

impl Exchange for Modem {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        let e = request.endpoint;
        let mut headers = vec![("Content-Type".into(), "application/x-protobuf".into())];
        headers.extend(
            request
                .headers
                .iter()
                .map(|h| (h.name.into(), h.value.into())),
        );
        let (reply, answer) = channel();
        let post = ModemPost {
            url: format!("{}:{}{}", e.host, e.port, e.path),
            headers,
            body: request.body.to_vec(),
            reply,
        };
        let link_down =
            ExchangeError::Connect(TransportError::Io(embedded_io::ErrorKind::NotConnected));
        self.commands.send(post).map_err(|_| link_down)?;
        // The modem must answer by the request's deadline, like any transport.
        let wait = Duration::from_millis(self.clock.now().millis_until(request.deadline));
        let ModemReply {
            status,
            headers,
            body,
        } = match answer.recv_timeout(wait) {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                return Err(ExchangeError::Read(TransportError::Io(error.kind().into())))
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(ExchangeError::Timeout(Stage::StatusLine))
            }
            Err(RecvTimeoutError::Disconnected) => return Err(link_down),
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let kept = body.len().min(response_body.len());
        response_body[..kept].copy_from_slice(&body[..kept]);
        Ok(HttpResponse::new(status)
            .with_retry_after(header("retry-after").and_then(|v| parse_retry_after(v.as_bytes())))
            .with_body(
                kept,
                header("content-type") == Some("application/x-protobuf"),
            )
            .with_body_truncated(kept < body.len())
            .with_bytes(request.body.len(), body.len()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::record_export_check("custom_exchange", |collector, clock| Modem {
        commands: common::modem(collector),
        clock,
    })
}
