//! PLACEHOLDER (issue 4 fills this in): HTTP/1.1 exchange over the stream seam.

use crate::transport::TransportError;

/// Why an exchange failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExchangeError {
    /// Opening the connection failed.
    Connect(TransportError),
}
