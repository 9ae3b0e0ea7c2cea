//! The endpoint URL of `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT`, owned.

use std::fmt;

use otlp_embedded::transport::{Endpoint, Scheme};

use super::ConfigError;

/// Where requests go, owned. [`Config::endpoint`](super::Config::endpoint) lends it as core's [`Endpoint`].
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
    pub(super) fn with_signal_path(mut self) -> Self {
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
