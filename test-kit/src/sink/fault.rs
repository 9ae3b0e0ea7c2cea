//! The fault script: how the sink answers a request ([`Fault`]), the `Retry-After` values
//! it sends, and their compact command-line form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `Retry-After` value for 429 and 503 faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delta-seconds: `Retry-After: 7`.
    Seconds(u32),
    /// An HTTP-date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) at this wall-clock time.
    HttpDate(SystemTime),
}

impl RetryAfter {
    /// An HTTP-date this many seconds from now.
    pub fn date_in(seconds: u64) -> RetryAfter {
        RetryAfter::HttpDate(SystemTime::now() + Duration::from_secs(seconds))
    }

    /// The header value as sent.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::HttpDate(t) => http_date(*t),
        }
    }
}

/// How the sink answers a request. [`Fault::None`] is a well-behaved collector.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// `200 OK`, `Content-Type: application/x-protobuf`, `Content-Length: 0`; keep-alive.
    #[default]
    None,
    /// Answer normally, then close the connection if no next request starts within this
    /// time, without having sent `Connection: close` (the stale keep-alive connection).
    IdleClose(Duration),
    /// Answer normally (no `Connection: close` header), then close at once.
    AnswerThenClose,
    /// Read the whole request, then close without answering.
    CloseBeforeAnswer,
    /// Send part of the status line and headers, then close.
    CloseMidHeaders,
    /// Send complete headers announcing a 16-byte protobuf body, 5 bytes of it, then close.
    CloseMidBody,
    /// `200 OK` with `Transfer-Encoding: chunked`: a protobuf
    /// `ExportMetricsServiceResponse` whose partial success has 0 rejected points and the
    /// message `"sent chunked"`, in 4-byte chunks (the first with a chunk extension).
    Chunked,
    /// The normal `200 OK` response, written one byte at a time at this many bytes per
    /// second.
    Trickle {
        /// Rate; 0 is treated as 1.
        bytes_per_second: u32,
    },
    /// `429 Too Many Requests` with an optional `Retry-After` and a `google.rpc.Status`
    /// protobuf body (code 8, RESOURCE_EXHAUSTED); keep-alive.
    TooManyRequests(Option<RetryAfter>),
    /// `503 Service Unavailable` with an optional `Retry-After` and a `google.rpc.Status`
    /// protobuf body (code 14, UNAVAILABLE); keep-alive.
    Unavailable(Option<RetryAfter>),
    /// This status (such as 400, 404 or 500) with a `google.rpc.Status` protobuf body;
    /// keep-alive.
    Status(u16),
    /// `413 Payload Too Large` and `Connection: close` as soon as the request head is read,
    /// before reading the body (the body is then discarded during a lingering close).
    PayloadTooLargeEarly,
    /// `200 OK` whose body is an `ExportMetricsServiceResponse` with `partial_success`.
    PartialSuccess {
        /// `rejected_data_points`.
        rejected: i64,
        /// `error_message`.
        message: String,
    },
    /// `502 Bad Gateway` with a `text/html` body, as a proxy in front of a collector sends;
    /// a client must not decode it as protobuf. Keep-alive.
    Html502,
    /// The line `HTPT/1.1 2OO KO`, a blank line, then close.
    GarbageStatusLine,
    /// `HTTP/1.1 200 OK` followed by header lines without end, until
    /// [`SinkOptions::endless_header_limit`](super::SinkOptions::endless_header_limit) bytes, the client closes, or a write times out;
    /// then close.
    EndlessHeaders,
    /// Read the request, then reset the connection (`SO_LINGER` 0, so the close sends RST).
    Reset,
    /// Answer the first request of each connection as [`Fault::None`] does (keep-alive);
    /// read the first request on a reused connection (its second) in full and close
    /// without answering, as a server or load balancer that drops reused connections
    /// does. A client that pools connections loses that request, or sends it again
    /// although the server read it.
    DropOnReuse,
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// Parse the compact form used on command lines:
    ///
    /// `none`, `idle-close=MS`, `answer-then-close`, `close-before-answer`,
    /// `close-mid-headers`, `close-mid-body`, `chunked`, `trickle=BYTES_PER_SECOND`,
    /// `429`, `429=SECONDS`, `429-date=SECONDS_FROM_NOW`, the same three for `503`,
    /// `status=CODE`, `413-early`, `partial=REJECTED[:MESSAGE]`, `html502`, `garbage`,
    /// `endless-headers`, `reset`, `drop-on-reuse`.
    fn from_str(text: &str) -> Result<Fault, String> {
        let (name, arg) = match text.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        let number = |what: &str| -> Result<u64, String> {
            arg.ok_or_else(|| format!("{name} needs ={what}"))?
                .parse::<u64>()
                .map_err(|_| format!("{name}: {what} must be a whole number"))
        };
        let retry = || -> Result<Option<RetryAfter>, String> {
            match arg {
                None => Ok(None),
                Some(_) => Ok(Some(RetryAfter::Seconds(
                    u32::try_from(number("SECONDS")?).map_err(|_| "seconds too large")?,
                ))),
            }
        };
        let fault = match name {
            "none" => Fault::None,
            "idle-close" => Fault::IdleClose(Duration::from_millis(number("MS")?)),
            "answer-then-close" => Fault::AnswerThenClose,
            "close-before-answer" => Fault::CloseBeforeAnswer,
            "close-mid-headers" => Fault::CloseMidHeaders,
            "close-mid-body" => Fault::CloseMidBody,
            "chunked" => Fault::Chunked,
            "trickle" => Fault::Trickle {
                bytes_per_second: u32::try_from(number("BYTES_PER_SECOND")?)
                    .map_err(|_| "rate too large")?,
            },
            "429" => Fault::TooManyRequests(retry()?),
            "503" => Fault::Unavailable(retry()?),
            "429-date" => Fault::TooManyRequests(Some(RetryAfter::date_in(number("SECONDS")?))),
            "503-date" => Fault::Unavailable(Some(RetryAfter::date_in(number("SECONDS")?))),
            "status" => Fault::Status(
                u16::try_from(number("CODE")?)
                    .ok()
                    .filter(|c| (100..1000).contains(c))
                    .ok_or("status code must be 100..=999")?,
            ),
            "413-early" => Fault::PayloadTooLargeEarly,
            "partial" => {
                let arg = arg.ok_or("partial needs =REJECTED[:MESSAGE]")?;
                let (n, message) = arg.split_once(':').unwrap_or((arg, ""));
                Fault::PartialSuccess {
                    rejected: n
                        .parse()
                        .map_err(|_| "partial: REJECTED must be a whole number")?,
                    message: message.to_string(),
                }
            }
            "html502" => Fault::Html502,
            "garbage" => Fault::GarbageStatusLine,
            "endless-headers" => Fault::EndlessHeaders,
            "reset" => Fault::Reset,
            "drop-on-reuse" => Fault::DropOnReuse,
            _ => return Err(format!("unknown fault {text:?}")),
        };
        Ok(fault)
    }
}

/// IMF-fixdate, such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (year, month, day) = civil_from_days(days as i64);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
