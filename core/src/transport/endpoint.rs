//! Where requests go: [`Endpoint`], built from parts or parsed from a URL string that the
//! caller keeps (a configuration block in flash, a `heapless::String` filled at run time).

/// URL scheme of an endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS over TCP.
    Https,
}

impl Scheme {
    /// 80 for http, 443 for https.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Where requests go: `scheme://host:port/path`, borrowed from the caller's configuration.
///
/// ```
/// use otlp_embedded::transport::{Endpoint, Scheme};
///
/// let endpoint = Endpoint::parse("https://[2001:db8::1]:4318/v1/metrics").unwrap();
/// assert_eq!(endpoint, Endpoint::new(Scheme::Https, "2001:db8::1", 4318, "/v1/metrics"));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Endpoint<'a> {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or address literal, without brackets for IPv6.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// Request target, starting with `/` (for OTLP metrics usually `/v1/metrics`).
    pub path: &'a str,
}

/// Why a URL is not an endpoint: which part is wrong.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EndpointError {
    /// The URL does not start with `http://` or `https://`.
    UnsupportedScheme,
    /// The URL carries credentials (`user:password@`); send them as a header instead.
    UserInfo,
    /// The host is empty, has a space or control byte or one of `/?#@[]\`, or is an IPv6
    /// literal with a missing `]` or characters other than hex digits, `:` and `.`.
    InvalidHost,
    /// The port is empty of digits, not decimal, 0 or above 65535.
    InvalidPort,
    /// The path has a space or control byte, or a query comes without a path.
    InvalidPath,
}

impl core::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EndpointError::UnsupportedScheme => "endpoint URL: scheme is not http:// or https://",
            EndpointError::UserInfo => {
                "endpoint URL: credentials in the URL are not supported, use a header"
            }
            EndpointError::InvalidHost => "endpoint URL: invalid host",
            EndpointError::InvalidPort => "endpoint URL: port is not a number from 1 to 65535",
            EndpointError::InvalidPath => "endpoint URL: invalid path",
        })
    }
}

impl core::error::Error for EndpointError {}

impl<'a> Endpoint<'a> {
    /// The OTLP/HTTP default: `http://localhost:4318/v1/metrics`.
    pub const DEFAULT: Endpoint<'static> = Endpoint {
        scheme: Scheme::Http,
        host: "localhost",
        port: 4318,
        path: "/v1/metrics",
    };

    /// An endpoint from its parts; `host` without brackets for IPv6, `path` starting with
    /// `/`. Core checks host and path when it writes a request
    /// ([`ExchangeError::InvalidHost`](super::ExchangeError::InvalidHost),
    /// [`ExchangeError::InvalidPath`](super::ExchangeError::InvalidPath)).
    pub const fn new(scheme: Scheme, host: &'a str, port: u16, path: &'a str) -> Self {
        Endpoint {
            scheme,
            host,
            port,
            path,
        }
    }

    /// The same endpoint with another request target (`/v1/metrics`, for example).
    pub const fn with_path(self, path: &'a str) -> Self {
        Endpoint { path, ..self }
    }

    /// Parse `http[s]://host[:port][/path]`, borrowing host and path from `url`.
    ///
    /// The URL is taken as the full request URL, as `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`
    /// is: nothing is appended, a URL without a path gets `/`, and a missing port is the
    /// scheme's default. A query stays part of the path; a `#fragment` is left out (it is
    /// never sent). IPv6 addresses go in brackets, which are not part of [`Endpoint::host`].
    pub fn parse(url: &'a str) -> Result<Self, EndpointError> {
        let (scheme, rest) = split_scheme(url)?;
        // The authority ends at the first `/`, `?` or `#`.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None => scheme.default_port(),
            Some(digits) => parse_port(digits)?,
        };
        // The fragment is the client's business; it never goes on the wire.
        let target = target.split('#').next().unwrap_or("");
        let path = match target.as_bytes().first() {
            None => "/",
            Some(b'/') => target,
            Some(_) => return Err(EndpointError::InvalidPath),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(EndpointError::InvalidPath);
        }
        Ok(Endpoint::new(scheme, host, port, path))
    }

    /// Whether `port` is the scheme's default (80 for http, 443 for https), in which case
    /// the `Host` header leaves it out.
    pub fn has_default_port(&self) -> bool {
        self.port == self.scheme.default_port()
    }
}

fn split_scheme(url: &str) -> Result<(Scheme, &str), EndpointError> {
    let (name, rest) = url
        .split_once("://")
        .ok_or(EndpointError::UnsupportedScheme)?;
    let scheme = if name.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if name.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        return Err(EndpointError::UnsupportedScheme);
    };
    Ok((scheme, rest))
}

/// Host (brackets removed) and the port digits after `:`, if any.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), EndpointError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or(EndpointError::InvalidHost)?;
        let is_address_char = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        if !address.contains(':') || !address.chars().all(is_address_char) {
            return Err(EndpointError::InvalidHost);
        }
        return match after {
            "" => Ok((address, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((address, Some(port))),
                None => Err(EndpointError::InvalidHost),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let forbidden = |b: u8| b <= b' ' || b == 0x7f || b"/?#@[]\\:".contains(&b);
    if host.is_empty() || host.bytes().any(forbidden) {
        return Err(EndpointError::InvalidHost);
    }
    Ok((host, port))
}

fn parse_port(digits: &str) -> Result<u16, EndpointError> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EndpointError::InvalidPort);
    }
    match digits.parse::<u16>() {
        Ok(0) | Err(_) => Err(EndpointError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts_and_defaults() {
        let cases: [(&str, Endpoint<'_>); 9] = [
            (
                "http://localhost:4318/v1/metrics",
                Endpoint::new(Scheme::Http, "localhost", 4318, "/v1/metrics"),
            ),
            (
                "https://collector.example",
                Endpoint::new(Scheme::Https, "collector.example", 443, "/"),
            ),
            (
                "HTTP://10.0.0.2/",
                Endpoint::new(Scheme::Http, "10.0.0.2", 80, "/"),
            ),
            (
                "http://[::1]:4318/v1/metrics",
                Endpoint::new(Scheme::Http, "::1", 4318, "/v1/metrics"),
            ),
            (
                "https://[2001:db8::7]",
                Endpoint::new(Scheme::Https, "2001:db8::7", 443, "/"),
            ),
            (
                "http://h:8080/otlp/v1/metrics?tenant=a#frag",
                Endpoint::new(Scheme::Http, "h", 8080, "/otlp/v1/metrics?tenant=a"),
            ),
            ("http://h#frag", Endpoint::new(Scheme::Http, "h", 80, "/")),
            (
                "http://h:65535/x",
                Endpoint::new(Scheme::Http, "h", 65535, "/x"),
            ),
            (
                "https://h:443/x",
                Endpoint::new(Scheme::Https, "h", 443, "/x"),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(Endpoint::parse(url), Ok(expected), "{url}");
        }
        assert!(Endpoint::parse("https://h:443/x")
            .unwrap()
            .has_default_port());
        assert!(!Endpoint::parse("http://h:443/x")
            .unwrap()
            .has_default_port());
    }

    #[test]
    fn says_which_part_is_wrong() {
        let cases: [(&str, EndpointError); 17] = [
            ("ftp://h/", EndpointError::UnsupportedScheme),
            ("localhost:4318", EndpointError::UnsupportedScheme),
            ("", EndpointError::UnsupportedScheme),
            ("http://user:pw@h/", EndpointError::UserInfo),
            ("http:///v1/metrics", EndpointError::InvalidHost),
            ("http://:4318/", EndpointError::InvalidHost),
            ("http://a b/", EndpointError::InvalidHost),
            ("http://[::1/", EndpointError::InvalidHost),
            ("http://[]/", EndpointError::InvalidHost),
            ("http://[fe80::1%eth0]/", EndpointError::InvalidHost),
            ("http://[::1]x/", EndpointError::InvalidHost),
            ("http://h:/", EndpointError::InvalidPort),
            ("http://h:0/", EndpointError::InvalidPort),
            ("http://h:65536/", EndpointError::InvalidPort),
            ("http://h:+80/", EndpointError::InvalidPort),
            ("http://h?x=1", EndpointError::InvalidPath),
            ("http://h/a b", EndpointError::InvalidPath),
        ];
        for (url, expected) in cases {
            assert_eq!(Endpoint::parse(url), Err(expected), "{url}");
        }
    }
}
