//! `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3 and 5.6.7).

use super::head::trim;
use crate::transport::RetryAfter;

const SHORT_DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parse a `Retry-After` value (surrounding spaces and tabs allowed).
///
/// Accepts delta-seconds (saturating at `u32::MAX`) and the three HTTP-date forms RFC 9110
/// requires recipients to accept:
///
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
/// - obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`
/// - asctime: `Sun Nov  6 08:49:37 1994`
///
/// Day and month names match case-insensitively; the day name is checked to be a day name
/// but not against the date. A two-digit RFC 850 year is read as 20yy up to 2076 and 19yy
/// from 77: RFC 9110 asks for the most recent past year when a date looks more than 50 years
/// ahead, and core has no wall clock, so the pivot is fixed from this release's year. Dates
/// before 1970 and anything else return `None`.
pub fn parse_retry_after(value: &[u8]) -> Option<RetryAfter> {
    let value = trim(value);
    if value.is_empty() {
        return None;
    }
    if value.iter().all(u8::is_ascii_digit) {
        let seconds = value.iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(10)
                .saturating_add(u64::from(b - b'0'))
                .min(u64::from(u32::MAX))
        });
        return Some(RetryAfter::Seconds(seconds as u32));
    }
    parse_http_date(value).map(RetryAfter::UnixSeconds)
}

/// A small cursor over the date text; every step returns `None` on a mismatch.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(s)?;
        Some(())
    }

    fn letters(&mut self) -> &'a [u8] {
        let n = self
            .0
            .iter()
            .position(|b| !b.is_ascii_alphabetic())
            .unwrap_or(self.0.len());
        let (word, rest) = self.0.split_at(n);
        self.0 = rest;
        word
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let head = self.0.get(..n)?;
        let mut v = 0u32;
        for &b in head {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        self.0 = self.0.get(n..)?;
        Some(v)
    }

    fn month(&mut self) -> Option<u32> {
        let word = self.letters();
        let i = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(word))?;
        Some(i as u32 + 1)
    }

    /// `hh:mm:ss`
    fn time(&mut self) -> Option<(u32, u32, u32)> {
        let h = self.digits(2)?;
        self.lit(b":")?;
        let m = self.digits(2)?;
        self.lit(b":")?;
        let s = self.digits(2)?;
        (h <= 23 && m <= 59 && s <= 60).then_some((h, m, s))
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

fn is_day(names: &[&[u8]; 7], word: &[u8]) -> bool {
    names.iter().any(|d| d.eq_ignore_ascii_case(word))
}

fn parse_http_date(value: &[u8]) -> Option<u64> {
    let mut c = Cursor(value);
    let day_name = c.letters();
    let (year, month, day, time) = if c.0.first() == Some(&b',') {
        c.lit(b", ")?;
        // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and RFC 850 (`Sunday, 06-Nov-94
        // 08:49:37 GMT`) differ only in the day name, the separator and the year's digits:
        // one path for both.
        let (separator, year_digits): (&[u8], usize) = if is_day(&SHORT_DAYS, day_name) {
            (b" ", 4)
        } else if is_day(&LONG_DAYS, day_name) {
            (b"-", 2)
        } else {
            return None;
        };
        let day = c.digits(2)?;
        c.lit(separator)?;
        let month = c.month()?;
        c.lit(separator)?;
        let year = c.digits(year_digits)?;
        c.lit(b" ")?;
        let time = c.time()?;
        c.lit(b" GMT")?;
        let year = match (year_digits, year) {
            (2, yy @ 0..=76) => 2000 + yy,
            (2, yy) => 1900 + yy,
            (_, yyyy) => yyyy,
        };
        (year, month, day, time)
    } else if is_day(&SHORT_DAYS, day_name) {
        // asctime
        c.lit(b" ")?;
        let month = c.month()?;
        c.lit(b" ")?;
        let day = if c.lit(b" ").is_some() {
            c.digits(1)?
        } else {
            c.digits(2)?
        };
        c.lit(b" ")?;
        let time = c.time()?;
        c.lit(b" ")?;
        let year = c.digits(4)?;
        (year, month, day, time)
    } else {
        return None;
    };
    c.end()?;
    unix_seconds(year, month, day, time)
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn unix_seconds(year: u32, month: u32, day: u32, (h, m, s): (u32, u32, u32)) -> Option<u64> {
    let days_in_month = match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > days_in_month {
        return None;
    }
    // Days since 1970-01-01: whole years, then whole months of this year.
    let leap_days = |y: u32| (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
    let mut days = u64::from(year - 1970) * 365 + u64::from(leap_days(year) - leap_days(1970));
    const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    days += u64::from(CUMULATIVE.get(month as usize - 1).copied()?);
    if month > 2 && is_leap(year) {
        days += 1;
    }
    days += u64::from(day - 1);
    Some(days * 86_400 + u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(v: &str) -> Option<u64> {
        match parse_retry_after(v.as_bytes()) {
            Some(RetryAfter::UnixSeconds(s)) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn three_date_forms_agree() {
        // 784111777 is 1994-11-06T08:49:37Z, the RFC's own example.
        assert_eq!(unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(unix("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(unix("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(unix("sun, 06 nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(unix("  Thu, 01 Jan 1970 00:00:00 GMT\t"), Some(0));
        assert_eq!(unix("Tue, 29 Feb 2000 23:59:60 GMT"), Some(951_868_800));
        assert_eq!(unix("Wed, 31 Dec 2025 12:00:00 GMT"), Some(1_767_182_400));
        assert_eq!(
            unix("Wednesday, 01-Jan-25 00:00:00 GMT"),
            Some(1_735_689_600)
        );
        assert_eq!(unix("Thu Jan 01 00:00:00 1970"), Some(0));
    }

    #[test]
    fn delta_seconds_and_invalid() {
        assert_eq!(parse_retry_after(b"120"), Some(RetryAfter::Seconds(120)));
        assert_eq!(parse_retry_after(b" 0 "), Some(RetryAfter::Seconds(0)));
        assert_eq!(
            parse_retry_after(b"99999999999999999999999"),
            Some(RetryAfter::Seconds(u32::MAX))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "12 s",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Foo, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTx",
            "Sun, 6 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
