//! Links a whole TLS client beside the verifiers (feature `handshake`): key exchange,
//! record protection, the handshake state machine and mutual TLS signing, as a firmware
//! that exports over TLS carries them. The handshake runs over a connection that fails at
//! once, but behind a volatile read the optimizer cannot see through, so none of it is
//! dropped from the image; the code figure with this feature is the firmware-with-TLS
//! cost, and the difference between feature rows there is what a feature adds to it.

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, Scheme, TransportError};

use crate::runtime::{opaque, TakeOnce};

/// Always false at run time, read as volatile so that the stream is not provably dead.
static PLUGGED: bool = false;
/// The bytes a plugged stream would read, and the client key's scalar (zero: refused, so
/// there is no client identity at run time, but the signer is linked).
static WIRE: u8 = 0;

fn plugged() -> bool {
    opaque(&PLUGGED)
}

fn wire() -> u8 {
    opaque(&WIRE)
}

struct Unplugged;
struct Dead;

impl embedded_io::ErrorType for Dead {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for Dead {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if !plugged() {
            return Err(embedded_io::ErrorKind::NotConnected);
        }
        buf.fill(wire());
        Ok(buf.len())
    }
}

impl embedded_io::Write for Dead {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if plugged() {
            Ok(buf.len())
        } else {
            Err(embedded_io::ErrorKind::NotConnected)
        }
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        if plugged() {
            Ok(())
        } else {
            Err(embedded_io::ErrorKind::NotConnected)
        }
    }
}

impl Connection for Dead {
    fn set_deadline(&mut self, _deadline: Instant) {}

    fn close(self, _mode: CloseMode) -> Result<(), TransportError> {
        Ok(())
    }
}

impl Connect for Unplugged {
    type Connection<'c> = Dead;

    fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<Dead, TransportError> {
        Ok(Dead)
    }
}

/// Stand-in randomness for a size measurement: NOT random. A board uses its TRNG.
struct SizeCheckRng(u32);

impl rand_core::RngCore for SizeCheckRng {
    fn next_u32(&mut self) -> u32 {
        // xorshift32: exercises the code path, worthless as a secret.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32()) << 32 | u64::from(self.next_u32())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let bytes = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for SizeCheckRng {}

/// The TLS record buffers.
struct Records {
    read: [u8; otlp_embedded_tls::READ_BUFFER_LEN],
    write: [u8; 2048],
}

/// The record buffers, lent to the one handshake: one cell, so one flag and one take.
static RECORDS: TakeOnce<Records> = TakeOnce::new(Records {
    read: [0; otlp_embedded_tls::READ_BUFFER_LEN],
    write: [0; 2048],
});

/// Run a handshake over the dead stream: true when it fails with the stream's own error
/// (false too when the buffers were already lent).
pub fn fails_cleanly(anchor: &[u8]) -> bool {
    let Some(Records { read, write }) = RECORDS.take() else {
        return false;
    };
    let mut options = otlp_embedded_tls::TlsOptions::new(anchor);
    let scalar = [wire(); 32];
    if let Ok(key) = otlp_embedded_tls::SigningKey::from_slice(&scalar) {
        options = options.with_identity(otlp_embedded_tls::ClientIdentity {
            certificate_der: &[],
            key,
        });
    }
    let mut tls: otlp_embedded_tls::TlsConnector<'_, _, _> = otlp_embedded_tls::TlsConnector::new(
        Unplugged,
        SizeCheckRng(0x9e37_79b9),
        options,
        read,
        write,
    );
    let endpoint = Endpoint {
        scheme: Scheme::Https,
        host: "collector.test",
        port: 443,
        path: "/v1/metrics",
    };
    matches!(
        tls.connect(&endpoint, Instant(1_000)),
        Err(TransportError::Io(embedded_io::ErrorKind::NotConnected))
    )
}
