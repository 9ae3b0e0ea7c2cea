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
//! - 13-15: whole exports over smoltcp between two in-memory interfaces, with the link cut
//!   (the data is kept) and then up (it is delivered);
//! - 3: the no-heap TLS client's handshake over a stream that fails at once ends cleanly;
//! - 1: the encoder turns a batch into a request carrying its one point.
#![no_std]
#![no_main]
// This crate defines `memcpy` and friends below; `no_builtins` keeps LLVM from compiling
// their byte loops back into calls to themselves.
#![no_builtins]

mod export_round;
mod registry_round;
mod smoltcp_round;

use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricData, MetricInfo, Point, PointValue, RequestHeader,
    RequestSplitter, Resource, Scope, SliceMetric, SlicePoint, SliceSource, Temporality,
};

/// Ends the process with `code`. The binary links no C library (`-nodefaultlibs`), so this
/// is the raw Linux `exit_group` system call; on a board it would be a reset or a loop.
fn exit(code: i32) -> ! {
    // SAFETY: exit_group (231 on x86_64 Linux) takes one integer and never returns.
    unsafe {
        core::arch::asm!("syscall", in("rax") 231, in("rdi") code, options(noreturn, nostack));
    }
}

// The memory functions LLVM calls for slice copies and fills. A firmware target gets them
// from `compiler_builtins`; the host target this binary runs on expects the C library,
// which `-nodefaultlibs` leaves out, so they are defined here (plain byte loops).

/// C `memcpy`.
///
/// # Safety
/// `dest` and `src` valid for `n` bytes and not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees both ranges are valid for `n` bytes.
        unsafe { *dest.add(i) = *src.add(i) };
        i += 1;
    }
    dest
}

/// C `memmove`.
///
/// # Safety
/// `dest` and `src` valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) {
        // SAFETY: copying forwards never overwrites a source byte not yet read.
        unsafe { memcpy(dest, src, n) }
    } else {
        let mut i = n;
        while i > 0 {
            i -= 1;
            // SAFETY: the caller guarantees both ranges are valid for `n` bytes.
            unsafe { *dest.add(i) = *src.add(i) };
        }
        dest
    }
}

/// C `memset`.
///
/// # Safety
/// `dest` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees the range is valid for `n` bytes.
        unsafe { *dest.add(i) = value as u8 };
        i += 1;
    }
    dest
}

/// C `memcmp`.
///
/// # Safety
/// `a` and `b` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees both ranges are valid for `n` bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// C `bcmp` (LLVM emits it for equality-only comparisons).
///
/// # Safety
/// `a` and `b` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    exit(101)
}

static mut REQUEST_BUFFER: [u8; 1024] = [0; 1024];

/// TLS record buffers: the read buffer holds a whole 16 KiB record (servers do not shrink
/// them), the write buffer one request's worth of records.
static mut TLS_READ_BUFFER: [u8; otlp_embedded_tls::READ_BUFFER_LEN] =
    [0; otlp_embedded_tls::READ_BUFFER_LEN];
static mut TLS_WRITE_BUFFER: [u8; 2048] = [0; 2048];

mod tls_link {
    //! Forces the no-heap TLS client into the link: a handshake over a stream that fails at
    //! once. A board passes its TCP connector (smoltcp) and its hardware RNG instead.
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
        // SAFETY: a plain static, read only.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!(PLUGGED)) }
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
                // SAFETY: a plain static byte, read only.
                *byte = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(WIRE)) };
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
            // SAFETY: a plain static byte, read only.
            *byte = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(WIRE)) };
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
    // SAFETY: single-threaded program; these are the only references to the buffers.
    let (tls_read, tls_write) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(TLS_READ_BUFFER),
            &mut *core::ptr::addr_of_mut!(TLS_WRITE_BUFFER),
        )
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
    // SAFETY: single-threaded program; this is the only reference to the buffer.
    let buffer = unsafe { &mut *core::ptr::addr_of_mut!(REQUEST_BUFFER) };
    let mut splitter = RequestSplitter::new(header);
    match splitter.next_request(&source, buffer) {
        Some(Ok(request)) if !request.bytes.is_empty() && request.span.points == 1 => 0,
        _ => 1,
    }
}

/// Entry point: linked with `-nostartfiles`, so no C runtime sets up the stack. The kernel
/// enters with the stack 16-byte aligned; a call pushes 8 bytes, which is what the callee
/// expects.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "and rsp, -16", "call {main}", "ud2", main = sym firmware_main);
}

extern "C" fn firmware_main() -> ! {
    if !registry_round::run() {
        exit(2)
    }
    if !export_round::run() {
        exit(4)
    }
    let status = smoltcp_round::run();
    if status != 0 {
        exit(status)
    }
    exit(run())
}
