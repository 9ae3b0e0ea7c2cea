//! Metric names to instruments: declared on first use, up to the registry's capacity.
//!
//! The registry keeps `&'static str` names, descriptions and units (firmware declares
//! literals). Names made at run time are copied into one byte block allocated when the
//! recorder is built and never freed, so that they can be borrowed for `'static`: the
//! block is the fixed memory for names and descriptions, and what does not fit is counted.

use otlp_embedded::registry::{DeclareError, Instrument, InstrumentDesc, InstrumentStats};

use super::stats::MetricKind;
use super::HistogramAggregation;
use super::{Access, Options};

/// Bytes handed out once, each piece for the rest of the process.
pub(super) struct NameStore {
    free: &'static mut [u8],
}

impl NameStore {
    pub(super) fn new(bytes: usize) -> NameStore {
        NameStore {
            // Leaked on purpose: the registry borrows names for `'static`. One block per
            // recorder, sized by the builder.
            free: Box::leak(vec![0u8; bytes].into_boxed_slice()),
        }
    }

    /// A `'static` copy of `text`, or `None` when the block has no room left for it.
    pub(super) fn store(&mut self, text: &str) -> Option<&'static str> {
        if text.is_empty() {
            return Some("");
        }
        if text.len() > self.free.len() {
            return None;
        }
        let free = std::mem::take(&mut self.free);
        let (piece, rest) = free.split_at_mut(text.len());
        piece.copy_from_slice(text.as_bytes());
        self.free = rest;
        let piece: &'static [u8] = piece;
        // A copy of a `str`'s bytes is UTF-8.
        std::str::from_utf8(piece).ok()
    }

    /// Bytes left.
    pub(super) fn left(&self) -> usize {
        self.free.len()
    }
}

/// A described metric not used yet.
struct Pending {
    kind: MetricKind,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
}

struct Declared {
    kind: MetricKind,
    name: &'static str,
    instrument: Instrument,
}

/// What a name was given.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Its instrument.
    Declared(Instrument),
    /// None: its measurements are counted as dropped.
    Refused,
}

/// What a declaration attempt changed in the recorder's counts.
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct DeclareOutcome {
    pub(super) declared: bool,
    /// The name is newly refused (or no longer remembered as refused).
    pub(super) refused: bool,
    pub(super) refusal: Option<DeclareError>,
    pub(super) name_bytes_exhausted: u32,
}

/// Names, their instruments, descriptions waiting for first use, refused names.
pub(super) struct Directory {
    names: NameStore,
    declared: Vec<Declared>,
    pending: Vec<Pending>,
    /// Refused names (owned: they got no room in `names`), at most `Options::refused_names`.
    refused: Vec<(MetricKind, Box<str>)>,
}

impl Directory {
    pub(super) fn new(name_bytes: usize) -> Directory {
        Directory {
            names: NameStore::new(name_bytes),
            declared: Vec::new(),
            pending: Vec::new(),
            refused: Vec::new(),
        }
    }

    pub(super) fn find(&self, kind: MetricKind, name: &str) -> Option<Lookup> {
        if let Some(d) = self
            .declared
            .iter()
            .find(|d| d.kind == kind && d.name == name)
        {
            return Some(Lookup::Declared(d.instrument));
        }
        self.refused
            .iter()
            .any(|(k, n)| *k == kind && &**n == name)
            .then_some(Lookup::Refused)
    }

    /// The instrument of `name`, declared now if it has none yet.
    pub(super) fn instrument(
        &mut self,
        registry: &dyn Access,
        options: &Options,
        kind: MetricKind,
        name: &str,
    ) -> (Lookup, DeclareOutcome) {
        let mut outcome = DeclareOutcome::default();
        if let Some(found) = self.find(kind, name) {
            return (found, outcome);
        }
        let pending = self
            .pending
            .iter()
            .position(|p| p.kind == kind && p.name == name);
        let stored = match pending {
            Some(i) => self.pending.get(i).map(|p| p.name),
            None => self.names.store(name),
        };
        let Some(stored) = stored else {
            outcome.name_bytes_exhausted = 1;
            self.refuse(options, kind, name, &mut outcome);
            return (Lookup::Refused, outcome);
        };
        let (unit, description) = pending
            .and_then(|i| self.pending.get(i))
            .map_or(("", ""), |p| (p.unit, p.description));
        let desc = describe(options, kind, stored)
            .unit(unit)
            .description(description);
        match registry.declare(desc) {
            Ok(instrument) => {
                if let Some(i) = pending {
                    self.pending.swap_remove(i);
                }
                self.declared.push(Declared {
                    kind,
                    name: stored,
                    instrument,
                });
                outcome.declared = true;
                (Lookup::Declared(instrument), outcome)
            }
            Err(e) => {
                outcome.refusal = Some(e);
                self.refuse(options, kind, name, &mut outcome);
                (Lookup::Refused, outcome)
            }
        }
    }

    fn refuse(
        &mut self,
        options: &Options,
        kind: MetricKind,
        name: &str,
        outcome: &mut DeclareOutcome,
    ) {
        outcome.refused = true;
        if self.refused.len() < options.refused_names {
            self.refused.push((kind, name.into()));
        }
    }

    /// Records a `describe_*`: kept for the name's declaration, or, when it is declared
    /// already, checked against what it was declared with. Returns (late, bytes exhausted).
    pub(super) fn describe(
        &mut self,
        registry: &dyn Access,
        kind: MetricKind,
        name: &str,
        unit: &'static str,
        description: &str,
    ) -> (bool, bool) {
        if let Some(d) = self
            .declared
            .iter()
            .find(|d| d.kind == kind && d.name == name)
        {
            let same = registry
                .desc(d.instrument)
                .is_some_and(|(u, desc)| u == unit && desc == description);
            return (!same, false);
        }
        let existing = self
            .pending
            .iter()
            .position(|p| p.kind == kind && p.name == name);
        let name = match existing.and_then(|i| self.pending.get(i)) {
            Some(p) => Some(p.name),
            None => self.names.store(name),
        };
        let Some(name) = name else {
            // The name itself does not fit: its first use is refused for the same reason.
            return (false, true);
        };
        let stored = self.names.store(description);
        let pending = Pending {
            kind,
            name,
            unit,
            description: stored.unwrap_or(""),
        };
        match existing.and_then(|i| self.pending.get_mut(i)) {
            Some(p) => *p = pending,
            None => self.pending.push(pending),
        }
        (false, stored.is_none())
    }

    /// The registry's counts for one metric.
    pub(super) fn stats(
        &self,
        registry: &dyn Access,
        kind: MetricKind,
        name: &str,
    ) -> Option<InstrumentStats> {
        match self.find(kind, name)? {
            Lookup::Declared(i) => registry.stats(i),
            Lookup::Refused => None,
        }
    }

    pub(super) fn name_bytes_left(&self) -> usize {
        self.names.left()
    }
}

/// The declaration of a metric of `kind` called `name`.
fn describe(options: &Options, kind: MetricKind, name: &'static str) -> InstrumentDesc {
    match kind {
        MetricKind::Counter => InstrumentDesc::counter_u64(name).max_series(options.max_series),
        MetricKind::Gauge => InstrumentDesc::gauge_f64(name).max_series(options.max_series),
        MetricKind::Histogram => {
            let desc = match options.histograms.for_name(name) {
                HistogramAggregation::Explicit(bounds) => {
                    InstrumentDesc::histogram(name).bounds(bounds)
                }
                HistogramAggregation::Exponential {
                    max_size,
                    max_scale,
                } => InstrumentDesc::exponential_histogram(name)
                    .exponential_limits(max_size, max_scale),
            };
            desc.max_series(options.max_histogram_series)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_store_hands_out_copies_until_full_and_counts_nothing_itself() {
        let mut store = NameStore::new(10);
        let a = store.store("abc").unwrap();
        let b = store.store("défg").unwrap(); // 5 bytes
        assert_eq!((a, b), ("abc", "défg"));
        assert_eq!(store.left(), 2);
        assert_eq!(store.store("xyz"), None);
        assert_eq!(store.store(""), Some(""));
        assert_eq!(store.store("xy"), Some("xy"));
        assert_eq!(store.left(), 0);
    }
}
