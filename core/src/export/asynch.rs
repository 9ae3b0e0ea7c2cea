//! The async driver (feature `async`): [`Exporter::export_async`].

use super::{Decision, ExportReport, Exporter};
use crate::registry::Producer;
use crate::time::UnixNanos;
use crate::transport::{AsyncExchange, AsyncTimer};

impl<'a, X: AsyncExchange> Exporter<'a, X> {
    /// Run a whole export, awaiting each exchange and waiting out retries on `timer`.
    /// Returns when every request is settled or the export deadline has passed. The same
    /// policy as [`export`](Self::export): only the waiting differs.
    ///
    /// The future borrows everything it uses and allocates nothing; with core's
    /// [`AsyncHttpClient`](crate::http::AsyncHttpClient) every buffer stays with the caller
    /// (the encode buffer here, the response body in the exporter, the header buffer in
    /// the client), so the future holds only the export's state and the exchange in
    /// progress. Dropping it mid-export is safe: what it had not settled stays in the
    /// producer for the next export (as if abandoned), and the open connection is dropped
    /// (the [`AsyncConnection`](crate::transport::AsyncConnection) contract makes that an
    /// abort).
    pub async fn export_async<P: Producer, T: AsyncTimer + ?Sized>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        timer: &T,
        unix_now: UnixNanos,
    ) -> ExportReport {
        let mut run = self.policy.start(producer, snapshot, unix_now, timer.now());
        let snapshot: &P::Snapshot = snapshot;
        loop {
            match self
                .policy
                .decide(&mut run, producer, snapshot, buffer, timer.now())
            {
                Decision::Send(body) => {
                    let request = run.request_with(body);
                    let result = self
                        .exchange
                        .exchange(&request, &mut self.response_body)
                        .await;
                    let now = timer.now();
                    self.policy.conclude_sent(
                        &mut run,
                        producer,
                        snapshot,
                        result,
                        &self.response_body,
                        now,
                    );
                }
                Decision::Wait(at) => timer.wait_until(at).await,
                Decision::Done => return run.report,
            }
        }
    }
}
