//! Why a declaration or a measurement was refused.

use super::{InstrumentKind, MAX_KEYS};

/// Why a declaration failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DeclareError {
    /// All `INSTRUMENTS` instrument slots are taken.
    TooManyInstruments,
    /// Fewer than `max_series + 1` of the `SERIES` series remain.
    SeriesExhausted {
        /// Series needed.
        needed: usize,
        /// Series left.
        left: usize,
    },
    /// Fewer than `max_series + 1` of the `HISTOGRAM_SERIES` histogram series remain.
    HistogramsExhausted {
        /// Histogram series needed.
        needed: usize,
        /// Histogram series left.
        left: usize,
    },
    /// Not enough of the `BUCKETS` bucket counters remain.
    BucketsExhausted {
        /// Bucket counters needed.
        needed: usize,
        /// Bucket counters left.
        left: usize,
    },
    /// More than [`MAX_KEYS`] attribute keys.
    TooManyKeys,
    /// An attribute key listed twice (OTLP attribute keys are unique per point).
    DuplicateKey {
        /// Position of the second listing in the declared keys.
        index: u8,
    },
    /// Bounds not strictly ascending, or not finite.
    InvalidBounds,
    /// Exponential limits out of range (max size below 3, scale outside -10..=20).
    InvalidLimits,
    /// An observable instrument without a callback.
    MissingCallback,
    /// The shared registry was already borrowed (declared from inside a callback).
    Busy,
    /// Instruments of this kind need a cargo feature of `otlp-embedded` that this build
    /// does not enable: `exponential-histogram` for exponential histograms, `observable`
    /// for observable instruments (both on by default).
    KindNotEnabled {
        /// The kind that was declared.
        kind: InstrumentKind,
    },
}

impl core::fmt::Display for DeclareError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeclareError::TooManyInstruments => f.write_str("registry: instrument table full"),
            DeclareError::SeriesExhausted { needed, left } => {
                write!(f, "registry: {needed} series needed, {left} left")
            }
            DeclareError::HistogramsExhausted { needed, left } => {
                write!(f, "registry: {needed} histogram series needed, {left} left")
            }
            DeclareError::BucketsExhausted { needed, left } => {
                write!(f, "registry: {needed} bucket counters needed, {left} left")
            }
            DeclareError::TooManyKeys => write!(f, "registry: more than {MAX_KEYS} attribute keys"),
            DeclareError::DuplicateKey { index } => {
                write!(f, "registry: attribute key {index} is listed twice")
            }
            DeclareError::InvalidBounds => {
                f.write_str("registry: bounds not finite and strictly ascending")
            }
            DeclareError::InvalidLimits => {
                f.write_str("registry: exponential max size < 3 or scale outside -10..=20")
            }
            DeclareError::MissingCallback => {
                f.write_str("registry: observable instrument without callback")
            }
            DeclareError::Busy => f.write_str("registry: already borrowed"),
            DeclareError::KindNotEnabled { kind } => write!(
                f,
                "registry: {kind:?} needs otlp-embedded's feature `{}`",
                if kind.is_observable() {
                    "observable"
                } else {
                    "exponential-histogram"
                }
            ),
        }
    }
}

/// Why a measurement was not recorded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RecordError {
    /// The instrument (or bound series) is not one of this registry's.
    UnknownInstrument,
    /// The instrument does not take measurements this way (an observable instrument).
    WrongKind,
    /// A negative increment to a monotonic counter.
    Negative,
    /// NaN or an infinity.
    NotFinite,
    /// The shared registry was already borrowed (recorded from inside a callback).
    Busy,
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RecordError::UnknownInstrument => "registry: unknown instrument or series",
            RecordError::WrongKind => "registry: instrument does not take measurements",
            RecordError::Negative => "registry: negative increment to a counter",
            RecordError::NotFinite => "registry: value not finite",
            RecordError::Busy => "registry: already borrowed",
        })
    }
}

impl core::error::Error for DeclareError {}

impl core::error::Error for RecordError {}
