//! Reading one variable's value: the parsers, the header and attribute lists, and which of
//! a setting's variables wins.

use std::time::Duration;

use super::{Compression, ConfigError, ConfigWarning, Protocol, TemporalityPreference};

/// A parser of one variable's value: the value, or what is wrong with it.
type Parse<T> = fn(&str) -> Result<T, String>;

/// A setting's value and where it came from (`None`: the default).
pub(super) struct Setting<T> {
    pub(super) value: T,
    pub(super) from: Option<&'static str>,
}

impl<T: Describe> Setting<T> {
    pub(super) fn default(value: T) -> Self {
        Setting { value, from: None }
    }

    /// What a warning says is used instead of the unusable value.
    pub(super) fn describe(&self) -> String {
        match self.from {
            Some(variable) => format!("{} from {variable}", self.value.describe()),
            None => format!("{} (the default)", self.value.describe()),
        }
    }
}

/// How a setting's value reads in a warning.
pub(super) trait Describe {
    fn describe(&self) -> String;
}

impl Describe for Duration {
    fn describe(&self) -> String {
        format!("{} ms", self.as_millis())
    }
}

impl Describe for Protocol {
    fn describe(&self) -> String {
        "http/protobuf".into()
    }
}

impl Describe for Compression {
    fn describe(&self) -> String {
        match self {
            Compression::None => "none".into(),
            Compression::Gzip => "gzip".into(),
        }
    }
}

impl Describe for TemporalityPreference {
    fn describe(&self) -> String {
        match self {
            TemporalityPreference::Cumulative => "cumulative".into(),
            TemporalityPreference::Delta => "delta".into(),
            TemporalityPreference::LowMemory => "lowmemory".into(),
        }
    }
}

/// The first of `names` (most specific first) whose value can be used. A value that
/// cannot is a warning and counts as unset, so the next name is tried: the
/// specification's "gracefully ignore the setting, i.e., treat them as not set".
pub(super) fn first_usable<T>(
    get: &mut impl FnMut(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
    names: &[&'static str],
    parse: Parse<T>,
) -> Option<Setting<T>> {
    for &name in names {
        let Some(value) = get(name) else { continue };
        match parse(&value) {
            Ok(parsed) => {
                return Some(Setting {
                    value: parsed,
                    from: Some(name),
                })
            }
            Err(problem) => warnings.push(ConfigWarning {
                variable: name,
                value,
                problem,
                // Filled in once the value used instead is known.
                instead: String::new(),
            }),
        }
    }
    None
}

/// Whole milliseconds above 0; `zero` says why 0 is out of range for this setting.
fn parse_positive_millis(value: &str, zero: &str) -> Result<Duration, String> {
    let v = value.trim();
    match v.parse::<u64>() {
        Ok(0) => Err(format!(
            "must be a whole number of milliseconds greater than 0 ({zero})"
        )),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_)
            if v.starts_with('-') && v.len() > 1 && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            Err("negative; expected a whole number of milliseconds greater than 0".into())
        }
        Err(_) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            Err("too large: more milliseconds than 64 bits hold".into())
        }
        Err(_) => Err("expected a whole number of milliseconds, such as 10000".into()),
    }
}

pub(super) fn parse_timeout(value: &str) -> Result<Duration, String> {
    parse_positive_millis(
        value,
        "0, no limit, is not supported: every request and export keeps a deadline",
    )
}

pub(super) fn parse_interval(value: &str) -> Result<Duration, String> {
    parse_positive_millis(value, "0 would export without a pause")
}

pub(super) fn parse_protocol(value: &str) -> Result<Protocol, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("http/protobuf") {
        Ok(Protocol::HttpProtobuf)
    } else if v.eq_ignore_ascii_case("grpc") || v.eq_ignore_ascii_case("http/json") {
        Err("not supported: this exporter speaks only http/protobuf".into())
    } else {
        Err("unknown protocol; expected http/protobuf".into())
    }
}

pub(super) fn parse_compression(value: &str) -> Result<Compression, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("none") {
        Ok(Compression::None)
    } else if v.eq_ignore_ascii_case("gzip") {
        Ok(Compression::Gzip)
    } else {
        Err("unknown compression; expected none or gzip".into())
    }
}

pub(super) fn parse_temporality(value: &str) -> Result<TemporalityPreference, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("cumulative") {
        Ok(TemporalityPreference::Cumulative)
    } else if v.eq_ignore_ascii_case("delta") {
        Ok(TemporalityPreference::Delta)
    } else if v.eq_ignore_ascii_case("lowmemory") {
        Ok(TemporalityPreference::LowMemory)
    } else {
        Err("expected cumulative, delta or lowmemory".into())
    }
}

/// Header fields the exporter writes itself; from configuration they would contradict the
/// request's framing, routing or media type.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
];

/// Parse `key=value,key=value`: entries trimmed, empty entries skipped, values
/// percent-decoded. Header keys must be HTTP tokens; values must not hold CR, LF or NUL,
/// which would let a variable inject headers.
pub(super) fn parse_pairs(
    variable: &'static str,
    text: &str,
    header: bool,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (key, value) = entry.split_once('=').ok_or_else(|| {
            ConfigError::new(variable, text, format!("entry {entry:?} has no '='"))
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::new(
                variable,
                text,
                format!("entry {entry:?} has an empty key"),
            ));
        }
        let key = if header {
            if !key.bytes().all(is_token_byte) {
                return Err(ConfigError::new(
                    variable,
                    text,
                    format!("{key:?} is not a valid header name"),
                ));
            }
            if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(key)) {
                return Err(ConfigError::new(
                    variable,
                    text,
                    format!(
                        "header {key:?} is written by the exporter itself (it frames or routes \
                         the request) and cannot be configured"
                    ),
                ));
            }
            key.to_string()
        } else {
            percent_decode(key).ok_or_else(|| {
                ConfigError::new(
                    variable,
                    text,
                    format!("key {key:?} has bad percent-encoding"),
                )
            })?
        };
        let value = percent_decode(value.trim()).ok_or_else(|| {
            ConfigError::new(
                variable,
                text,
                format!("value of {key:?} has bad percent-encoding or is not UTF-8"),
            )
        })?;
        if value.contains(['\r', '\n', '\0']) {
            return Err(ConfigError::new(
                variable,
                text,
                format!("value of {key:?} contains CR, LF or NUL"),
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decode `%XX` escapes; `None` for a stray `%` or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex_digit(*bytes.get(i + 1)?)?;
            let lo = hex_digit(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
