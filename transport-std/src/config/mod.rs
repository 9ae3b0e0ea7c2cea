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
//! | `OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE` | PEM file of the CA certificates trusted for `https` | built-in roots |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]CLIENT_CERTIFICATE` | PEM client certificate chain (mutual TLS) | none |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]CLIENT_KEY` | PEM client private key (mutual TLS) | none |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta` or `lowmemory` | `cumulative` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between exports | `60000` |
//! | `OTEL_METRIC_EXPORT_TIMEOUT` | milliseconds an export may take | `30000` |
//! | `OTEL_SDK_DISABLED` | `true` (any case) disables the SDK | `false` |
//! | `OTEL_SERVICE_NAME` | `service.name`; wins over `OTEL_RESOURCE_ATTRIBUTES` | `unknown_service:<executable>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...`, values percent-decoded | none |
//!
//! An empty variable counts as unset, as the specification requires. Enum values (protocol,
//! compression, temporality preference) are read case-insensitively.
//!
//! **Values that cannot be used** are handled as the SDK environment-variable specification
//! says. For an enum: "if the user provides a value the implementation does not recognize,
//! the implementation MUST generate a warning and gracefully ignore the setting." For a
//! number: "if the user provides a value the implementation cannot parse, or which is
//! outside the valid range for the configuration item, the implementation SHOULD generate a
//! warning and gracefully ignore the setting, i.e., treat them as not set." So an unknown
//! protocol, compression or temporality preference, and a negative, zero or unparsable
//! timeout or interval, is a [`ConfigWarning`] in [`Config::warnings`] naming the variable
//! and the value, and the setting counts as unset: a signal-specific variable falls back to
//! the generic one, and that to the default. (A timeout of 0, which the specification
//! suggests reading as "no limit", is out of range here: every request and export keeps a
//! deadline.) `OTEL_SDK_DISABLED` other than `true`/`false` reads as `false` with a warning.
//! [`Config::from_env_strict`] and [`Config::from_lookup_strict`] return the first warning
//! as a [`ConfigError`] instead, for a device that should rather not start than run on a
//! default.
//!
//! **Errors**: a malformed endpoint, header list or resource attribute list is a
//! [`ConfigError`] in every reading, naming the variable and what was wrong with it: a
//! device that exports to the wrong place, or with half its credentials, is worse than one
//! that does not start. A header list naming a field the exporter writes itself (`Host`,
//! `Content-Length`, `Content-Type`, `Content-Encoding`, `Transfer-Encoding`, `Connection`)
//! is refused the same way, naming the header; a `User-Agent` from the list replaces the
//! exporter's own.
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
use std::path::PathBuf;
use std::time::Duration;

use otlp_embedded::export::ExporterConfig;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
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
/// `OTEL_EXPORTER_OTLP_CERTIFICATE`.
pub const CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE`.
pub const METRICS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`.
pub const CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE`.
pub const METRICS_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
pub const CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// `OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY`.
pub const METRICS_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY";
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
pub const ALL_VARIABLES: [&str; 22] = [
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
    CERTIFICATE,
    METRICS_CERTIFICATE,
    CLIENT_CERTIFICATE,
    METRICS_CLIENT_CERTIFICATE,
    CLIENT_KEY,
    METRICS_CLIENT_KEY,
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

/// A value that was not used: the variable, its value as found, what is wrong with it, and
/// what is used instead (see the [module docs](self)). Displayed as
/// `VARIABLE="value": problem; using what`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The variable, such as `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub variable: &'static str,
    /// Its value as found.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
    /// What is used instead, such as `none (the default)` or
    /// `2500 ms from OTEL_EXPORTER_OTLP_TIMEOUT`.
    pub instead: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: {}; using {}",
            self.variable, self.value, self.problem, self.instead
        )
    }
}

impl From<ConfigWarning> for ConfigError {
    /// The error a strict reading returns in place of the warning.
    fn from(warning: ConfigWarning) -> Self {
        ConfigError {
            variable: warning.variable,
            value: warning.value,
            problem: warning.problem,
        }
    }
}

/// PEM files for `https` endpoints, from `OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE`,
/// `_CLIENT_CERTIFICATE` and `_CLIENT_KEY` (the metrics-specific variable wins). Read by the
/// TLS layer (feature `tls`) when a connection is made, not here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Trusted CA certificates; when unset, the TLS layer's built-in roots.
    pub ca_certificate: Option<PathBuf>,
    /// Client certificate chain, for mutual TLS.
    pub client_certificate: Option<PathBuf>,
    /// Client private key, for mutual TLS.
    pub client_key: Option<PathBuf>,
}

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

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` is core's [`TemporalityPreference`],
/// which the registry applies to instruments that do not choose a temporality
/// ([`PeriodicExporter::from_config`](crate::PeriodicExporter::from_config) hands it over);
/// [`InstrumentKind`] is core's too.
pub use otlp_embedded::registry::{InstrumentKind, TemporalityPreference};

mod endpoint_url;
mod values;

pub use endpoint_url::EndpointUrl;
pub use values::percent_decode;
use values::{
    first_usable, parse_compression, parse_interval, parse_pairs, parse_protocol,
    parse_temporality, parse_timeout, Setting,
};

/// The exporter configuration, owned. Borrow core's types from it with [`Config::endpoint`],
/// [`Config::headers`] and [`Config::resource_attributes`], or core's whole
/// [`ExporterConfig`] through [`Config::exporter_parts`].
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
    /// Certificate and key files for an `https` endpoint.
    pub tls: TlsFiles,
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
    /// Values that could not be used and what was used instead, in the order read (empty
    /// from the strict readings, which return the first as an error).
    pub warnings: Vec<ConfigWarning>,
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
                tls: TlsFiles::default(),
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
    /// Read the process environment. A variable that is not valid Unicode is an error;
    /// values that cannot be used are [`warnings`](Config::warnings).
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

    /// [`from_env`](Self::from_env), with the first value that cannot be used returned as
    /// an error rather than a warning.
    pub fn from_env_strict() -> Result<Config, ConfigError> {
        Config::from_env().and_then(Config::strict)
    }

    /// [`from_lookup`](Self::from_lookup), with the first value that cannot be used
    /// returned as an error rather than a warning.
    pub fn from_lookup_strict<F>(lookup: F) -> Result<Config, ConfigError>
    where
        F: FnMut(&str) -> Option<String>,
    {
        Config::from_lookup(lookup).and_then(Config::strict)
    }

    fn strict(mut self) -> Result<Config, ConfigError> {
        if self.warnings.is_empty() {
            return Ok(self);
        }
        Err(self.warnings.swap_remove(0).into())
    }

    /// Read variables through `lookup` (name to value), for tests and for configuration
    /// kept elsewhere than the process environment. Values that cannot be used are
    /// [`warnings`](Config::warnings), and their defaults apply.
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

        let (g, w) = (&mut get, &mut warnings);
        let timeout = first_usable(g, w, &[METRICS_TIMEOUT, TIMEOUT], parse_timeout)
            .unwrap_or(Setting::default(DEFAULT_TIMEOUT));
        let protocol = first_usable(g, w, &[METRICS_PROTOCOL, PROTOCOL], parse_protocol)
            .unwrap_or(Setting::default(Protocol::HttpProtobuf));
        let compression =
            first_usable(g, w, &[METRICS_COMPRESSION, COMPRESSION], parse_compression)
                .unwrap_or(Setting::default(Compression::None));
        let temporality = first_usable(g, w, &[TEMPORALITY_PREFERENCE], parse_temporality)
            .unwrap_or(Setting::default(TemporalityPreference::Cumulative));
        let export_interval = first_usable(g, w, &[EXPORT_INTERVAL], parse_interval)
            .unwrap_or(Setting::default(DEFAULT_EXPORT_INTERVAL));
        let export_timeout = first_usable(g, w, &[EXPORT_TIMEOUT], parse_timeout)
            .unwrap_or(Setting::default(DEFAULT_EXPORT_TIMEOUT));
        // What each unusable value was replaced by, now that it is known.
        for warning in warnings.iter_mut() {
            warning.instead = match warning.variable {
                METRICS_TIMEOUT | TIMEOUT => timeout.describe(),
                METRICS_PROTOCOL | PROTOCOL => protocol.describe(),
                METRICS_COMPRESSION | COMPRESSION => compression.describe(),
                TEMPORALITY_PREFERENCE => temporality.describe(),
                EXPORT_INTERVAL => export_interval.describe(),
                _ => export_timeout.describe(),
            };
        }
        let (timeout, protocol, compression, temporality, export_interval, export_timeout) = (
            timeout.value,
            protocol.value,
            compression.value,
            temporality.value,
            export_interval.value,
            export_timeout.value,
        );
        let mut file = |names: [&str; 2]| names.into_iter().find_map(&mut get).map(PathBuf::from);
        let tls = TlsFiles {
            ca_certificate: file([METRICS_CERTIFICATE, CERTIFICATE]),
            client_certificate: file([METRICS_CLIENT_CERTIFICATE, CLIENT_CERTIFICATE]),
            client_key: file([METRICS_CLIENT_KEY, CLIENT_KEY]),
        };
        let sdk_disabled = match get(SDK_DISABLED) {
            None => false,
            Some(v) => {
                let t = v.trim();
                if t.eq_ignore_ascii_case("true") {
                    true
                } else {
                    if !t.eq_ignore_ascii_case("false") {
                        warnings.push(ConfigWarning {
                            variable: SDK_DISABLED,
                            value: v.clone(),
                            problem: "neither true nor false".into(),
                            instead: "false (the SDK stays enabled)".into(),
                        });
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
            tls,
            temporality,
            export_interval,
            export_timeout,
            sdk_disabled,
            resource,
            warnings,
        })
    }

    /// What core's [`ExporterConfig`] borrows from this configuration (endpoint, headers,
    /// resource, timeouts); [`ExporterParts::exporter_config`] makes it.
    pub fn exporter_parts(&self) -> ExporterParts<'_> {
        ExporterParts::new(
            &self.endpoint,
            &self.headers,
            &self.resource,
            self.timeout,
            self.export_timeout,
        )
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

/// Core's view of owned exporter settings, the one conversion from this crate's owned
/// configuration ([`Config`], [`PeriodicOptions`](crate::PeriodicOptions)) to core's
/// [`ExporterConfig`], whose fields borrow.
///
/// It holds the borrowed header and resource lists that an `ExporterConfig` points into, so
/// keep it as long as the exporter:
///
/// ```
/// use otlp_embedded::proto::Scope;
/// use otlp_embedded_std::config::Config;
///
/// let config = Config::from_lookup(|name| match name {
///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("authorization=Bearer%20t0k3n".to_string()),
///     "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("2500".to_string()),
///     _ => None,
/// })?;
/// let parts = config.exporter_parts();
/// let exporter_config = parts.exporter_config(Scope::new("my-service"));
/// assert_eq!(exporter_config.endpoint.path, "/v1/metrics");
/// assert_eq!(exporter_config.headers[0].value, "Bearer t0k3n");
/// assert_eq!(exporter_config.request_timeout_ms, 2_500);
/// assert_eq!(exporter_config.request_header.scope.name, "my-service");
/// # Ok::<(), otlp_embedded_std::config::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ExporterParts<'c> {
    endpoint: Endpoint<'c>,
    headers: Vec<Header<'c>>,
    resource: Vec<KeyValue<'c>>,
    request_timeout_ms: u32,
    export_timeout_ms: u32,
}

impl<'c> ExporterParts<'c> {
    /// The parts of owned settings: where requests go, extra headers (name, value),
    /// resource attributes (key, string value), and the timeouts of one request and of one
    /// export (in whole milliseconds, at most `u32::MAX`: 49 days).
    pub fn new(
        endpoint: &'c EndpointUrl,
        headers: &'c [(String, String)],
        resource: &'c [(String, String)],
        request_timeout: Duration,
        export_timeout: Duration,
    ) -> Self {
        ExporterParts {
            endpoint: endpoint.as_endpoint(),
            headers: headers
                .iter()
                .map(|(name, value)| Header::new(name, value))
                .collect(),
            resource: resource
                .iter()
                .map(|(key, value)| KeyValue::str(key, value))
                .collect(),
            request_timeout_ms: millis_u32(request_timeout),
            export_timeout_ms: millis_u32(export_timeout),
        }
    }

    /// Core's exporter configuration for instrumentation scope `scope` (the caller's name
    /// for what records, such as its service or library): these parts, and core's defaults
    /// for the rest (retry policy, jitter seed), which the caller may change.
    pub fn exporter_config<'a>(&'a self, scope: Scope<'a>) -> ExporterConfig<'a> {
        let header = RequestHeader::new(Resource::new(&self.resource), scope);
        let mut config = ExporterConfig::new(self.endpoint, header);
        config.headers = &self.headers;
        config.request_timeout_ms = self.request_timeout_ms;
        config.export_timeout_ms = self.export_timeout_ms;
        config
    }
}

/// Whole milliseconds of `duration` as core's `u32` timeout fields hold them, `u32::MAX`
/// (49 days) for anything longer.
pub fn millis_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
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
