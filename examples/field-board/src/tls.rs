//! The firmware TLS client as a layer of `firmware::export_once_with`.

use core::marker::PhantomData;

use otlp_embedded::transport::Connect;
use otlp_embedded_smoltcp::firmware::Layer;
use otlp_embedded_tls::{TlsClock, TlsConnector, TlsOptions};
use rand_core::{CryptoRng, RngCore};

/// `otlp-embedded-tls`'s connector over the smoltcp connector beneath, built for one
/// export from the caller's RNG, options and record buffers. `C` is the wall clock for
/// certificate dates (`NoClock` skips them).
///
/// The transport crate depends on no TLS crate, so the layer is the firmware's own type:
/// this one serves any board (and the TAP test).
pub struct TlsLayer<'b, R, C> {
    rng: R,
    options: TlsOptions<'b>,
    read: &'b mut [u8],
    write: &'b mut [u8],
    clock: PhantomData<C>,
}

impl<'b, R, C> TlsLayer<'b, R, C> {
    /// A layer that will run its handshakes with `rng` and `options` in `read` and `write`.
    pub fn new(rng: R, options: TlsOptions<'b>, read: &'b mut [u8], write: &'b mut [u8]) -> Self {
        TlsLayer {
            rng,
            options,
            read,
            write,
            clock: PhantomData,
        }
    }
}

impl<'b, B, R, C> Layer<B> for TlsLayer<'b, R, C>
where
    B: Connect,
    R: RngCore + CryptoRng,
    C: TlsClock,
{
    type Connector = TlsConnector<'b, B, R, C>;

    fn wrap(self, beneath: B) -> Self::Connector {
        TlsConnector::new(beneath, self.rng, self.options, self.read, self.write)
    }

    fn beneath(connector: &mut Self::Connector) -> &mut B {
        connector.inner_mut()
    }
}
