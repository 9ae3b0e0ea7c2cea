//! A `#![no_std]` `#![no_main]` binary that links otlp-embedded with no global allocator.
//!
//! Built by its own cargo invocation with the `firmware` profile (see `scripts/firmware.sh`),
//! so no feature switched on by a std crate elsewhere in the workspace can hide a dependency
//! on `std` or `alloc`: if anything in the path needed an allocator, this would not link.
//! It runs on the host (no embedded target can be installed here) and exits 0 only when
//! every round did what firmware would need:
//!
//! - 2: a `static` critical-section registry recorded into, collected and settled;
//! - 4: a whole export through the exchange-level seam (a modem stand-in: 503, then 200);
//! - 13-16: whole exports over smoltcp between two in-memory interfaces, with the link cut
//!   (the data is kept) and then up (it is delivered);
//! - 3: the no-heap TLS client's handshake over a stream that fails at once ends cleanly;
//! - 1: the encoder turns a batch into a request carrying its one point.
//!
//! Each round takes its buffers from `static` [`runtime::TakeOnce`] cells; one already
//! lent (a second `&mut`) fails the round instead.
#![no_std]
#![no_main]
// This crate defines `memcpy` and friends (runtime.rs); `no_builtins` keeps LLVM from
// compiling their byte loops back into calls to themselves.
#![no_builtins]
// The program has no `unsafe`: what a runtime crate and C library would give it (entry
// point, exit, memory functions, the critical section, lending statics once) is
// runtime.rs's. `deny`, not `forbid`, so that module alone can allow it.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

#[allow(unsafe_code)]
mod runtime;

mod export_round;
mod registry_round;
mod smoltcp_round;

use runtime::TakeOnce;

use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricData, MetricInfo, Point, PointValue, RequestHeader,
    RequestSplitter, Resource, Scope, SliceMetric, SlicePoint, SliceSource, Temporality,
};

/// The request buffer of the encoder round.
static REQUEST_BUFFER: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);

/// TLS record buffers: the read buffer holds a whole 16 KiB record (servers do not shrink
/// them), the write buffer one request's worth of records.
static TLS_READ_BUFFER: TakeOnce<[u8; otlp_embedded_tls::READ_BUFFER_LEN]> =
    TakeOnce::new([0; otlp_embedded_tls::READ_BUFFER_LEN]);
static TLS_WRITE_BUFFER: TakeOnce<[u8; 2048]> = TakeOnce::new([0; 2048]);

mod tls_link {
    //! Forces the no-heap TLS client into the link: a handshake over a stream that fails at
    //! once. A board passes its TCP connector (smoltcp) and its hardware RNG instead.
    use crate::runtime::opaque;
    use otlp_embedded::time::Instant;
    use otlp_embedded::transport::{
        CloseMode, Connect, Connection, Endpoint, Scheme, TransportError,
    };

    /// Always false, but read as volatile so that the optimizer cannot prove the stream
    /// dead and drop the rest of the handshake (certificate parsing, ECDSA verification,
    /// record decryption): the flash figure then counts the whole client.
    static PLUGGED: bool = false;
    static WIRE: u8 = 0;

    fn plugged() -> bool {
        opaque(&PLUGGED)
    }

    /// A connector whose connections refuse every read and write.
    pub struct Unplugged;
    /// A connection of [`Unplugged`].
    pub struct Dead;

    impl embedded_io::ErrorType for Dead {
        type Error = embedded_io::ErrorKind;
    }
    impl embedded_io::Read for Dead {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            if !plugged() {
                return Err(embedded_io::ErrorKind::NotConnected);
            }
            for byte in buf.iter_mut() {
                *byte = opaque(&WIRE);
            }
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

    /// Stand-in randomness for the link check only: NOT random. A board uses its TRNG.
    pub struct LinkCheckRng(pub u64);
    impl rand_core::RngCore for LinkCheckRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            // xorshift64: enough to exercise the code path, worthless as a secret.
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(8) {
                let bytes = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for LinkCheckRng {}

    /// Run a handshake over the dead stream: it must fail with the stream's own error.
    pub fn handshake_fails_cleanly(read: &mut [u8], write: &mut [u8]) -> bool {
        let mut options = otlp_embedded_tls::TlsOptions::new(&[]);
        // Mutual TLS in the link too: a client key from (volatile, so opaque) static bytes.
        // An all-zero scalar is refused, so at run time there is no identity.
        let mut scalar = [0u8; 32];
        for byte in scalar.iter_mut() {
            *byte = opaque(&WIRE);
        }
        if let Ok(key) = otlp_embedded_tls::SigningKey::from_slice(&scalar) {
            options = options.with_identity(otlp_embedded_tls::ClientIdentity {
                certificate_der: &[],
                key,
            });
        }
        let mut tls: otlp_embedded_tls::TlsConnector<'_, _, _> =
            otlp_embedded_tls::TlsConnector::new(
                Unplugged,
                LinkCheckRng(0x9e37_79b9_7f4a_7c15),
                options,
                read,
                write,
            );
        let endpoint = Endpoint::new(Scheme::Https, "collector.example", 443, "/v1/metrics");
        matches!(
            tls.connect(&endpoint, Instant(1_000)),
            Err(TransportError::Io(embedded_io::ErrorKind::NotConnected))
        )
    }
}

/// The firmware's work: encode one batch into a static buffer. Returns the process status.
fn run() -> i32 {
    let (Some(tls_read), Some(tls_write)) = (TLS_READ_BUFFER.take(), TLS_WRITE_BUFFER.take())
    else {
        return 3;
    };
    if !tls_link::handshake_fails_cleanly(tls_read, tls_write) {
        return 3;
    }
    let resource_attributes = [KeyValue::new(
        "service.name",
        AttributeValue::Str("firmware"),
    )];
    let header = RequestHeader::new(
        Resource::new(&resource_attributes),
        Scope::new("otlp-embedded-firmware"),
    );
    let attributes = [KeyValue::new("core", AttributeValue::Int(0))];
    let points = [SlicePoint {
        attributes: &attributes,
        point: Point {
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            flags: 0,
            value: PointValue::Int(42),
        },
    }];
    let metrics = [SliceMetric {
        info: MetricInfo {
            name: "boots",
            description: "",
            unit: "1",
            data: MetricData::Sum {
                temporality: Temporality::Cumulative,
                is_monotonic: true,
            },
        },
        points: &points,
    }];
    let source = SliceSource { metrics: &metrics };
    let Some(buffer) = REQUEST_BUFFER.take() else {
        return 1;
    };
    let mut splitter = RequestSplitter::new(header);
    match splitter.next_request(&source, buffer) {
        Some(Ok(request)) if !request.bytes.is_empty() && request.span.points == 1 => 0,
        _ => 1,
    }
}

/// The program: every round in turn. Returns the process status (the module docs list
/// them); `runtime::_start` ends the process with it.
fn program() -> i32 {
    if !registry_round::run() {
        return 2;
    }
    if !export_round::run() {
        return 4;
    }
    let status = smoltcp_round::run();
    if status != 0 {
        return status;
    }
    run()
}
