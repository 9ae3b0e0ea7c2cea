//! Core's async HTTP client and the crate's `export_once` over an [`EmbassyConnector`],
//! with every connection recorded: its local port, and how it was closed and what the close
//! returned. The recording wrapper only forwards to the connector and the connection, so
//! the tests exercise exactly what a firmware runs, and can still check each connection's
//! FIN or RST on the other side.
#![allow(dead_code)] // each test binary uses its own part

use std::cell::RefCell;
use std::rc::Rc;

use otlp_embedded::export::{ExportReport, ExporterConfig, RetryPolicy};
use otlp_embedded::http::AsyncHttpClient;
use otlp_embedded::proto::RequestHeader;
use otlp_embedded::registry::Producer;
use otlp_embedded::time::{Clock, Instant, UnixNanos};
use otlp_embedded::transport::{
    AsyncConnect, AsyncConnection, AsyncExchange, CloseMode, Endpoint, ExchangeError, HttpRequest,
    HttpResponse, TransportError,
};
use otlp_embedded_embassy::{EmbassyClock, EmbassyConnection, EmbassyConnector};

/// One connection the client opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Its local port.
    pub local_port: Option<u16>,
    /// How the client asked to close it (`None`: never asked).
    pub close_mode: Option<CloseMode>,
    /// The close's mode and result, when the close ran to its end (core drops a close
    /// that outlasts the request's deadline; the connection's drop then aborts it).
    pub close: Option<(CloseMode, Result<(), TransportError>)>,
}

/// The connections opened, in order.
pub type Connections = Rc<RefCell<Vec<Connection>>>;

/// An [`EmbassyConnector`] that records each connection it opens.
pub struct Recording<'r, 'd> {
    pub connector: &'r mut EmbassyConnector<'d>,
    pub log: Connections,
}

/// A recorded connection: forwards everything to the embassy connection.
pub struct Recorded<'c, 'd> {
    inner: EmbassyConnection<'c, 'd>,
    index: usize,
    log: Connections,
}

impl<'d> AsyncConnect for Recording<'_, 'd> {
    type Connection<'c>
        = Recorded<'c, 'd>
    where
        Self: 'c;

    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Recorded<'_, 'd>, TransportError> {
        let inner = self.connector.connect(endpoint, deadline).await?;
        let mut log = self.log.borrow_mut();
        log.push(Connection {
            local_port: inner.local_port(),
            close_mode: None,
            close: None,
        });
        Ok(Recorded {
            inner,
            index: log.len() - 1,
            log: Rc::clone(&self.log),
        })
    }
}

impl embedded_io_async::ErrorType for Recorded<'_, '_> {
    type Error = embedded_io_async::ErrorKind;
}

impl embedded_io_async::Read for Recorded<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf).await
    }
}

impl embedded_io_async::Write for Recorded<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).await
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}

impl AsyncConnection for Recorded<'_, '_> {
    fn set_deadline(&mut self, deadline: Instant) {
        AsyncConnection::set_deadline(&mut self.inner, deadline);
    }

    async fn close(self, mode: CloseMode) -> Result<(), TransportError> {
        let Recorded { inner, index, log } = self;
        log.borrow_mut()[index].close_mode = Some(mode);
        let result = AsyncConnection::close(inner, mode).await;
        log.borrow_mut()[index].close = Some((mode, result.clone()));
        result
    }
}

/// What one exchange did, beyond its result: which connection carried it and how it closed.
#[derive(Clone, Debug)]
pub struct Exchanged {
    /// The response, or why there is none.
    pub result: Result<HttpResponse, ExchangeError>,
    /// The connection's local port (`None` when no connection was made).
    pub local_port: Option<u16>,
    /// How the client asked to close the connection.
    pub close_mode: Option<CloseMode>,
    /// How the connection was closed, and what the close returned, when it ran to its end.
    pub close: Option<(CloseMode, Result<(), TransportError>)>,
}

/// One exchange through core's [`AsyncHttpClient`] over `connector`, the response body into
/// `body`.
pub async fn exchange(
    connector: &mut EmbassyConnector<'_>,
    request: &HttpRequest<'_>,
    body: &mut [u8],
) -> Exchanged {
    let log = Connections::default();
    let recording = Recording {
        connector,
        log: Rc::clone(&log),
    };
    let mut client = AsyncHttpClient::new(recording, EmbassyClock);
    let result = client.exchange(request, body).await;
    let connections = log.borrow();
    assert!(connections.len() <= 1, "one connection per exchange");
    let connection = connections.first().cloned();
    Exchanged {
        result,
        local_port: connection.as_ref().and_then(|c| c.local_port),
        close_mode: connection.as_ref().and_then(|c| c.close_mode),
        close: connection.and_then(|c| c.close),
    }
}

/// What [`export`] did.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The crate's report.
    pub report: ExportReport,
    /// The connections it opened, in order.
    pub connections: Vec<Connection>,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// `otlp_embedded_embassy::export_once` to `endpoint` with `config` changed by `tune`
/// (the defaults: one attempt per request, `timeout_ms` for the request and the export).
#[allow(clippy::too_many_arguments)]
pub async fn export<P: Producer>(
    connector: &mut EmbassyConnector<'_>,
    producer: &mut P,
    snapshot: &mut P::Snapshot,
    buffer: &mut [u8],
    header: RequestHeader<'_>,
    endpoint: &Endpoint<'_>,
    timeout_ms: u32,
    unix_now: UnixNanos,
    tune: impl FnOnce(&mut ExporterConfig<'_>),
) -> Exported {
    export_through(
        connector, producer, snapshot, buffer, header, endpoint, timeout_ms, unix_now, tune, None,
    )
    .await
}

/// [`export`] through `otlp_embedded_embassy::exporter_with_lent_head`: the client's
/// header buffer is `head`, lent as a firmware lends it from a static.
#[allow(clippy::too_many_arguments)]
pub async fn export_lent_head<P: Producer>(
    connector: &mut EmbassyConnector<'_>,
    producer: &mut P,
    snapshot: &mut P::Snapshot,
    buffer: &mut [u8],
    header: RequestHeader<'_>,
    endpoint: &Endpoint<'_>,
    timeout_ms: u32,
    unix_now: UnixNanos,
    head: &mut [u8],
) -> Exported {
    export_through(
        connector,
        producer,
        snapshot,
        buffer,
        header,
        endpoint,
        timeout_ms,
        unix_now,
        |_| {},
        Some(head),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn export_through<P: Producer>(
    connector: &mut EmbassyConnector<'_>,
    producer: &mut P,
    snapshot: &mut P::Snapshot,
    buffer: &mut [u8],
    header: RequestHeader<'_>,
    endpoint: &Endpoint<'_>,
    timeout_ms: u32,
    unix_now: UnixNanos,
    tune: impl FnOnce(&mut ExporterConfig<'_>),
    head: Option<&mut [u8]>,
) -> Exported {
    let log = Connections::default();
    let recording = Recording {
        connector,
        log: Rc::clone(&log),
    };
    let mut config = ExporterConfig::new(*endpoint, header);
    config.request_timeout_ms = timeout_ms;
    config.export_timeout_ms = timeout_ms;
    config.retry = RetryPolicy::new().with_max_attempts(1);
    tune(&mut config);
    let started = EmbassyClock.now();
    let report = match head {
        None => {
            let mut exporter = otlp_embedded_embassy::exporter(recording, config);
            otlp_embedded_embassy::export_once(&mut exporter, producer, snapshot, buffer, unix_now)
                .await
        }
        Some(head) => {
            let mut exporter =
                otlp_embedded_embassy::exporter_with_lent_head(recording, config, head);
            otlp_embedded_embassy::export_once(&mut exporter, producer, snapshot, buffer, unix_now)
                .await
        }
    };
    let took_ms = started.millis_until(EmbassyClock.now());
    let connections = log.borrow().clone();
    Exported {
        report,
        connections,
        took_ms,
    }
}
