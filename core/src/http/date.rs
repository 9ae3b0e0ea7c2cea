//! `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3 and 5.6.7).

use super::head::trim;
use crate::transport::RetryAfter;

/// The day names in lower case, each padded with zeros to [`DAY_WIDTH`] bytes. A short
/// (three-letter) day name is the start of its long one, so one table serves both.
const DAYS: &[u8] = b"monday\0\0\0tuesday\0\0wednesdaythursday\0friday\0\0\0saturday\0sunday\0\0\0";
const DAY_WIDTH: usize = 9;
/// The month names in lower case, three letters each.
const MONTHS: &[u8] = b"janfebmaraprmayjunjulaugsepoctnovdec";

/// The three HTTP-date forms after the day name, as patterns: a digit stands for one byte
/// of the field it numbers (0 year, 2 day, 3 hour, 4 minute, 5 second) except `1`, the
/// whole month name; `_` is a space or the day's first digit; any other byte must appear
/// as is. One scanner reads all three.
const IMF_FIXDATE: &[u8] = b", 22 1 0000 33:44:55 GMT";
const RFC_850: &[u8] = b", 22-1-00 33:44:55 GMT";
const ASCTIME: &[u8] = b" 1 _2 33:44:55 0000";
/// The pattern code for the month name.
const MONTH: u8 = b'1';

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
    parse_trimmed_retry_after(trim(value))
}

/// [`parse_retry_after`] for a value without surrounding spaces and tabs, as the head
/// parser hands over every field value.
pub(super) fn parse_trimmed_retry_after(value: &[u8]) -> Option<RetryAfter> {
    if value.is_empty() {
        return None;
    }
    if value.iter().all(u8::is_ascii_digit) {
        // Capped at u32::MAX after every digit, so `acc * 10 + 9` cannot overflow a u64.
        let seconds = value.iter().fold(0u64, |acc, &b| {
            (acc * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX))
        });
        return Some(RetryAfter::Seconds(seconds as u32));
    }
    parse_http_date(value).map(RetryAfter::UnixSeconds)
}

/// The index of `word` among the `width`-byte names of `table`, case-insensitively: a whole
/// name (`whole`, its zero padding excepted) or, if not, the first `word.len()` bytes of one.
fn name_index(table: &[u8], width: usize, word: &[u8], whole: bool) -> Option<usize> {
    table.chunks(width).position(|name| {
        name.get(..word.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(word))
            && (!whole || name.get(word.len()).is_none_or(|&b| b == 0))
    })
}

/// The leading run of ASCII letters of `text`, and what follows it.
fn split_letters(text: &[u8]) -> (&[u8], &[u8]) {
    let n = text
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(text.len());
    text.split_at_checked(n).unwrap_or((text, b""))
}

fn parse_http_date(value: &[u8]) -> Option<u64> {
    let (day_name, mut rest) = split_letters(value);
    // A three-letter day name is a short one (no long one is that short), any other must
    // be a whole long one.
    let short_day = day_name.len() == 3;
    name_index(DAYS, DAY_WIDTH, day_name, !short_day)?;
    // IMF-fixdate and RFC 850 put a comma after the day name (short and long respectively),
    // asctime a space after a short one.
    let rfc_850 = !short_day;
    let pattern = match (rest.first(), short_day) {
        (Some(b','), true) => IMF_FIXDATE,
        (Some(b','), false) => RFC_850,
        (_, true) => ASCTIME,
        (_, false) => return None,
    };
    // year, month, day, hour, minute, second, and two slots no pattern uses
    let mut fields = [0u32; 8];
    for &code in pattern {
        if code == MONTH {
            // Three bytes: a month name is three letters and every pattern follows it with
            // a byte that is not one, so a longer or shorter run of letters fails here or
            // at that byte, as when the run itself was looked up.
            let (word, after) = rest.split_at_checked(3)?;
            let month = name_index(MONTHS, 3, word, true)?;
            if let Some(slot) = fields.get_mut(1) {
                *slot = month as u32 + 1;
            }
            rest = after;
            continue;
        }
        let (&b, after) = rest.split_first()?;
        rest = after;
        let field = match code {
            b'_' if b == b' ' => continue,
            b'_' => 2,
            b'0'..=b'9' => code - b'0',
            literal if b == literal => continue,
            _ => return None,
        };
        if !b.is_ascii_digit() {
            return None;
        }
        // The patterns' field codes are 0 to 5; masked to the array's eight slots, the
        // index is always in it, and needs no bounds test.
        if let Some(slot) = fields.get_mut(usize::from(field & 7)) {
            *slot = *slot * 10 + u32::from(b - b'0');
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let [year, month, day, h, m, s, _, _] = fields;
    let year = match (rfc_850, year) {
        (true, yy @ 0..=76) => 2000 + yy,
        (true, yy) => 1900 + yy,
        (false, yyyy) => yyyy,
    };
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    unix_seconds(year, month, day, (h, m, s))
}

/// Days from 1970-01-01 to `year`-`month`-`day`, for a year from 1970 and a day from 1.
/// Counting years from March puts a leap day at the end of its year (H. Hinnant's
/// days_from_civil): no table and no loop. Month 13 is January of the next year, which
/// is how a month's end is found. 719,468 days run from 0000-03-01 to 1970-01-01.
// Never inlined: called twice, and one copy is smaller.
#[inline(never)]
fn days_since_1970(year: u32, month: u32, day: u32) -> u32 {
    let y = if month <= 2 { year - 1 } else { year };
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    y * 365 + y / 4 - y / 100 + y / 400 + day_of_year - 719_468
}

/// Seconds since 1970 at `year`-`month`-`day` `h:m:s` UTC, `month` from 1 to 12. The
/// scanner reads at most four year digits and two day digits, so day counts fit a `u32`.
fn unix_seconds(year: u32, month: u32, day: u32, (h, m, s): (u32, u32, u32)) -> Option<u64> {
    if year < 1970 || day == 0 {
        return None;
    }
    // A day is in its month exactly when it comes before the first of the next month: the
    // calendar's month lengths and leap years without a test of their own.
    let days = days_since_1970(year, month, day);
    if days >= days_since_1970(year, month + 1, 1) {
        return None;
    }
    Some(u64::from(days) * 86_400 + u64::from(h * 3600 + m * 60 + s))
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
        assert_eq!(unix("Sun Nov 06 08:49:37 1994"), Some(784_111_777));
        assert_eq!(unix("SUNDAY, 06-NOV-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(unix("Saturday, 01-Jan-77 00:00:00 GMT"), Some(220_924_800));
        assert_eq!(unix("Mon, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        // The last day of a month, a leap day, and the day after it.
        assert_eq!(unix("Thu, 29 Feb 2024 00:00:00 GMT"), Some(1_709_164_800));
        assert_eq!(unix("Fri, 01 Mar 2024 00:00:00 GMT"), Some(1_709_251_200));
        assert_eq!(unix("Fri, 31 Dec 1999 23:59:59 GMT"), Some(946_684_799));
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
            "Sun, 31 Apr 1994 08:49:37 GMT",
            "Thu, 29 Feb 1900 00:00:00 GMT",
            "Thu, 29 Feb 2023 00:00:00 GMT",
            "Thu, 32 Jan 2023 00:00:00 GMT",
            "Thu, 00 Jan 2023 00:00:00 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Foo, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTx",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sunday Nov  6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov 6  08:49:37 1994",
            "Sun, 06 Novx 1994 08:49:37 GMT",
            "Sun, 06 No 1994 08:49:37 GMT",
            "Sund, 06 Nov 1994 08:49:37 GMT",
            "Tuexday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37",
        ] {
            assert_eq!(parse_retry_after(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
