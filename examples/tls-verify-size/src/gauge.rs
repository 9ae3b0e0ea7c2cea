//! The measuring instruments: the stack gauge (paint the free stack, find the lowest word
//! written) and the SysTick instruction count's calibration loop. They read and write raw
//! stack memory and run hand-written assembly, so this module (with `runtime.rs`) is where
//! the image's `unsafe` lives; main.rs denies it.

use cortex_m::peripheral::SYST;
use otlp_embedded::transport::TlsFailure;

const PAINT: u32 = 0xdead_beef;
/// Left unpainted below the stack pointer: the frame of `measure` itself.
const MARGIN: usize = 256;

extern "C" {
    /// Lowest address the main stack may grow to (cortex-m-rt's link.x).
    static _stack_end: u32;
}

/// SysTick's 24-bit counter: a measurement longer than this many ticks is reported as such.
pub const TICKS_MAX: u32 = 0x00ff_ffff;

/// Ticks since `start` on the free-running, down-counting SysTick; `None` if it wrapped.
fn ticks_since(syst: &mut SYST, start: u32) -> Option<u32> {
    let now = SYST::get_current();
    if syst.has_wrapped() {
        return None;
    }
    Some(start.wrapping_sub(now) & TICKS_MAX)
}

/// Restart SysTick from the top, without its interrupt; returns the start value.
fn restart(syst: &mut SYST) -> u32 {
    syst.disable_counter();
    syst.clear_current();
    let _ = syst.has_wrapped();
    syst.enable_counter();
    SYST::get_current()
}

/// Ticks for `iterations` of a two-instruction loop (subtract, branch).
#[inline(never)]
pub fn calibrate(syst: &mut SYST, iterations: u32) -> Option<u32> {
    let start = restart(syst);
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("1:", "subs {n}, #1", "bne 1b", n = inout(reg) iterations => _);
    }
    ticks_since(syst, start)
}

/// Stack bytes `f` used, beyond the caller's frame, and the SysTick ticks it took.
#[inline(never)]
pub fn measure(
    syst: &mut SYST,
    f: impl FnOnce() -> Result<(), TlsFailure>,
) -> (Result<(), TlsFailure>, usize, Option<u32>) {
    let sp = cortex_m::register::msp::read() as usize - MARGIN;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let mut p = bottom;
    while p < sp {
        // SAFETY: [bottom, sp) is free stack RAM below every live frame.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    let start = restart(syst);
    let result = f();
    let ticks = ticks_since(syst, start);
    let mut low = bottom;
    // SAFETY: as above; reading words of our own stack.
    while low < sp && unsafe { core::ptr::read_volatile(low as *const u32) } == PAINT {
        low += 4;
    }
    (result, sp + MARGIN - low, ticks)
}
