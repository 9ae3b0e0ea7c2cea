//! `metrics::Unit` as the UCUM unit strings OTLP carries (the `unit` field of a metric).

use metrics::Unit;

/// The UCUM code for `unit`, as OpenTelemetry's semantic conventions write units: `By`
/// for bytes, `s` for seconds, `1` for a dimensionless count.
///
/// | `metrics::Unit`       | OTLP unit |
/// |-----------------------|-----------|
/// | `Count`               | `1`       |
/// | `Percent`             | `%`       |
/// | `Seconds`             | `s`       |
/// | `Milliseconds`        | `ms`      |
/// | `Microseconds`        | `us`      |
/// | `Nanoseconds`         | `ns`      |
/// | `Tebibytes`           | `TiBy`    |
/// | `Gibibytes`           | `GiBy`    |
/// | `Mebibytes`           | `MiBy`    |
/// | `Kibibytes`           | `KiBy`    |
/// | `Bytes`               | `By`      |
/// | `TerabitsPerSecond`   | `Tbit/s`  |
/// | `GigabitsPerSecond`   | `Gbit/s`  |
/// | `MegabitsPerSecond`   | `Mbit/s`  |
/// | `KilobitsPerSecond`   | `kbit/s`  |
/// | `BitsPerSecond`       | `bit/s`   |
/// | `CountPerSecond`      | `1/s`     |
///
/// ```
/// use otlp_embedded_std::metrics_rs::ucum;
/// assert_eq!(ucum(metrics::Unit::Microseconds), "us");
/// ```
pub fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "1",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        // UCUM's case-sensitive code for micro is `u`.
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "1/s",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_has_a_distinct_code() {
        let units = [
            Unit::Count,
            Unit::Percent,
            Unit::Seconds,
            Unit::Milliseconds,
            Unit::Microseconds,
            Unit::Nanoseconds,
            Unit::Tebibytes,
            Unit::Gibibytes,
            Unit::Mebibytes,
            Unit::Kibibytes,
            Unit::Bytes,
            Unit::TerabitsPerSecond,
            Unit::GigabitsPerSecond,
            Unit::MegabitsPerSecond,
            Unit::KilobitsPerSecond,
            Unit::BitsPerSecond,
            Unit::CountPerSecond,
        ];
        let mut codes: Vec<&str> = units.iter().map(|u| ucum(*u)).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), units.len());
        assert_eq!(ucum(Unit::Bytes), "By");
        assert_eq!(ucum(Unit::Seconds), "s");
    }
}
