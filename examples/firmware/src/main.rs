//! A `#![no_std]` `#![no_main]` binary that links otlp-embedded with no global allocator.
//!
//! Built by its own cargo invocation with the `firmware` profile (see `scripts/firmware.sh`),
//! so no feature switched on by a std crate elsewhere in the workspace can hide a dependency
//! on `std` or `alloc`: if anything in the path needed an allocator, this would not link.
//! It runs on the host (no embedded target can be installed here): `_start` runs the same
//! record-and-encode path firmware would, and exits 0 only when it produced a request.
#![no_std]
#![no_main]
// This crate defines `memcpy` and friends below; `no_builtins` keeps LLVM from compiling
// their byte loops back into calls to themselves.
#![no_builtins]

mod registry_round;

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

/// The firmware's work: encode one batch into a static buffer. Returns the process status.
fn run() -> i32 {
    let resource_attributes = [KeyValue::new(
        "service.name",
        AttributeValue::Str("firmware"),
    )];
    let header = RequestHeader {
        resource: Resource {
            attributes: &resource_attributes,
            dropped_attributes_count: 0,
            schema_url: "",
        },
        scope: Scope {
            name: "otlp-embedded-firmware",
            version: "",
            attributes: &[],
            dropped_attributes_count: 0,
            schema_url: "",
        },
    };
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
    exit(run())
}
