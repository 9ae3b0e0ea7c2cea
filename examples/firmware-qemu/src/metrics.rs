//! The board's metrics: one `static` critical-section registry that the SysTick handler
//! and the main loop both record into, and a tally of every measurement that was recorded
//! successfully, so the program can say at the end exactly what the sink must have got.

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use critical_section::Mutex;
use otlp_embedded::proto::{AttributeValue, KeyValue, Temporality};
use otlp_embedded::registry::{Bound, CsRegistry, DeclareError, InstrumentDesc, RecordError};

/// 4 instruments, 12 series (each instrument's own and its overflow series), 16 bytes of attribute values per series, 4 histogram series,
/// 32 bucket counters.
pub type Metrics = CsRegistry<4, 12, 16, 4, 32>;
/// The snapshot type matching [`Metrics`].
pub type MetricsSnapshot = otlp_embedded::registry::Snapshot<4, 12, 16, 4, 32>;

/// The registry, in a `static` so the SysTick handler can record into it.
pub static METRICS: Metrics = CsRegistry::new(0);

/// While false, nothing more is recorded (set before the last export, so that what the
/// sink receives can be compared with what was recorded).
static RECORDING: AtomicBool = AtomicBool::new(false);

/// SysTick entry latency bounds, in SysTick cycles (25 per microsecond).
pub const LATENCY_BOUNDS: &[f64] = &[25.0, 100.0, 250.0, 1_000.0, 2_500.0, 10_000.0];
/// Main-loop iteration bounds, in microseconds.
pub const ITERATION_BOUNDS: &[f64] = &[10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0];
const BUCKETS: usize = 7;

/// What was recorded into one series, tallied beside the registry.
pub struct Tally {
    count: AtomicU32,
    sum: AtomicU32,
    buckets: [AtomicU32; BUCKETS],
}

impl Tally {
    const fn new() -> Self {
        Tally {
            count: AtomicU32::new(0),
            sum: AtomicU32::new(0),
            buckets: [const { AtomicU32::new(0) }; BUCKETS],
        }
    }

    fn add(&self, value: u32, bounds: &[f64]) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        // The registry's rule: bucket i holds (bounds[i-1], bounds[i]].
        let bucket = bounds.iter().filter(|b| **b < f64::from(value)).count();
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Measurements recorded.
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the values recorded (integers, so the sink's f64 sum is exact).
    pub fn sum(&self) -> u32 {
        self.sum.load(Ordering::Relaxed)
    }

    /// Count per bucket.
    pub fn buckets(&self) -> [u32; BUCKETS] {
        let mut out = [0; BUCKETS];
        for (o, b) in out.iter_mut().zip(self.buckets.iter()) {
            *o = b.load(Ordering::Relaxed);
        }
        out
    }

    /// Buckets with at least one measurement.
    pub fn populated(&self) -> usize {
        self.buckets().iter().filter(|c| **c > 0).count()
    }
}

/// SysTick interrupts recorded into `board.systick.ticks`.
pub static TICKS: Tally = Tally::new();
/// SysTick entry latencies recorded into `board.systick.latency`.
pub static LATENCY: Tally = Tally::new();
/// Main-loop iterations recorded into `board.loop.iteration`.
pub static ITERATIONS: Tally = Tally::new();
/// Frames received / sent, recorded into `board.nic.frames`.
pub static FRAMES_RX: Tally = Tally::new();
/// See [`FRAMES_RX`].
pub static FRAMES_TX: Tally = Tally::new();

/// The series the SysTick handler records into, bound once at start-up.
static HANDLER_SERIES: Mutex<Cell<Option<(Bound, Bound)>>> = Mutex::new(Cell::new(None));

/// The main loop's instruments.
#[derive(Copy, Clone, Debug)]
pub struct LoopSeries {
    iteration: Bound,
    rx: Bound,
    tx: Bound,
}

/// Why the instruments could not be set up (the registry's capacities are too small).
#[derive(Copy, Clone, Debug)]
// The fields are read through `Debug` when the error is printed.
#[allow(dead_code)]
pub enum SetupError {
    /// Declaring an instrument failed.
    Declare(DeclareError),
    /// Binding a series failed.
    Bind(RecordError),
}

impl From<DeclareError> for SetupError {
    fn from(e: DeclareError) -> Self {
        SetupError::Declare(e)
    }
}

/// Declare the board's instruments with `temporality`, bind their series, and start
/// recording.
pub fn declare(temporality: Temporality) -> Result<LoopSeries, SetupError> {
    let ticks = METRICS.declare(
        InstrumentDesc::counter_u64("board.systick.ticks")
            .description("SysTick interrupts, counted by the handler")
            .temporality(temporality)
            .max_series(1),
    )?;
    let latency = METRICS.declare(
        InstrumentDesc::histogram("board.systick.latency")
            .description("SysTick cycles from the counter's wrap to the handler reading it")
            .unit("{cycle}")
            .bounds(LATENCY_BOUNDS)
            .temporality(temporality)
            .max_series(1),
    )?;
    let iteration = METRICS.declare(
        InstrumentDesc::histogram("board.loop.iteration")
            .description("Main-loop iteration time, sleep excluded")
            .unit("us")
            .bounds(ITERATION_BOUNDS)
            .temporality(temporality)
            .max_series(1),
    )?;
    let frames = METRICS.declare(
        InstrumentDesc::counter_u64("board.nic.frames")
            .description("Ethernet frames through the LAN9118")
            .attributes(&["direction"])
            .temporality(temporality)
            .max_series(2),
    )?;
    let bind = |instrument, attrs: &[KeyValue<'_>]| {
        METRICS.bind(instrument, attrs).map_err(SetupError::Bind)
    };
    let handler = (bind(ticks, &[])?, bind(latency, &[])?);
    let series = LoopSeries {
        iteration: bind(iteration, &[])?,
        rx: bind(
            frames,
            &[KeyValue::new("direction", AttributeValue::Str("rx"))],
        )?,
        tx: bind(
            frames,
            &[KeyValue::new("direction", AttributeValue::Str("tx"))],
        )?,
    };
    critical_section::with(|cs| HANDLER_SERIES.borrow(cs).set(Some(handler)));
    RECORDING.store(true, Ordering::Release);
    Ok(series)
}

/// Stop recording, everywhere.
pub fn stop_recording() {
    RECORDING.store(false, Ordering::Release);
}

/// The SysTick handler's share: one tick and its entry latency.
pub fn record_tick(latency_cycles: u32) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let Some((ticks, latency)) = critical_section::with(|cs| HANDLER_SERIES.borrow(cs).get())
    else {
        return;
    };
    if METRICS.record_bound(ticks, 1u64).is_ok() {
        TICKS.add(1, &[]);
    }
    if METRICS
        .record_bound(latency, f64::from(latency_cycles))
        .is_ok()
    {
        LATENCY.add(latency_cycles, LATENCY_BOUNDS);
    }
}

impl LoopSeries {
    /// One main-loop iteration took `micros`.
    pub fn record_iteration(&self, micros: u32) {
        if RECORDING.load(Ordering::Acquire)
            && METRICS
                .record_bound(self.iteration, f64::from(micros))
                .is_ok()
        {
            ITERATIONS.add(micros, ITERATION_BOUNDS);
        }
    }

    /// `rx` and `tx` more frames went through the NIC.
    pub fn record_frames(&self, rx: u32, tx: u32) {
        if !RECORDING.load(Ordering::Acquire) {
            return;
        }
        if rx > 0 && METRICS.record_bound(self.rx, u64::from(rx)).is_ok() {
            FRAMES_RX.add(rx, &[]);
        }
        if tx > 0 && METRICS.record_bound(self.tx, u64::from(tx)).is_ok() {
            FRAMES_TX.add(tx, &[]);
        }
    }
}
