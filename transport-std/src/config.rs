//! Exporter configuration from the `OTEL_*` environment variables, as the OpenTelemetry
//! "OTLP Exporter" and "SDK environment variables" specifications define them.
//!
//! | Variable | Meaning | Default |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; `v1/metrics` is appended to its path | `http://localhost:4318` |
//! | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` | full URL, used as-is (no path means `/`) | |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS` | `key=value,...`, values percent-decoded; metrics-specific keys override | none |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT` | per-request timeout, milliseconds | `10000` |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL` | only `http/protobuf` is supported | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION` | `none` or `gzip` | `none` |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta` or `lowmemory` | `cumulative` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between exports | `60000` |
//! | `OTEL_METRIC_EXPORT_TIMEOUT` | milliseconds an export may take | `30000` |
//! | `OTEL_SDK_DISABLED` | `true` (any case) disables the SDK | `false` |
//! | `OTEL_SERVICE_NAME` | `service.name`; wins over `OTEL_RESOURCE_ATTRIBUTES` | `unknown_service:<executable>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...`, values percent-decoded | none |
//!
//! An empty variable counts as unset, as the specification requires. A malformed value is a
//! [`ConfigError`] naming the variable and what was wrong with it, rather than being
//! silently ignored: a device that exports to the wrong place is worse than one that does
//! not start. The one exception is `OTEL_SDK_DISABLED`, whose values other than `true` and
//! `false` the specification says to read as `false` with a warning ([`Config::warnings`]).
//!
//! ```
//! use otlp_embedded_std::config::Config;
//!
//! let config = Config::from_lookup(|name| match name {
//!     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318/".to_string()),
//!     "OTEL_SERVICE_NAME" => Some("pump".to_string()),
//!     _ => None,
//! })
//! .unwrap();
//! let endpoint = config.endpoint();
//! assert_eq!((endpoint.host, endpoint.port, endpoint.path), ("collector", 4318, "/v1/metrics"));
//! assert_eq!(config.service_name(), "pump");
//! ```

use std::fmt;
use std::time::Duration;

use otlp_embedded::proto::{AttributeValue, KeyValue, Temporality};
use otlp_embedded::transport::{Endpoint, Header, Scheme};

/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
pub const METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_HEADERS`.
pub const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// `OTEL_EXPORTER_OTLP_METRICS_HEADERS`.
pub const METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// `OTEL_EXPORTER_OTLP_TIMEOUT`.
pub const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`.
pub const METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_PROTOCOL`.
pub const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`.
pub const METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_COMPRESSION`.
pub const COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// `OTEL_EXPORTER_OTLP_METRICS_COMPRESSION`.
pub const METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
pub const TEMPORALITY_PREFERENCE: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
/// `OTEL_METRIC_EXPORT_INTERVAL`.
pub const EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// `OTEL_METRIC_EXPORT_TIMEOUT`.
pub const EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
/// `OTEL_SDK_DISABLED`.
pub const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// `OTEL_SERVICE_NAME`.
pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// Every variable [`Config`] reads.
pub const ALL_VARIABLES: [&str; 16] = [
    ENDPOINT,
    METRICS_ENDPOINT,
    HEADERS,
    METRICS_HEADERS,
    TIMEOUT,
    METRICS_TIMEOUT,
    PROTOCOL,
    METRICS_PROTOCOL,
    COMPRESSION,
    METRICS_COMPRESSION,
    TEMPORALITY_PREFERENCE,
    EXPORT_INTERVAL,
    EXPORT_TIMEOUT,
    SDK_DISABLED,
    SERVICE_NAME,
    RESOURCE_ATTRIBUTES,
];

/// The OTLP/HTTP default endpoint base.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Default time between periodic exports.
pub const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_millis(60_000);
/// Default time one periodic export may take.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// A variable whose value could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable, such as `OTEL_EXPORTER_OTLP_TIMEOUT`.
    pub variable: &'static str,
    /// Its value as found.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, value: &str, problem: impl Into<String>) -> Self {
        ConfigError {
            variable,
            value: value.to_string(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The wire protocol. Only OTLP/HTTP with protobuf bodies is implemented.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `http/protobuf`.
    #[default]
    HttpProtobuf,
}

/// Request body compression.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// `none`.
    #[default]
    None,
    /// `gzip`.
    Gzip,
}

impl Compression {
    /// The `Content-Encoding` value, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
        }
    }
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum TemporalityPreference {
    /// Cumulative for every instrument kind.
    #[default]
    Cumulative,
    /// Delta for counters (synchronous and observable) and histograms; cumulative for
    /// up-down counters.
    Delta,
    /// Delta for synchronous counters and histograms only; cumulative for the rest, so that
    /// observable counters need no memory of the last observation.
    LowMemory,
}

/// The kind of instrument a metric comes from, as temporality selection needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// Synchronous monotonic counter.
    Counter,
    /// Synchronous up-down counter.
    UpDownCounter,
    /// Synchronous histogram.
    Histogram,
    /// Synchronous gauge.
    Gauge,
    /// Observable (asynchronous) monotonic counter.
    ObservableCounter,
    /// Observable up-down counter.
    ObservableUpDownCounter,
    /// Observable gauge.
    ObservableGauge,
}

impl TemporalityPreference {
    /// The temporality this preference selects for `kind`, per the specification's table.
    ///
    /// Gauges carry no temporality on the wire; they get `Cumulative` so callers have a value.
    pub fn temporality_for(self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind as K;
        match (self, kind) {
            (TemporalityPreference::Delta, K::Counter | K::ObservableCounter | K::Histogram) => {
                Temporality::Delta
            }
            (TemporalityPreference::LowMemory, K::Counter | K::Histogram) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }
}

/// Where requests go, owned. [`Config::endpoint`] lends it as core's [`Endpoint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or address literal (IPv6 without brackets).
    pub host: String,
    /// Port; the scheme's default when the URL has none.
    pub port: u16,
    /// Request target, starting with `/` (query kept, fragment dropped).
    pub path: String,
}

impl EndpointUrl {
    /// Parse an `http://` or `https://` URL; `variable` names it in errors.
    pub fn parse(variable: &'static str, url: &str) -> Result<EndpointUrl, ConfigError> {
        let err = |problem: &str| ConfigError::new(variable, url, problem);
        let (scheme, rest) = split_scheme(url)
            .ok_or_else(|| err("expected a URL starting with http:// or https://"))?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(err(
                "credentials in the URL are not supported; use OTEL_EXPORTER_OTLP_HEADERS",
            ));
        }
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6
                .find(']')
                .ok_or_else(|| err("IPv6 address without closing ']'"))?;
            let after = &v6[close + 1..];
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| err("unexpected text after the IPv6 address"))?,
                ),
            };
            (&v6[..close], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(err("the URL has no host"));
        }
        if host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(err("the host contains whitespace or control characters"));
        }
        let port = match port_text {
            None | Some("") => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(err("the port is not a number from 1 to 65535")),
                Ok(n) => n,
            },
        };
        // The fragment never goes on the wire.
        let target = target.split('#').next().unwrap_or("");
        if target.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(err("the path contains whitespace or control characters"));
        }
        let path = if target.starts_with('/') {
            target.to_string()
        } else {
            // Empty, or a bare query: no path means `/`.
            format!("/{target}")
        };
        Ok(EndpointUrl {
            scheme,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// Append `v1/metrics` to the path, as for `OTEL_EXPORTER_OTLP_ENDPOINT`: a trailing
    /// slash is not doubled, and a query stays at the end.
    fn with_signal_path(mut self) -> Self {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (self.path.clone(), None),
        };
        let mut joined = path;
        if !joined.ends_with('/') {
            joined.push('/');
        }
        joined.push_str("v1/metrics");
        if let Some(q) = query {
            joined.push('?');
            joined.push_str(&q);
        }
        self.path = joined;
        self
    }

    /// Borrow as core's endpoint.
    pub fn as_endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            scheme: self.scheme,
            host: &self.host,
            port: self.port,
            path: &self.path,
        }
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

fn split_scheme(url: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.eq_ignore_ascii_case("http") {
        Some((Scheme::Http, rest))
    } else if scheme.eq_ignore_ascii_case("https") {
        Some((Scheme::Https, rest))
    } else {
        None
    }
}

/// The exporter configuration, owned. Borrow core's types from it with [`Config::endpoint`],
/// [`Config::headers`] and [`Config::resource_attributes`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where metrics go (with `/v1/metrics` already appended to a base endpoint).
    pub endpoint: EndpointUrl,
    /// Extra request headers: name and decoded value.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Request body compression.
    pub compression: Compression,
    /// Temporality preference.
    pub temporality: TemporalityPreference,
    /// Time between periodic exports.
    pub export_interval: Duration,
    /// Time one periodic export may take.
    pub export_timeout: Duration,
    /// `OTEL_SDK_DISABLED=true`: record nothing, export nothing.
    pub sdk_disabled: bool,
    /// Resource attributes, `service.name` and `telemetry.sdk.*` included, in a stable order.
    pub resource: Vec<(String, String)>,
    /// Values that were accepted with a caveat (such as an unrecognised `OTEL_SDK_DISABLED`).
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// The configuration with no variable set.
    fn default() -> Self {
        match Config::from_lookup(|_| None) {
            Ok(c) => c,
            // Unreachable: no variable means no malformed value. Kept total all the same.
            Err(_) => Config {
                endpoint: EndpointUrl {
                    scheme: Scheme::Http,
                    host: "localhost".into(),
                    port: 4318,
                    path: "/v1/metrics".into(),
                },
                headers: Vec::new(),
                timeout: DEFAULT_TIMEOUT,
                protocol: Protocol::HttpProtobuf,
                compression: Compression::None,
                temporality: TemporalityPreference::Cumulative,
                export_interval: DEFAULT_EXPORT_INTERVAL,
                export_timeout: DEFAULT_EXPORT_TIMEOUT,
                sdk_disabled: false,
                resource: default_resource(default_service_name()),
                warnings: Vec::new(),
            },
        }
    }
}

impl Config {
    /// Read the process environment. A variable that is not valid Unicode is an error.
    pub fn from_env() -> Result<Config, ConfigError> {
        // Look every variable up first so a non-Unicode one is reported by name.
        let mut found = Vec::new();
        for name in ALL_VARIABLES.iter() {
            match std::env::var_os(name) {
                None => {}
                Some(os) => match os.into_string() {
                    Ok(s) => found.push((*name, s)),
                    Err(os) => {
                        return Err(ConfigError::new(
                            name,
                            &os.to_string_lossy(),
                            "not valid Unicode",
                        ))
                    }
                },
            }
        }
        Config::from_lookup(|name| {
            found
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    }

    /// Read variables through `lookup` (name to value), for tests and for configuration
    /// kept elsewhere than the process environment.
    pub fn from_lookup<F>(mut lookup: F) -> Result<Config, ConfigError>
    where
        F: FnMut(&str) -> Option<String>,
    {
        // An empty value counts as unset (specification, "Parsing empty value").
        let mut get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut warnings = Vec::new();

        let endpoint = match get(METRICS_ENDPOINT) {
            Some(url) => EndpointUrl::parse(METRICS_ENDPOINT, url.trim())?,
            None => match get(ENDPOINT) {
                Some(url) => EndpointUrl::parse(ENDPOINT, url.trim())?.with_signal_path(),
                None => EndpointUrl::parse(ENDPOINT, DEFAULT_ENDPOINT)?.with_signal_path(),
            },
        };

        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(v) = get(HEADERS) {
            for (k, val) in parse_pairs(HEADERS, &v, true)? {
                upsert(&mut headers, k, val, true);
            }
        }
        if let Some(v) = get(METRICS_HEADERS) {
            for (k, val) in parse_pairs(METRICS_HEADERS, &v, true)? {
                upsert(&mut headers, k, val, true);
            }
        }

        let timeout = signal_or_generic(&mut get, METRICS_TIMEOUT, TIMEOUT, parse_millis)?
            .unwrap_or(DEFAULT_TIMEOUT);
        let protocol = signal_or_generic(&mut get, METRICS_PROTOCOL, PROTOCOL, parse_protocol)?
            .unwrap_or_default();
        let compression = signal_or_generic(
            &mut get,
            METRICS_COMPRESSION,
            COMPRESSION,
            parse_compression,
        )?
        .unwrap_or_default();
        let temporality = match get(TEMPORALITY_PREFERENCE) {
            Some(v) => parse_temporality(TEMPORALITY_PREFERENCE, &v)?,
            None => TemporalityPreference::default(),
        };
        let export_interval = match get(EXPORT_INTERVAL) {
            Some(v) => parse_millis(EXPORT_INTERVAL, &v)?,
            None => DEFAULT_EXPORT_INTERVAL,
        };
        let export_timeout = match get(EXPORT_TIMEOUT) {
            Some(v) => parse_millis(EXPORT_TIMEOUT, &v)?,
            None => DEFAULT_EXPORT_TIMEOUT,
        };
        let sdk_disabled = match get(SDK_DISABLED) {
            None => false,
            Some(v) => {
                let t = v.trim();
                if t.eq_ignore_ascii_case("true") {
                    true
                } else {
                    if !t.eq_ignore_ascii_case("false") {
                        warnings.push(format!(
                            "{SDK_DISABLED}={v:?} is neither true nor false; read as false"
                        ));
                    }
                    false
                }
            }
        };

        // Default resource first, then the variables' attributes over it.
        let mut resource = default_resource(default_service_name());
        if let Some(v) = get(RESOURCE_ATTRIBUTES) {
            for (k, val) in parse_pairs(RESOURCE_ATTRIBUTES, &v, false)? {
                upsert(&mut resource, k, val, false);
            }
        }
        if let Some(name) = get(SERVICE_NAME) {
            upsert(
                &mut resource,
                "service.name".into(),
                name.trim().to_string(),
                false,
            );
        }

        Ok(Config {
            endpoint,
            headers,
            timeout,
            protocol,
            compression,
            temporality,
            export_interval,
            export_timeout,
            sdk_disabled,
            resource,
            warnings,
        })
    }

    /// The endpoint as core's type, borrowed.
    pub fn endpoint(&self) -> Endpoint<'_> {
        self.endpoint.as_endpoint()
    }

    /// The extra headers as core's type, borrowed; keep the `Vec` and pass `&headers[..]`.
    pub fn headers(&self) -> Vec<Header<'_>> {
        self.headers
            .iter()
            .map(|(n, v)| Header { name: n, value: v })
            .collect()
    }

    /// Resource attributes as core's type, borrowed.
    pub fn resource_attributes(&self) -> Vec<KeyValue<'_>> {
        self.resource
            .iter()
            .map(|(k, v)| KeyValue::new(k, AttributeValue::Str(v)))
            .collect()
    }

    /// The `service.name` resource attribute.
    pub fn service_name(&self) -> &str {
        self.resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str())
            .unwrap_or("unknown_service")
    }

    /// Temporality for an instrument kind under the configured preference.
    pub fn temporality_for(&self, kind: InstrumentKind) -> Temporality {
        self.temporality.temporality_for(kind)
    }
}

/// `unknown_service:<executable name>`, or `unknown_service` when the name is unavailable.
pub fn default_service_name() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .map(|s| s.to_string())
    });
    match exe {
        Some(name) if !name.is_empty() => format!("unknown_service:{name}"),
        _ => "unknown_service".to_string(),
    }
}

fn default_resource(service_name: String) -> Vec<(String, String)> {
    vec![
        ("service.name".into(), service_name),
        ("telemetry.sdk.name".into(), "otlp-embedded".into()),
        ("telemetry.sdk.language".into(), "rust".into()),
        (
            "telemetry.sdk.version".into(),
            env!("CARGO_PKG_VERSION").into(),
        ),
    ]
}

/// Replace the value of `key` (header names compare case-insensitively) or append.
fn upsert(list: &mut Vec<(String, String)>, key: String, value: String, ignore_case: bool) {
    let same = |k: &String| {
        if ignore_case {
            k.eq_ignore_ascii_case(&key)
        } else {
            *k == key
        }
    };
    match list.iter_mut().find(|(k, _)| same(k)) {
        Some(entry) => entry.1 = value,
        None => list.push((key, value)),
    }
}

fn signal_or_generic<T>(
    get: &mut impl FnMut(&str) -> Option<String>,
    signal: &'static str,
    generic: &'static str,
    parse: fn(&'static str, &str) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    if let Some(v) = get(signal) {
        return parse(signal, &v).map(Some);
    }
    match get(generic) {
        Some(v) => parse(generic, &v).map(Some),
        None => Ok(None),
    }
}

fn parse_millis(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(0) => Err(ConfigError::new(
            variable,
            value,
            "must be a whole number of milliseconds greater than 0",
        )),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => Err(ConfigError::new(
            variable,
            value,
            "expected a whole number of milliseconds, such as 10000",
        )),
    }
}

fn parse_protocol(variable: &'static str, value: &str) -> Result<Protocol, ConfigError> {
    match value.trim() {
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "grpc" | "http/json" => Err(ConfigError::new(
            variable,
            value,
            "not supported: this exporter speaks only http/protobuf",
        )),
        _ => Err(ConfigError::new(
            variable,
            value,
            "unknown protocol; expected http/protobuf",
        )),
    }
}

fn parse_compression(variable: &'static str, value: &str) -> Result<Compression, ConfigError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("none") {
        Ok(Compression::None)
    } else if v.eq_ignore_ascii_case("gzip") {
        Ok(Compression::Gzip)
    } else {
        Err(ConfigError::new(
            variable,
            value,
            "unknown compression; expected none or gzip",
        ))
    }
}

fn parse_temporality(
    variable: &'static str,
    value: &str,
) -> Result<TemporalityPreference, ConfigError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("cumulative") {
        Ok(TemporalityPreference::Cumulative)
    } else if v.eq_ignore_ascii_case("delta") {
        Ok(TemporalityPreference::Delta)
    } else if v.eq_ignore_ascii_case("lowmemory") {
        Ok(TemporalityPreference::LowMemory)
    } else {
        Err(ConfigError::new(
            variable,
            value,
            "expected cumulative, delta or lowmemory",
        ))
    }
}

/// Parse `key=value,key=value`: entries trimmed, empty entries skipped, values
/// percent-decoded. Header keys must be HTTP tokens; values must not hold CR, LF or NUL,
/// which would let a variable inject headers.
fn parse_pairs(
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
