//! `Config::from_lookup` for each `OTEL_*` variable, good and malformed values, and the
//! endpoint rules of the OTLP exporter specification. No test touches the process
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use otlp_embedded::proto::{AttributeValue, KeyValue, Temporality};
use otlp_embedded::transport::{Endpoint, Header, Scheme};
use otlp_embedded_std::config::{
    percent_decode, Compression, Config, ConfigError, InstrumentKind, Protocol,
    TemporalityPreference, TlsFiles,
};

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
}

fn ok(vars: &[(&str, &str)]) -> Config {
    config(vars).unwrap()
}

fn err(vars: &[(&str, &str)]) -> ConfigError {
    config(vars).unwrap_err()
}

/// The strict reading, which returns what the default reading warns about as an error.
fn strict(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_lookup_strict(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
}

fn strict_err(vars: &[(&str, &str)]) -> ConfigError {
    strict(vars).unwrap_err()
}

/// The one warning of `c`, as (variable, value).
fn warned(c: &Config) -> (&'static str, &str) {
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    (c.warnings[0].variable, c.warnings[0].value.as_str())
}

fn ep(c: &Config) -> (Scheme, String, u16, String) {
    let e = c.endpoint();
    (e.scheme, e.host.to_string(), e.port, e.path.to_string())
}

fn http(host: &str, port: u16, path: &str) -> (Scheme, String, u16, String) {
    (Scheme::Http, host.into(), port, path.into())
}

// ---- endpoint ----

#[test]
fn default_endpoint() {
    let c = ok(&[]);
    assert_eq!(c.endpoint(), Endpoint::DEFAULT);
    assert_eq!(c.endpoint.to_string(), "http://localhost:4318/v1/metrics");
}

#[test]
fn base_endpoint_without_trailing_slash() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
    assert_eq!(ep(&c), http("collector", 4318, "/v1/metrics"));
}

#[test]
fn base_endpoint_with_trailing_slash() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]);
    assert_eq!(ep(&c), http("collector", 4318, "/v1/metrics"));
}

#[test]
fn base_endpoint_with_path_prefix() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080/otlp")]);
    assert_eq!(ep(&c), http("gw", 8080, "/otlp/v1/metrics"));
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080/otlp/")]);
    assert_eq!(ep(&c), http("gw", 8080, "/otlp/v1/metrics"));
}

#[test]
fn base_endpoint_keeps_a_query_after_the_signal_path() {
    let c = ok(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://gw/otlp?tenant=a#frag",
    )]);
    assert_eq!(ep(&c), http("gw", 80, "/otlp/v1/metrics?tenant=a"));
}

#[test]
fn metrics_endpoint_is_used_as_is_and_wins() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://m:9000/custom/path",
        ),
    ]);
    assert_eq!(ep(&c), http("m", 9000, "/custom/path"));
}

#[test]
fn metrics_endpoint_without_path_means_root() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9000")]);
    assert_eq!(ep(&c), http("m", 9000, "/"));
    let c = ok(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9000/")]);
    assert_eq!(ep(&c), http("m", 9000, "/"));
}

#[test]
fn missing_port_defaults_by_scheme() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector")]);
    assert_eq!(ep(&c), http("collector", 80, "/v1/metrics"));
    assert!(c.endpoint().has_default_port());
    let c = ok(&[(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "https://collector/v1/metrics",
    )]);
    assert_eq!(
        ep(&c),
        (Scheme::Https, "collector".into(), 443, "/v1/metrics".into())
    );
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "HTTPS://collector:")]);
    assert_eq!(ep(&c).2, 443);
}

#[test]
fn ipv6_literal_endpoints() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1]:4318")]);
    assert_eq!(ep(&c), http("::1", 4318, "/v1/metrics"));
    assert_eq!(c.endpoint.to_string(), "http://[::1]:4318/v1/metrics");
    let c = ok(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://[fe80::1]")]);
    assert_eq!(ep(&c), http("fe80::1", 80, "/"));
}

#[test]
fn empty_endpoint_counts_as_unset() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", ""),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:1234"),
    ]);
    assert_eq!(ep(&c), http("base", 1234, "/v1/metrics"));
}

#[test]
fn malformed_endpoints_name_the_variable() {
    for (var, value) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:port"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:70000"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:0"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://[::1:4318/x"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://user:pw@collector",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://coll ector/"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://collector/a b",
        ),
    ] {
        let e = err(&[(var, value)]);
        assert_eq!(e.variable, var, "{value}");
        assert_eq!(e.value, value);
        assert!(!e.problem.is_empty());
        let shown = e.to_string();
        assert!(shown.starts_with(var) && shown.contains(value), "{shown}");
    }
    assert!(err(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:99999")])
        .problem
        .contains("port"));
}

// ---- headers ----

#[test]
fn headers_are_parsed_trimmed_and_percent_decoded() {
    let c = ok(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        " api-key = secret%20value , tenant=a%2Cb,,x-empty=",
    )]);
    assert_eq!(
        c.headers,
        vec![
            ("api-key".to_string(), "secret value".to_string()),
            ("tenant".to_string(), "a,b".to_string()),
            ("x-empty".to_string(), String::new()),
        ]
    );
    assert_eq!(
        c.headers(),
        vec![
            Header {
                name: "api-key",
                value: "secret value"
            },
            Header {
                name: "tenant",
                value: "a,b"
            },
            Header {
                name: "x-empty",
                value: ""
            },
        ]
    );
}

#[test]
fn metrics_headers_override_generic_per_key() {
    let c = ok(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20generic,x-a=1",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "authorization=Bearer%20m,x-b=2",
        ),
    ]);
    assert_eq!(
        c.headers,
        vec![
            ("Authorization".to_string(), "Bearer m".to_string()),
            ("x-a".to_string(), "1".to_string()),
            ("x-b".to_string(), "2".to_string()),
        ]
    );
}

#[test]
fn malformed_headers() {
    for (var, value, says) in [
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "no '='"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "=v", "empty key"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "bad name=v",
            "not a valid header name",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "k=%zz",
            "percent-encoding",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "k=%4",
            "percent-encoding",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "k=%ff", "not UTF-8"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "k=a%0D%0AInjected: 1",
            "CR, LF",
        ),
    ] {
        let e = err(&[(var, value)]);
        assert_eq!(e.variable, var, "{value}");
        assert!(e.problem.contains(says), "{value}: {}", e.problem);
    }
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%3Db%25c").as_deref(), Some("a=b%c"));
    assert_eq!(percent_decode("%E2%9C%93").as_deref(), Some("\u{2713}"));
    assert_eq!(percent_decode("plus+stays").as_deref(), Some("plus+stays"));
    assert_eq!(percent_decode("%"), None);
    assert_eq!(percent_decode("%g0"), None);
}

// ---- timeouts and intervals ----

#[test]
fn timeouts() {
    assert_eq!(ok(&[]).timeout, Duration::from_millis(10_000));
    let c = ok(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]);
    assert_eq!(c.timeout, Duration::from_millis(2500));
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", " 700 "),
    ]);
    assert_eq!(c.timeout, Duration::from_millis(700));
    for (var, value) in [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1.5"),
    ] {
        let e = strict_err(&[(var, value)]);
        assert_eq!((e.variable, e.value.as_str()), (var, value));
        assert!(e.problem.contains("milliseconds"), "{}", e.problem);
    }
}

#[test]
fn export_interval_and_timeout() {
    let c = ok(&[]);
    assert_eq!(c.export_interval, Duration::from_millis(60_000));
    assert_eq!(c.export_timeout, Duration::from_millis(30_000));
    let c = ok(&[
        ("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "1000"),
    ]);
    assert_eq!(c.export_interval, Duration::from_millis(5000));
    assert_eq!(c.export_timeout, Duration::from_millis(1000));
    assert_eq!(
        strict_err(&[("OTEL_METRIC_EXPORT_INTERVAL", "fast")]).variable,
        "OTEL_METRIC_EXPORT_INTERVAL"
    );
    assert_eq!(
        strict_err(&[("OTEL_METRIC_EXPORT_TIMEOUT", "99999999999999999999")]).variable,
        "OTEL_METRIC_EXPORT_TIMEOUT"
    );
}

// ---- protocol, compression ----

#[test]
fn protocol() {
    assert_eq!(ok(&[]).protocol, Protocol::HttpProtobuf);
    assert_eq!(
        ok(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).protocol,
        Protocol::HttpProtobuf
    );
    let e = strict_err(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(e.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
    assert!(e.problem.contains("only http/protobuf"), "{}", e.problem);
    let e = strict_err(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
    ]);
    assert_eq!(e.variable, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL");
    let e = strict_err(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")]);
    assert!(e.problem.contains("unknown protocol"));
    // The metrics-specific value wins over a bad generic one.
    assert_eq!(
        ok(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ])
        .protocol,
        Protocol::HttpProtobuf
    );
}

#[test]
fn compression() {
    assert_eq!(ok(&[]).compression, Compression::None);
    assert_eq!(ok(&[]).compression.content_encoding(), None);
    let c = ok(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]);
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(c.compression.content_encoding(), Some("gzip"));
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
    ]);
    assert_eq!(c.compression, Compression::None);
    let e = strict_err(&[("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd")]);
    assert_eq!(e.variable, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION");
    assert!(e.problem.contains("none or gzip"));
}

// ---- temporality ----

#[test]
fn temporality_preference_parsing() {
    assert_eq!(ok(&[]).temporality, TemporalityPreference::Cumulative);
    let var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    assert_eq!(
        ok(&[(var, "Delta")]).temporality,
        TemporalityPreference::Delta
    );
    assert_eq!(
        ok(&[(var, "LOWMEMORY")]).temporality,
        TemporalityPreference::LowMemory
    );
    assert_eq!(
        ok(&[(var, "cumulative")]).temporality,
        TemporalityPreference::Cumulative
    );
    let e = strict_err(&[(var, "sometimes")]);
    assert_eq!(e.variable, var);
    assert!(e.problem.contains("cumulative, delta or lowmemory"));
}

#[test]
fn temporality_per_instrument_kind() {
    use InstrumentKind::*;
    use Temporality::{Cumulative as C, Delta as D};
    let kinds = [
        Counter,
        ObservableCounter,
        Histogram,
        UpDownCounter,
        ObservableUpDownCounter,
        Gauge,
        ObservableGauge,
    ];
    let table = [
        (TemporalityPreference::Cumulative, [C, C, C, C, C, C, C]),
        (TemporalityPreference::Delta, [D, D, D, C, C, C, C]),
        (TemporalityPreference::LowMemory, [D, C, D, C, C, C, C]),
    ];
    for (pref, want) in table {
        let got: Vec<Temporality> = kinds.iter().map(|k| pref.temporality_for(*k)).collect();
        assert_eq!(got, want.to_vec(), "{pref:?}");
    }
    let c = ok(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")]);
    assert_eq!(c.temporality_for(Counter), D);
    assert_eq!(c.temporality_for(UpDownCounter), C);
}

// ---- SDK disabled ----

#[test]
fn sdk_disabled() {
    assert!(!ok(&[]).sdk_disabled);
    assert!(ok(&[("OTEL_SDK_DISABLED", "true")]).sdk_disabled);
    assert!(ok(&[("OTEL_SDK_DISABLED", "TRUE")]).sdk_disabled);
    let c = ok(&[("OTEL_SDK_DISABLED", "false")]);
    assert!(!c.sdk_disabled);
    assert!(c.warnings.is_empty());
    // The specification: anything else reads as false, with a warning.
    let c = ok(&[("OTEL_SDK_DISABLED", "yes")]);
    assert!(!c.sdk_disabled);
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].to_string().contains("OTEL_SDK_DISABLED"));
    assert_eq!(warned(&c), ("OTEL_SDK_DISABLED", "yes"));
    let e = strict_err(&[("OTEL_SDK_DISABLED", "yes")]);
    assert_eq!((e.variable, e.value.as_str()), ("OTEL_SDK_DISABLED", "yes"));
}

// ---- headers that would frame or route the request (issue 14, item 7) ----

#[test]
fn framing_headers_from_configuration_are_refused_naming_the_header() {
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    ] {
        for name in [
            "Host",
            "content-length",
            "CONTENT-TYPE",
            "Content-Encoding",
            "transfer-encoding",
            "Connection",
        ] {
            let value = format!("x-ok=1,{name}=anything");
            let e = err(&[(var, &value)]);
            assert_eq!((e.variable, e.value.as_str()), (var, value.as_str()));
            assert!(
                e.problem.contains(&format!("{name:?}")),
                "{name}: {}",
                e.problem
            );
            // Not a warning to be ignored: the strict reading refuses it just the same.
            assert_eq!(strict_err(&[(var, &value)]), e);
        }
    }
}

#[test]
fn user_agent_from_configuration_is_kept_once() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "User-Agent=fleet%2F1,x-a=1"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "user-agent=pump-controller%2F2.1",
        ),
    ]);
    assert_eq!(
        c.headers,
        vec![
            ("User-Agent".to_string(), "pump-controller/2.1".to_string()),
            ("x-a".to_string(), "1".to_string()),
        ]
    );
    assert!(c.warnings.is_empty());
}

// ---- unusable values: a warning and the default (issue 14, item 11) ----
//
// SDK environment-variable specification, "Enum": "if the user provides a value the
// implementation does not recognize, the implementation MUST generate a warning and
// gracefully ignore the setting." "Numeric": "if the user provides a value the
// implementation cannot parse, or which is outside the valid range for the configuration
// item, the implementation SHOULD generate a warning and gracefully ignore the setting,
// i.e., treat them as not set."

#[test]
fn unknown_enum_values_warn_naming_variable_and_value_and_use_the_default() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")]);
    assert_eq!(c.protocol, Protocol::HttpProtobuf);
    assert_eq!(
        warned(&c),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    );
    assert!(c.warnings[0].problem.contains("unknown protocol"));

    let c = ok(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(c.protocol, Protocol::HttpProtobuf);
    assert_eq!(warned(&c), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"));

    let c = ok(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
    assert_eq!(c.compression, Compression::None);
    assert_eq!(warned(&c), ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"));

    let var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let c = ok(&[(var, "sometimes")]);
    assert_eq!(c.temporality, TemporalityPreference::Cumulative);
    assert_eq!(warned(&c), (var, "sometimes"));

    // The text says which variable, which value, and what is used instead.
    let c = ok(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
    assert_eq!(
        c.warnings[0].to_string(),
        "OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\": unknown compression; expected none or gzip; \
         using none (the default)"
    );
}

#[test]
fn enum_values_are_case_insensitive() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/Protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZip"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "LowMemory",
        ),
    ]);
    assert_eq!(c.protocol, Protocol::HttpProtobuf);
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(c.temporality, TemporalityPreference::LowMemory);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = ok(&[("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "NONE")]);
    assert_eq!(c.compression, Compression::None);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn negative_or_unparsable_timeouts_and_intervals_warn_and_use_the_default() {
    let cases = [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", Duration::from_millis(10_000)),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            Duration::from_millis(10_000),
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", Duration::from_millis(60_000)),
        ("OTEL_METRIC_EXPORT_TIMEOUT", Duration::from_millis(30_000)),
    ];
    for (var, default) in cases {
        for value in [
            "-1",
            "-250",
            "10s",
            "1.5",
            "fast",
            "0",
            "99999999999999999999",
        ] {
            let c = ok(&[(var, value)]);
            let got = match var {
                "OTEL_METRIC_EXPORT_INTERVAL" => c.export_interval,
                "OTEL_METRIC_EXPORT_TIMEOUT" => c.export_timeout,
                _ => c.timeout,
            };
            assert_eq!(got, default, "{var}={value}");
            assert_eq!(warned(&c), (var, value));
            let text = c.warnings[0].to_string();
            assert!(text.contains(var) && text.contains(value), "{text}");
            assert!(
                text.ends_with(&format!("using {} ms (the default)", default.as_millis())),
                "{text}"
            );
        }
    }
    assert!(ok(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "-1")]).warnings[0]
        .problem
        .contains("negative"));
}

#[test]
fn an_unusable_signal_value_counts_as_unset_so_the_generic_one_applies() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-5"),
    ]);
    assert_eq!(c.timeout, Duration::from_millis(2500));
    assert_eq!(warned(&c), ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-5"));
    assert!(c.warnings[0]
        .to_string()
        .ends_with("using 2500 ms from OTEL_EXPORTER_OTLP_TIMEOUT"));

    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli"),
    ]);
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(
        warned(&c),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli")
    );

    // Both unusable: two warnings, in the order read, and the default.
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "lz4"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli"),
    ]);
    assert_eq!(c.compression, Compression::None);
    let names: Vec<_> = c.warnings.iter().map(|w| w.variable).collect();
    assert_eq!(
        names,
        [
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION"
        ]
    );
}

#[test]
fn strict_reading_returns_the_first_warning_as_an_error() {
    let vars = [
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-1"),
    ];
    let lenient = ok(&vars);
    assert_eq!(lenient.warnings.len(), 2);
    let e = strict_err(&vars);
    assert_eq!(
        e,
        ConfigError {
            variable: "OTEL_EXPORTER_OTLP_COMPRESSION",
            value: "zstd".into(),
            problem: lenient.warnings[0].problem.clone(),
        }
    );
    // With nothing to warn about, both readings agree.
    let good = [("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")];
    assert_eq!(strict(&good).unwrap(), ok(&good));
    // Errors that are always errors stay errors in both.
    let bad = [("OTEL_EXPORTER_OTLP_ENDPOINT", "htp:/x")];
    assert_eq!(strict_err(&bad), err(&bad));
}

// ---- TLS files for https endpoints (issue 14, item 12) ----

#[test]
fn certificate_files_are_read_signal_first() {
    let c = ok(&[]);
    assert_eq!(c.tls, TlsFiles::default());
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/otel/generic-ca.pem"),
        ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/etc/otel/ca.pem"),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            "/etc/otel/client.pem",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
            "/etc/otel/client.key",
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", ""),
    ]);
    assert_eq!(
        c.tls,
        TlsFiles {
            ca_certificate: Some(PathBuf::from("/etc/otel/ca.pem")),
            client_certificate: Some(PathBuf::from("/etc/otel/client.pem")),
            client_key: Some(PathBuf::from("/etc/otel/client.key")),
        }
    );
}

// ---- resource ----

fn attr<'a>(c: &'a Config, key: &str) -> Option<&'a str> {
    c.resource
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn default_resource() {
    let c = ok(&[]);
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_str().unwrap();
    assert_eq!(c.service_name(), format!("unknown_service:{exe}"));
    assert_eq!(attr(&c, "telemetry.sdk.name"), Some("otlp-embedded"));
    assert_eq!(attr(&c, "telemetry.sdk.language"), Some("rust"));
    assert_eq!(
        attr(&c, "telemetry.sdk.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(c.resource.len(), 4);
}

#[test]
fn resource_attributes_and_service_name() {
    let c = ok(&[(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=from-attrs, deployment.environment=lab%201,host.name=pi",
    )]);
    assert_eq!(c.service_name(), "from-attrs");
    assert_eq!(attr(&c, "deployment.environment"), Some("lab 1"));
    assert_eq!(attr(&c, "host.name"), Some("pi"));

    // OTEL_SERVICE_NAME wins over service.name in the attributes.
    let c = ok(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,a=1"),
        ("OTEL_SERVICE_NAME", "pump-controller"),
    ]);
    assert_eq!(c.service_name(), "pump-controller");
    assert_eq!(
        c.resource_attributes(),
        vec![
            KeyValue::new("service.name", AttributeValue::Str("pump-controller")),
            KeyValue::new("telemetry.sdk.name", AttributeValue::Str("otlp-embedded")),
            KeyValue::new("telemetry.sdk.language", AttributeValue::Str("rust")),
            KeyValue::new(
                "telemetry.sdk.version",
                AttributeValue::Str(env!("CARGO_PKG_VERSION"))
            ),
            KeyValue::new("a", AttributeValue::Str("1")),
        ]
    );
}

#[test]
fn malformed_resource_attributes() {
    for value in ["a", "=x", "a=%Q1", "k=a%0Ab"] {
        let e = err(&[("OTEL_RESOURCE_ATTRIBUTES", value)]);
        assert_eq!(e.variable, "OTEL_RESOURCE_ATTRIBUTES", "{value}");
        assert_eq!(e.value, value);
    }
}

#[test]
fn every_setting_together() {
    let c = ok(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://otel.example:4443/ingest/",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-token=abc"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1234"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "lowmemory",
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "5000"),
        ("OTEL_SERVICE_NAME", "svc"),
    ]);
    assert_eq!(
        c.endpoint(),
        Endpoint {
            scheme: Scheme::Https,
            host: "otel.example",
            port: 4443,
            path: "/ingest/v1/metrics",
        }
    );
    assert_eq!(c.headers, vec![("x-token".to_string(), "abc".to_string())]);
    assert_eq!(c.timeout, Duration::from_millis(1234));
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(c.temporality, TemporalityPreference::LowMemory);
    assert_eq!(c.export_interval, Duration::from_secs(15));
    assert_eq!(c.export_timeout, Duration::from_secs(5));
    assert_eq!(c.service_name(), "svc");
    assert!(!c.sdk_disabled);
}

#[test]
fn default_config_equals_no_variables() {
    assert_eq!(Config::default(), ok(&[]));
}
