//! The superloop driver: [`Exporter::poll`], one call per tick, never waiting.

use core::task::Poll;

use super::{Decision, ExportReport, ExportRun, Exporter};
use crate::registry::Producer;
use crate::time::Clock;
use crate::transport::PollExchange;

/// Policy decisions and exchange steps in one [`Exporter::poll`] call at most: enough to
/// conclude one exchange and start the next, while every call stays short.
const TURNS_PER_POLL: usize = 4;

impl<'a, X> Exporter<'a, X> {
    /// Advance `run` by what can be done now without waiting: `Ready` with the report
    /// once the export is over, `Pending` otherwise. Call it on every tick of a superloop
    /// (or when [`ExportRun::waiting_until`] says a retry is due), with the same snapshot,
    /// encode buffer and exchange context each time. The clock is read before each step
    /// of the exchange and after it (retry timing counts from the answer).
    ///
    /// `cx` is what the exchange needs lent on each call: the connection for core's
    /// [`PollHttpClient`](crate::http::PollHttpClient) (a non-blocking socket, or a view of
    /// the firmware's network stack), `()` for an exchange that owns its transport.
    ///
    /// ```
    /// use core::task::Poll;
    /// use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
    /// use otlp_embedded::proto::{RequestHeader, Resource, Scope};
    /// use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
    /// use otlp_embedded::time::{Clock, Instant};
    /// use otlp_embedded::transport::{
    ///     Endpoint, ExchangeError, HttpRequest, HttpResponse, PollExchange,
    /// };
    ///
    /// /// A stand-in for a transport working in the background: it answers each request
    /// /// 200 on the second tick.
    /// struct Modem { ticks: u32 }
    /// impl PollExchange for Modem {
    ///     fn poll_exchange(&mut self, _: &mut (), request: &HttpRequest<'_>, _: &mut [u8], _: Instant)
    ///         -> Poll<Result<HttpResponse, ExchangeError>> {
    ///         self.ticks += 1;
    ///         if self.ticks % 2 == 1 { return Poll::Pending; }
    ///         Poll::Ready(Ok(HttpResponse::new(200).with_bytes(request.body.len(), 0)))
    ///     }
    ///     fn cancel(&mut self, _: &mut ()) {}
    /// }
    ///
    /// /// A millisecond tick counter.
    /// struct Ticks(core::cell::Cell<u64>);
    /// impl Clock for Ticks {
    ///     fn now(&self) -> Instant { Instant(self.0.get()) }
    /// }
    ///
    /// type Metrics = Registry<2, 8, 16, 2, 32>;
    /// let mut registry = Metrics::new(0);
    /// let boots = registry.declare(InstrumentDesc::counter_u64("boots").max_series(1)).unwrap();
    /// registry.record(boots, 1u64, &[]).unwrap();
    /// let header = RequestHeader::new(Resource::new(&[]), Scope::new("demo"));
    /// let mut exporter = Exporter::new(ExporterConfig::new(Endpoint::DEFAULT, header), Modem { ticks: 0 });
    /// let (mut snapshot, mut buffer) = (SnapshotOf::<Metrics>::new(), [0u8; 512]);
    /// let clock = Ticks(core::cell::Cell::new(0));
    /// let mut run = exporter.start(&mut registry, &mut snapshot, 1_700_000_000_000_000_000, clock.now());
    /// let report = loop {
    ///     // ... the tick's other work ...
    ///     if let Poll::Ready(report) = exporter.poll(&mut run, &mut registry, &snapshot, &mut buffer, &mut (), &clock) {
    ///         break report;
    ///     }
    ///     clock.0.set(clock.0.get() + 10);
    /// };
    /// assert_eq!(report.outcome, ExportOutcome::Success);
    /// ```
    pub fn poll<P: Producer, Cx: ?Sized, K: Clock>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &mut [u8],
        cx: &mut Cx,
        clock: &K,
    ) -> Poll<ExportReport>
    where
        X: PollExchange<Cx>,
    {
        for _ in 0..TURNS_PER_POLL {
            // A request handed out earlier and not concluded yet: its exchange goes on.
            if let Some(request) = run.request(buffer) {
                let polled =
                    self.exchange
                        .poll_exchange(cx, &request, &mut self.response_body, clock.now());
                match polled {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        let now = clock.now();
                        self.policy.conclude_sent(
                            run,
                            producer,
                            snapshot,
                            result,
                            &self.response_body,
                            now,
                        );
                        continue;
                    }
                }
            }
            match self
                .policy
                .decide(run, producer, snapshot, buffer, clock.now())
            {
                // Started on the next turn, through `run.request`.
                Decision::Send(_) => {}
                Decision::Wait(_) => return Poll::Pending,
                Decision::Done => return Poll::Ready(run.report),
            }
        }
        Poll::Pending
    }

    /// End `run` now, between polls (a shutdown that will not wait): the exchange in
    /// progress, if any, is given up and its connection aborted, and everything not
    /// delivered goes back to the producer, as [`abandon`](Self::abandon) says.
    pub fn cancel<P: Producer, Cx: ?Sized>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        cx: &mut Cx,
    ) -> ExportReport
    where
        X: PollExchange<Cx>,
    {
        self.exchange.cancel(cx);
        self.policy.abandon(run, producer, snapshot)
    }
}
