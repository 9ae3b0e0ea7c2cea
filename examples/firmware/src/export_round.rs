//! A whole export in firmware through the exchange-level seam: a `static` critical-section
//! registry, a `static` snapshot and request buffer, the core exporter, and a stand-in for a
//! cellular modem's HTTP commands that answers the first request 503 (Retry-After: 1) and
//! the retry 200. No allocator, no clock but a tick counter, no sleep but advancing it.

use core::cell::Cell;

use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{CsRegistry, InstrumentDesc, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    Endpoint, Exchange, ExchangeError, HttpRequest, HttpResponse, RetryAfter, Scheme,
};

use crate::runtime::TakeOnce;

static METRICS: CsRegistry<2, 16, 18, 2, 40> = CsRegistry::new(0);
static SNAPSHOT: TakeOnce<Snapshot<2, 16, 18, 2, 40>> = TakeOnce::new(Snapshot::new());
static REQUEST: TakeOnce<[u8; 512]> = TakeOnce::new([0; 512]);

/// What a modem's HTTP command set offers: one whole POST, status back.
struct Modem {
    posts: u32,
    bytes: usize,
}

impl Exchange for Modem {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        _body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.posts += 1;
        self.bytes += request.body.len();
        let busy = self.posts == 1;
        Ok(HttpResponse::new(if busy { 503 } else { 200 })
            .with_retry_after(if busy {
                Some(RetryAfter::Seconds(1))
            } else {
                None
            })
            .with_bytes(request.body.len(), 0))
    }
}

/// A millisecond tick counter, as a SysTick interrupt would keep.
struct Ticks(Cell<u64>);

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

/// Records, exports through the modem, and checks the account. Returns whether all held.
pub fn run() -> bool {
    let Ok(uplinks) = METRICS.declare(
        InstrumentDesc::counter_u64("modem.uplinks")
            .attributes(&["band"])
            .max_series(3)
            .temporality(Temporality::Delta),
    ) else {
        return false;
    };
    for band in 0..3i64 {
        let attrs = [KeyValue::new("band", AttributeValue::Int(band))];
        if METRICS
            .record(uplinks, 10u64 + band as u64, &attrs)
            .is_err()
        {
            return false;
        }
    }
    let resource = [KeyValue::new(
        "service.name",
        AttributeValue::Str("firmware"),
    )];
    let header = RequestHeader::new(
        Resource::new(&resource),
        Scope::new("otlp-embedded-firmware"),
    );
    let endpoint = Endpoint::new(Scheme::Http, "collector.local", 4318, "/v1/metrics");
    let clock = Ticks(Cell::new(0));
    let mut exporter = Exporter::new(
        ExporterConfig::new(endpoint, header),
        Modem { posts: 0, bytes: 0 },
    );
    let (Some(snapshot), Some(buffer)) = (SNAPSHOT.take(), REQUEST.take()) else {
        return false;
    };
    let mut producer = &METRICS;
    let report = exporter.export(
        &mut producer,
        snapshot,
        buffer,
        &clock,
        1_700_000_000_000_000_000,
        |now: Instant, until: Instant| clock.0.set(clock.0.get() + now.millis_until(until)),
    );
    let modem = exporter.exchange();
    report.outcome == ExportOutcome::Success
        && report.points_sent == 3
        && report.retries == 1
        && modem.posts == 2
        && modem.bytes > 0
        // The retry waited the server's one second.
        && clock.now().0 >= 1_000
}
