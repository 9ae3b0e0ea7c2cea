//! The exchange a [`MetricExporter`](super::MetricExporter) sends through: core's HTTP/1.1
//! client over [`TcpConnector`], with rustls over it for an `https` endpoint (feature
//! `tls`) and gzip around it when configured (feature `gzip`). One connection per request,
//! the whole response read, an explicit close: nothing is pooled between exports.

use otlp_embedded::http::HttpClient;
use otlp_embedded::transport::{Connect, Exchange, Scheme};

use super::BuildError;
use crate::config::{Compression, EndpointUrl, TlsFiles};
use crate::{StdClock, TcpConnector};

/// The exchange for `endpoint`'s scheme and `compression`, its deadlines on `clock`.
/// `body_capacity` sizes gzip's output buffer once, up front.
pub(super) fn exchange_for(
    endpoint: &EndpointUrl,
    tls: &TlsFiles,
    compression: Compression,
    body_capacity: usize,
    clock: StdClock,
) -> Result<Box<dyn Exchange + Send>, BuildError> {
    let tcp = TcpConnector::new(clock);
    match endpoint.scheme {
        Scheme::Http => compressed(tcp, compression, body_capacity, clock),
        #[cfg(feature = "tls")]
        Scheme::Https => {
            let config = crate::tls::TlsOptions {
                ca_certificate: tls.ca_certificate.clone(),
                client_certificate: tls.client_certificate.clone(),
                client_key: tls.client_key.clone(),
            }
            .client_config()
            .map_err(BuildError::Tls)?;
            let connector = crate::tls::TlsConnector::new(tcp, config);
            compressed(connector, compression, body_capacity, clock)
        }
        #[cfg(not(feature = "tls"))]
        Scheme::Https => {
            let _ = tls;
            Err(BuildError::TlsUnavailable)
        }
    }
}

fn compressed<C: Connect + Send + 'static>(
    connector: C,
    compression: Compression,
    body_capacity: usize,
    clock: StdClock,
) -> Result<Box<dyn Exchange + Send>, BuildError> {
    let client = HttpClient::<_, _>::new(connector, clock);
    match compression {
        Compression::None => {
            let _ = body_capacity;
            Ok(Box::new(client))
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            let mut gzip = crate::gzip::GzipExchange::new(client);
            gzip.reserve(body_capacity);
            Ok(Box::new(gzip))
        }
        #[cfg(not(feature = "gzip"))]
        Compression::Gzip => Err(BuildError::GzipUnavailable),
    }
}
