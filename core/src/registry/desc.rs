//! Instrument declarations: what an instrument is called, what it records and how.

use crate::proto::{KeyValue, Temporality};

/// The default explicit-bucket boundaries of the OpenTelemetry SDK specification.
pub const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// What kind of instrument, and so which aggregation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InstrumentKind {
    /// Monotonic sum of non-negative increments.
    Counter,
    /// Sum of increments of either sign.
    UpDownCounter,
    /// Last value.
    Gauge,
    /// Explicit-bucket histogram.
    Histogram,
    /// Base-2 exponential histogram.
    ExponentialHistogram,
    /// Monotonic sum reported as an absolute value by a callback at collect time.
    ObservableCounter,
    /// Sum of either sign reported as an absolute value by a callback at collect time.
    ObservableUpDownCounter,
    /// Last value reported by a callback at collect time.
    ObservableGauge,
}

impl InstrumentKind {
    /// Whether a callback reports this instrument's values.
    pub const fn is_observable(self) -> bool {
        matches!(
            self,
            InstrumentKind::ObservableCounter
                | InstrumentKind::ObservableUpDownCounter
                | InstrumentKind::ObservableGauge
        )
    }
}

/// Whether this build records exponential histograms (feature `exponential-histogram`). A
/// constant, so that branches for them fold away and their code is not linked without it.
pub(super) const EXPONENTIAL: bool = cfg!(feature = "exponential-histogram");
/// Whether this build runs observable instruments (feature `observable`); as [`EXPONENTIAL`].
pub(super) const OBSERVABLE: bool = cfg!(feature = "observable");

/// Whether this build favours code size over recording speed (feature `prefer-size`).
pub(super) const PREFER_SIZE: bool = cfg!(feature = "prefer-size");

/// Whether this build can declare instruments of `kind` (its cargo feature is on).
pub(super) const fn kind_enabled(kind: InstrumentKind) -> bool {
    match kind {
        InstrumentKind::ExponentialHistogram => EXPONENTIAL,
        _ if kind.is_observable() => OBSERVABLE,
        _ => true,
    }
}

/// Which temporality instruments that do not choose one get, by kind: the OTLP metrics
/// exporter's `temporality` option, as `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
/// names it (specification/metrics/sdk_exporters/otlp.md). Set it with
/// [`Registry::set_temporality_preference`](super::Registry::set_temporality_preference) or
/// through [`Producer::set_temporality_preference`](super::Producer::set_temporality_preference).
///
/// ```
/// use otlp_embedded::proto::Temporality;
/// use otlp_embedded::registry::{InstrumentKind, TemporalityPreference};
///
/// let delta = TemporalityPreference::Delta;
/// assert_eq!(delta.temporality_for(InstrumentKind::ObservableCounter), Temporality::Delta);
/// assert_eq!(delta.temporality_for(InstrumentKind::UpDownCounter), Temporality::Cumulative);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TemporalityPreference {
    /// Cumulative for every instrument kind (the specification's default).
    #[default]
    Cumulative,
    /// Delta for counters (synchronous and observable) and histograms; cumulative for
    /// up-down counters (synchronous and observable).
    Delta,
    /// Delta for synchronous counters and histograms only; cumulative for the rest, so that
    /// observable counters need no memory of their last observation.
    LowMemory,
}

impl TemporalityPreference {
    /// The temporality this preference gives `kind`, per the specification's table (both
    /// histogram kinds are histograms there). Gauges, which the table does not name, get
    /// `Cumulative`: a gauge keeps reporting its last value.
    pub const fn temporality_for(self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind as K;
        match (self, kind) {
            (
                TemporalityPreference::Delta,
                K::Counter | K::ObservableCounter | K::Histogram | K::ExponentialHistogram,
            ) => Temporality::Delta,
            (
                TemporalityPreference::LowMemory,
                K::Counter | K::Histogram | K::ExponentialHistogram,
            ) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }
}

/// The number type of a counter, up-down counter or gauge (histograms always hold `f64`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NumberKind {
    /// Integers, exported as `as_int`.
    Int,
    /// Floats, exported as `as_double`.
    Double,
}

/// A measurement value; instruments convert it to their [`NumberKind`].
// A one-byte tag: each test of the kind is then one compare, not one of a tag widened to
// the value's eight bytes.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Number {
    /// Unsigned integer (counters).
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float.
    F64(f64),
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number::U64(v)
    }
}
impl From<u32> for Number {
    fn from(v: u32) -> Self {
        Number::U64(u64::from(v))
    }
}
impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number::I64(v)
    }
}
impl From<i32> for Number {
    fn from(v: i32) -> Self {
        Number::I64(i64::from(v))
    }
}
impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Number::F64(v)
    }
}
impl From<f32> for Number {
    fn from(v: f32) -> Self {
        Number::F64(f64::from(v))
    }
}

impl Number {
    /// As an `i64`: unsigned values saturate, floats truncate toward zero (saturating),
    /// NaN is 0.
    pub fn as_i64(self) -> i64 {
        match self {
            Number::F64(v) if v.to_bits() & !SIGN_BIT > INFINITY_BITS => 0,
            n => n.to_i64(),
        }
    }

    /// [`as_i64`](Self::as_i64) of a value that is not NaN (the registry converts only
    /// finite measurements), with no test for NaN.
    pub(crate) fn to_i64(self) -> i64 {
        match self {
            Number::U64(v) => i64::try_from(v).unwrap_or(i64::MAX),
            Number::I64(v) => v,
            Number::F64(v) => saturating_i64(v),
        }
    }

    /// As an `f64` (large integers round).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::U64(v) => v as f64,
            // With `prefer-size`, through the unsigned conversion the arm above links
            // anyway (on targets without a double-precision FPU, a soft-float routine of
            // its own), then the sign: rounding to nearest is symmetric, so the same value.
            Number::I64(v) if PREFER_SIZE => {
                let magnitude = (v.unsigned_abs() as f64).to_bits();
                f64::from_bits(magnitude | (v as u64 & SIGN_BIT))
            }
            Number::I64(v) => v as f64,
            Number::F64(v) => v,
        }
    }

    pub(crate) fn is_negative(self) -> bool {
        const NEG_ZERO_BITS: u64 = 0x8000_0000_0000_0000;
        const NEG_INFINITY_BITS: u64 = 0xFFF0_0000_0000_0000;
        match self {
            Number::U64(_) => false,
            Number::I64(v) => v < 0,
            // `v < 0.0` from the bits: below -0.0 and not a NaN (they lie past -inf), so
            // no soft-float compare is linked for it.
            Number::F64(v) => (NEG_ZERO_BITS + 1..=NEG_INFINITY_BITS).contains(&v.to_bits()),
        }
    }

    pub(crate) fn is_finite(self) -> bool {
        match self {
            Number::F64(v) => v.is_finite(),
            _ => true,
        }
    }
}

/// Where a callback reports the values of an observable instrument.
pub trait Observe {
    /// Report the current absolute value for the attribute set `attributes`.
    fn observe(&mut self, value: Number, attributes: &[KeyValue<'_>]);
}

/// An observable instrument's callback, run at collect time (inside the registry's critical
/// section when shared, so keep it short). A plain function: no allocation, no capture;
/// read device state from statics or atomics.
pub type Callback = fn(&mut dyn Observe);

/// An instrument declaration. Build one with a `const fn` constructor and chained setters:
///
/// ```
/// use otlp_embedded::registry::InstrumentDesc;
/// const REQUESTS: InstrumentDesc = InstrumentDesc::counter_u64("http.requests")
///     .description("Requests served")
///     .unit("{request}")
///     .attributes(&["method", "status"])
///     .max_series(16);
/// ```
#[derive(Copy, Clone, Debug)]
pub struct InstrumentDesc {
    /// Metric name.
    pub name: &'static str,
    /// Description; empty for none.
    pub description: &'static str,
    /// Unit (UCUM); empty for none.
    pub unit: &'static str,
    /// Kind of instrument.
    pub kind: InstrumentKind,
    /// Integer or float values (histograms: ignored, always float).
    pub number: NumberKind,
    /// Delta or cumulative; `None` (the default): what the registry's
    /// [`TemporalityPreference`] gives this kind. Observable counters and up-down counters
    /// under delta report the change since the last export of their callback's totals.
    pub temporality: Option<Temporality>,
    /// The attribute keys series of this instrument may carry, at most
    /// [`MAX_KEYS`](super::MAX_KEYS).
    pub attribute_keys: &'static [&'static str],
    /// Series this instrument may hold, besides its overflow series.
    pub max_series: u16,
    /// Explicit-bucket boundaries, strictly ascending (histograms):
    /// [`histogram`](Self::histogram) starts from [`DEFAULT_BOUNDS`]; the other
    /// constructors leave it empty, since no other kind reads it.
    pub bounds: &'static [f64],
    /// Most buckets per sign (exponential histograms), at least 3 (at scale -10 every
    /// finite `f64` falls in one of three buckets, so any value always fits).
    pub max_size: u16,
    /// Starting (largest) scale (exponential histograms), `-10..=20`.
    pub max_scale: i8,
    /// The callback of an observable instrument.
    pub callback: Option<Callback>,
}

impl InstrumentDesc {
    const fn base(name: &'static str, kind: InstrumentKind, number: NumberKind) -> Self {
        InstrumentDesc {
            name,
            description: "",
            unit: "",
            kind,
            number,
            temporality: None,
            attribute_keys: &[],
            max_series: 8,
            // Only `histogram` sets the default boundaries, so a program without an
            // explicit-bucket histogram on them does not link them.
            bounds: &[],
            max_size: 160,
            max_scale: 20,
            callback: None,
        }
    }

    /// A monotonic counter of integers.
    pub const fn counter_u64(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::Counter, NumberKind::Int)
    }
    /// A monotonic counter of floats.
    pub const fn counter_f64(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::Counter, NumberKind::Double)
    }
    /// An up-down counter of integers.
    pub const fn up_down_counter_i64(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::UpDownCounter, NumberKind::Int)
    }
    /// An up-down counter of floats.
    pub const fn up_down_counter_f64(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::UpDownCounter, NumberKind::Double)
    }
    /// A gauge of integers (last value).
    pub const fn gauge_i64(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::Gauge, NumberKind::Int)
    }
    /// A gauge of floats (last value).
    pub const fn gauge_f64(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::Gauge, NumberKind::Double)
    }
    /// An explicit-bucket histogram with the default boundaries ([`DEFAULT_BOUNDS`]).
    pub const fn histogram(name: &'static str) -> Self {
        Self::base(name, InstrumentKind::Histogram, NumberKind::Double).bounds(&DEFAULT_BOUNDS)
    }
    /// A base-2 exponential histogram with max size 160 and max scale 20.
    pub const fn exponential_histogram(name: &'static str) -> Self {
        Self::base(
            name,
            InstrumentKind::ExponentialHistogram,
            NumberKind::Double,
        )
    }
    /// An observable counter read through `callback`.
    pub const fn observable_counter(
        name: &'static str,
        number: NumberKind,
        callback: Callback,
    ) -> Self {
        Self::base(name, InstrumentKind::ObservableCounter, number).callback(callback)
    }
    /// An observable up-down counter read through `callback`.
    pub const fn observable_up_down_counter(
        name: &'static str,
        number: NumberKind,
        callback: Callback,
    ) -> Self {
        Self::base(name, InstrumentKind::ObservableUpDownCounter, number).callback(callback)
    }
    /// An observable gauge read through `callback`.
    pub const fn observable_gauge(
        name: &'static str,
        number: NumberKind,
        callback: Callback,
    ) -> Self {
        Self::base(name, InstrumentKind::ObservableGauge, number).callback(callback)
    }

    /// Sets the description.
    pub const fn description(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }
    /// Sets the unit.
    pub const fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }
    /// Sets the attribute keys: at most [`MAX_KEYS`](super::MAX_KEYS), each once
    /// ([`declare`](super::Registry::declare) refuses more, or a key listed twice). Passing
    /// these same literals when recording lets the registry match keys by address.
    pub const fn attributes(mut self, keys: &'static [&'static str]) -> Self {
        self.attribute_keys = keys;
        self
    }
    /// Sets how many series the instrument may hold (besides the overflow series).
    pub const fn max_series(mut self, max_series: u16) -> Self {
        self.max_series = max_series;
        self
    }
    /// Chooses the temporality, whatever the registry's preference.
    pub const fn temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = Some(temporality);
        self
    }
    /// Sets the explicit-bucket boundaries.
    pub const fn bounds(mut self, bounds: &'static [f64]) -> Self {
        self.bounds = bounds;
        self
    }
    /// Sets an exponential histogram's max size (per sign) and max scale.
    pub const fn exponential_limits(mut self, max_size: u16, max_scale: i8) -> Self {
        self.max_size = max_size;
        self.max_scale = max_scale;
        self
    }
    /// Sets the callback (observable instruments).
    pub const fn callback(mut self, callback: Callback) -> Self {
        self.callback = Some(callback);
        self
    }

    /// Bucket words one series needs.
    pub(crate) const fn bucket_stride(&self) -> usize {
        match self.kind {
            InstrumentKind::Histogram => self.bounds.len() + 1,
            InstrumentKind::ExponentialHistogram => 2 * self.max_size as usize,
            _ => 0,
        }
    }

    pub(crate) const fn is_histogram(&self) -> bool {
        matches!(
            self.kind,
            InstrumentKind::Histogram | InstrumentKind::ExponentialHistogram
        )
    }
}

/// The sign bit of an `f64`.
const SIGN_BIT: u64 = 1 << 63;
/// The bits of `f64::INFINITY`: NaNs are above it once the sign is cleared.
const INFINITY_BITS: u64 = 0x7FF0_0000_0000_0000;

/// `v as i64` (toward zero, saturating) for `v` not NaN, computed from the bits: on
/// targets without a double-precision FPU, `as` calls soft-float conversion and compares.
fn saturating_i64(v: f64) -> i64 {
    const FRACTION: u64 = (1 << 52) - 1;
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exponent < 0 {
        // |v| < 1, zeros and subnormals included.
        return 0;
    }
    let negative = bits >> 63 != 0;
    if exponent >= 63 {
        // |v| >= 2^63 and the infinities (NaN is the caller's).
        return if negative { i64::MIN } else { i64::MAX };
    }
    // The significand with its leading 1 moved to bit 63, shifted down to units: one
    // shift for every exponent in 0..63 (bits shifted out are the fraction, truncated).
    let magnitude = (((bits & FRACTION) | (1 << 52)) << 11) >> (63 - exponent);
    // Below 2^63: fits.
    let magnitude = magnitude as i64;
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for InstrumentDesc {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "InstrumentDesc {{ name: {=str}, kind: {}, number: {}, max_series: {=u16} }}",
            self.name,
            self.kind,
            self.number,
            self.max_series
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{saturating_i64, InstrumentDesc, Number, DEFAULT_BOUNDS};

    /// Explicit-bucket histograms start from the default boundaries; the kinds that never
    /// read boundaries carry none.
    #[test]
    fn only_histograms_start_with_default_bounds() {
        assert_eq!(InstrumentDesc::histogram("h").bounds, &DEFAULT_BOUNDS[..]);
        assert_eq!(
            InstrumentDesc::histogram("h").bounds(&[1.0]).bounds,
            &[1.0][..]
        );
        for desc in [
            InstrumentDesc::counter_u64("c"),
            InstrumentDesc::counter_f64("c"),
            InstrumentDesc::up_down_counter_i64("u"),
            InstrumentDesc::up_down_counter_f64("u"),
            InstrumentDesc::gauge_i64("g"),
            InstrumentDesc::gauge_f64("g"),
            InstrumentDesc::exponential_histogram("e"),
        ] {
            assert!(desc.bounds.is_empty(), "{}", desc.name);
        }
    }

    /// A signed integer converts to the `f64` `as` gives (with `prefer-size` through the
    /// unsigned conversion and the sign): on the edges, around every power of two where
    /// rounding starts, and on a spread of values.
    #[test]
    fn signed_as_f64_equals_as() {
        let check = |v: i64| {
            let got = Number::I64(v).as_f64();
            assert_eq!(got.to_bits(), (v as f64).to_bits(), "{v}");
        };
        for v in [0, 1, -1, i64::MAX, i64::MIN, i64::MIN + 1, i64::MAX - 1] {
            check(v);
        }
        for shift in 0..63 {
            let p = 1i64 << shift;
            for d in -3..=3 {
                for v in [p.wrapping_add(d), p.wrapping_neg().wrapping_add(d)] {
                    check(v);
                }
            }
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            check(x as i64);
            check((x as i64) >> (x % 64));
        }
    }

    /// The bit-level conversion equals `as` on the edges and on a spread of bit patterns:
    /// `as_i64` for every value, NaNs of any sign and payload included, and the conversion
    /// without a NaN test for every other value.
    #[test]
    fn saturating_i64_equals_as() {
        let check = |v: f64| {
            assert_eq!(
                Number::F64(v).as_i64(),
                v as i64,
                "{v:e} ({:#x})",
                v.to_bits()
            );
            if !v.is_nan() {
                assert_eq!(saturating_i64(v), v as i64, "{v:e} ({:#x})", v.to_bits());
                assert_eq!(Number::F64(v).to_i64(), v as i64, "{v:e}");
            }
        };
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.999,
            1.0,
            -1.0,
            1.5,
            -2.5,
            4503599627370495.5,
            9007199254740993.0,
            4611686018427387904.0,
            9223372036854775807.0,
            -9223372036854775808.0,
            -9223372036854777856.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7FF0_0000_0000_0001),
            f64::from_bits(0xFFF0_0000_0000_0001),
            f64::from_bits(0x7FFF_FFFF_FFFF_FFFF),
            f64::from_bits(0xFFFF_FFFF_FFFF_FFFF),
        ];
        for v in edges {
            check(v);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Exponents near the interesting range are the common draws.
            let bits = (x & !(0x7ff << 52)) | ((1023 + (x >> 56) % 70) << 52);
            for v in [f64::from_bits(x), f64::from_bits(bits)] {
                check(v);
            }
        }
    }
}
