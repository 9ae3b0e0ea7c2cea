//! One OTLP/HTTP exchange, and one export, driven with `.await` over an
//! [`EmbassyConnection`], using core's sans-IO request writer and response reader.
//!
//! STAND-IN: this is the thin local loop the embassy tests use until core's async seams
//! exist (core's feature `async`: its async HTTP client over the same `RequestWriter` and
//! `ResponseReader`, and the async driver of the exporter's policy with its retries). Then
//! [`exchange`] is replaced by core's async client and [`export_once`] by core's async
//! export; the tests keep their assertions. It mirrors core's blocking `HttpClient`: one
//! connection per request, the whole response read, closed gracefully only after a
//! complete response. [`export_once`] sends each request once (no retry) and settles it
//! delivered on a 2xx, abandoned otherwise.

use embedded_io_async::{ErrorKind, Read, Write};
use otlp_embedded::http::{Progress, ReaderConfig, RequestWriter, ResponseEnd, ResponseReader};
use otlp_embedded::proto::{RequestHeader, RequestSplitter};
use otlp_embedded::registry::{Producer, Settlement};
use otlp_embedded::time::{Clock, UnixNanos};
use otlp_embedded::transport::{
    CloseMode, Endpoint, ExchangeError, HttpRequest, HttpResponse, Stage, TransportError,
};
use otlp_embedded_embassy::{EmbassyClock, EmbassyConnection, EmbassyConnector};

/// What one exchange did, beyond its result: which connection carried it and how it closed.
#[derive(Clone, Debug)]
pub struct Exchanged {
    /// The response, or why there is none.
    pub result: Result<HttpResponse, ExchangeError>,
    /// The connection's local port (`None` when no connection was made).
    pub local_port: Option<u16>,
    /// How the connection was closed, and what the close returned.
    pub close: Option<(CloseMode, Result<(), TransportError>)>,
}

fn io(kind: ErrorKind, stage: Stage, wrap: fn(TransportError) -> ExchangeError) -> ExchangeError {
    match kind {
        ErrorKind::TimedOut => ExchangeError::Timeout(stage),
        kind => wrap(TransportError::Io(kind)),
    }
}

async fn write_request(
    conn: &mut EmbassyConnection<'_, '_>,
    writer: &mut RequestWriter<'_>,
    reader: &mut ResponseReader<'_>,
) -> Result<(), ExchangeError> {
    while !writer.is_done() {
        let bytes = writer.next_bytes(reader.scratch());
        let len = bytes.len();
        match conn.write(bytes).await {
            Ok(0) => return Err(ExchangeError::WriteZero),
            Ok(n) => writer.advance(n.min(len)),
            Err(kind) => return Err(io(kind, Stage::Write, ExchangeError::Write)),
        }
    }
    conn.flush()
        .await
        .map_err(|kind| io(kind, Stage::Write, ExchangeError::Write))
}

async fn read_response(
    conn: &mut EmbassyConnection<'_, '_>,
    reader: &mut ResponseReader<'_>,
) -> Result<ResponseEnd, ExchangeError> {
    loop {
        let progress = match conn.read(reader.recv_buf()).await {
            Ok(0) => reader.eof()?,
            Ok(n) => reader.received(n)?,
            Err(kind) => return Err(io(kind, reader.stage(), ExchangeError::Read)),
        };
        match progress {
            Progress::Done(end) => return Ok(end),
            Progress::NeedMore if reader.is_finished() => {
                return Err(ExchangeError::ClosedEarly(reader.stage()))
            }
            Progress::NeedMore => {}
        }
    }
}

/// Send `request` over a new connection of `connector`: write it, read the whole response
/// (head into `head`, body into `body`), close. The connection is closed exactly once.
pub async fn exchange(
    connector: &mut EmbassyConnector<'_>,
    request: &HttpRequest<'_>,
    head: &mut [u8],
    body: &mut [u8],
) -> Exchanged {
    let mut writer = match RequestWriter::new(request) {
        Ok(w) => w,
        Err(e) => {
            return Exchanged {
                result: Err(e),
                local_port: None,
                close: None,
            }
        }
    };
    let mut conn = match connector.connect(&request.endpoint, request.deadline).await {
        Ok(conn) => conn,
        Err(e) => {
            let error = match e {
                TransportError::ConnectTimeout | TransportError::Io(ErrorKind::TimedOut) => {
                    ExchangeError::Timeout(Stage::Connect)
                }
                e => ExchangeError::Connect(e),
            };
            return Exchanged {
                result: Err(error),
                local_port: None,
                close: None,
            };
        }
    };
    let local_port = conn.local_port();
    let mut reader = ResponseReader::new(head, body, ReaderConfig::default());
    let written = write_request(&mut conn, &mut writer, &mut reader).await;
    let read = read_response(&mut conn, &mut reader).await;
    let answered_success = reader
        .response()
        .is_some_and(|r| (200..300).contains(&r.status));
    let result = match (written, read) {
        (Err(_), Ok(_)) if answered_success => Err(ExchangeError::SuccessBeforeRequestSent),
        (_, Ok(end)) => Ok(end),
        (Err(w), Err(_)) => Err(w),
        (Ok(()), Err(r)) => Err(r),
    };
    let mode = match result {
        Ok(ResponseEnd::Complete) => CloseMode::Graceful,
        _ => CloseMode::Abort,
    };
    let closed = conn.close(mode).await;
    let result = result.and_then(|_| {
        let mut response = reader
            .response()
            .ok_or(ExchangeError::ClosedBeforeResponse)?;
        response.bytes_sent = writer.bytes_sent();
        Ok(response)
    });
    Exchanged {
        result,
        local_port,
        close: Some((mode, closed)),
    }
}

/// What [`export_once`] did.
#[derive(Clone, Debug, Default)]
pub struct LocalReport {
    /// Points collected.
    pub points: usize,
    /// Points of requests answered 2xx.
    pub delivered: usize,
    /// Points of requests that were not (left in the producer for the next export).
    pub abandoned: usize,
    /// Each exchange, in order.
    pub exchanges: Vec<Exchanged>,
}

/// Collect from `producer`, encode into `buffer`, send each request once to `endpoint`
/// with `request_timeout_ms` for each, and settle each: delivered on a 2xx, abandoned
/// otherwise.
#[allow(clippy::too_many_arguments)]
pub async fn export_once<P: Producer>(
    connector: &mut EmbassyConnector<'_>,
    producer: &mut P,
    snapshot: &mut P::Snapshot,
    buffer: &mut [u8],
    header: RequestHeader<'_>,
    endpoint: &Endpoint<'_>,
    request_timeout_ms: u64,
    unix_now: UnixNanos,
) -> LocalReport {
    use otlp_embedded::proto::MetricsSource;
    producer.collect(snapshot, unix_now);
    let mut report = LocalReport {
        points: (0..snapshot.metric_count())
            .map(|m| snapshot.point_count(m))
            .sum(),
        ..LocalReport::default()
    };
    let mut splitter = RequestSplitter::new(header);
    let (mut head, mut body) = ([0u8; 1024], [0u8; 256]);
    while let Some(encoded) = splitter.next_request(&*snapshot, buffer) {
        let encoded = encoded.expect("the test's points fit the buffer");
        let span = encoded.span;
        let deadline = EmbassyClock.now().add_millis(request_timeout_ms);
        let request = HttpRequest::new(endpoint, encoded.bytes, deadline);
        let exchanged = exchange(connector, &request, &mut head, &mut body).await;
        let delivered = exchanged
            .result
            .as_ref()
            .is_ok_and(|r| (200..300).contains(&r.status));
        if delivered {
            report.delivered += span.points;
            producer.settle(snapshot, span, Settlement::Delivered);
        } else {
            report.abandoned += span.points;
            producer.settle(snapshot, span, Settlement::Abandoned);
        }
        report.exchanges.push(exchanged);
    }
    report
}
