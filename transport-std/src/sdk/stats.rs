//! [`ExportStatsHandle`]: what a [`MetricExporter`](super::MetricExporter) tells the
//! application about its exports. The SDK's reader owns the exporter, so the application
//! keeps this handle instead (from [`MetricExporter::stats`](super::MetricExporter::stats)).

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use otlp_embedded::export::{ExportReport, ExportStats, SERVER_MESSAGE_CAPACITY};

/// How many of the latest reports the handle keeps ([`ExportStatsHandle::report`]).
pub const REPORT_HISTORY: usize = 32;

/// What the exporter and its handles share.
pub(super) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

pub(super) struct State {
    /// Totals over the exporter's life.
    pub(super) totals: ExportStats,
    /// Exports finished (each call of `export` that sent or tried to send).
    pub(super) exports: u64,
    /// Report of export `n` (1-based) at `n % REPORT_HISTORY`, with its number.
    history: [Option<(u64, ExportReport)>; REPORT_HISTORY],
    /// The last message a server sent (partial success or error status), or empty.
    server_message: String,
    /// `shutdown` was called: exports are refused.
    pub(super) shut_down: bool,
    /// Exports running (`shutdown` waits for them, within its timeout).
    pub(super) exporting: usize,
}

impl Shared {
    pub(super) fn new() -> Self {
        Shared {
            state: Mutex::new(State {
                totals: ExportStats::default(),
                exports: 0,
                history: [None; REPORT_HISTORY],
                // Reserved once: copying a message in never allocates during an export.
                server_message: String::with_capacity(SERVER_MESSAGE_CAPACITY),
                shut_down: false,
                exporting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the statistics with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Wait until `done(state)` or `until`; the guard back and whether `done` held.
    pub(super) fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        until: Instant,
        mut done: impl FnMut(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            if done(&state) {
                return (state, true);
            }
            let now = Instant::now();
            if now >= until {
                return (state, false);
            }
            state = match self.changed.wait_timeout(state, until - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

impl State {
    /// Record a finished export: its report, the exporter's totals for it, and the last
    /// server message.
    pub(super) fn record(&mut self, report: ExportReport, of_export: &ExportStats, message: &str) {
        self.exports += 1;
        let slot = (self.exports % REPORT_HISTORY as u64) as usize;
        if let Some(entry) = self.history.get_mut(slot) {
            *entry = Some((self.exports, report));
        }
        add(&mut self.totals, of_export);
        self.server_message.clear();
        // At most SERVER_MESSAGE_CAPACITY bytes (core cuts it): within the reservation.
        self.server_message.push_str(message);
    }
}

/// `total += one`, field by field.
fn add(total: &mut ExportStats, one: &ExportStats) {
    total.exports_ok += one.exports_ok;
    total.exports_failed += one.exports_failed;
    total.retries += one.retries;
    total.requests_delivered += one.requests_delivered;
    total.requests_dropped += one.requests_dropped;
    total.points_sent += one.points_sent;
    total.points_rejected += one.points_rejected;
    total.points_dropped += one.points_dropped;
    total.bytes_sent += one.bytes_sent;
    if one.last_error.is_some() {
        total.last_error = one.last_error;
    }
    if one.last_success_unix_nanos.is_some() {
        total.last_success_unix_nanos = one.last_success_unix_nanos;
    }
}

/// A shared view of one [`MetricExporter`](super::MetricExporter)'s exports; clones see
/// the same exporter. Reading it takes a short lock, never one held across an export.
#[derive(Clone)]
pub struct ExportStatsHandle {
    pub(super) shared: Arc<Shared>,
}

impl fmt::Debug for ExportStatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportStatsHandle")
            .field("exports", &self.exports())
            .field("totals", &self.totals())
            .finish()
    }
}

impl ExportStatsHandle {
    /// Totals over the exporter's life: exports ok and failed, requests, points, retries,
    /// bytes, the last error.
    pub fn totals(&self) -> ExportStats {
        self.shared.lock().totals
    }

    /// How many exports have finished.
    pub fn exports(&self) -> u64 {
        self.shared.lock().exports
    }

    /// The report of the latest finished export.
    pub fn last_report(&self) -> Option<ExportReport> {
        let state = self.shared.lock();
        let slot = (state.exports % REPORT_HISTORY as u64) as usize;
        state.history.get(slot).copied().flatten().map(|(_, r)| r)
    }

    /// The report of export number `export` (1 for the first), while it is among the
    /// latest [`REPORT_HISTORY`].
    pub fn report(&self, export: u64) -> Option<ExportReport> {
        let state = self.shared.lock();
        let slot = (export % REPORT_HISTORY as u64) as usize;
        match state.history.get(slot).copied().flatten() {
            Some((n, report)) if n == export => Some(report),
            _ => None,
        }
    }

    /// What the server said last: a partial success's `error_message` or an error
    /// answer's `google.rpc.Status` message; empty when the last export's answers carried
    /// none.
    pub fn last_server_message(&self) -> String {
        self.shared.lock().server_message.clone()
    }

    /// Wait until at least `count` exports have finished, at most `timeout`. Returns
    /// whether they had.
    pub fn wait_for_exports(&self, count: u64, timeout: Duration) -> bool {
        let until = crate::sdk::instant_after(Instant::now(), timeout);
        let state = self.shared.lock();
        self.shared
            .wait_until(state, until, |s| s.exports >= count)
            .1
    }
}
