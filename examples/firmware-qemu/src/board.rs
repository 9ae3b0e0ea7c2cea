//! What the board gives the program: a SysTick millisecond clock, the two stacks and
//! their high-water marks, and the semihosting console, host time and exit status.
//!
//! A real board port replaces `CORE_HZ` with its clock tree's figure, the semihosting
//! parts with a UART (or RTT) and a reset, the command line with build-time settings,
//! and `host_unix_seconds` with an RTC or SNTP.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use otlp_embedded::time::{Clock, Instant};

/// The core clock of QEMU's mps2 boards (and of the FPGA images they model).
pub const CORE_HZ: u32 = 25_000_000;
/// SysTick counts down from this to 0 once per millisecond.
pub const SYSTICK_RELOAD: u32 = CORE_HZ / 1_000 - 1;
/// SysTick clock cycles per microsecond.
const CYCLES_PER_US: u32 = CORE_HZ / 1_000_000;

/// Milliseconds since SysTick started, split in two 32-bit halves: no 64-bit atomics on a
/// 32-bit core. Only the SysTick handler writes them.
static MS_LOW: AtomicU32 = AtomicU32::new(0);
static MS_HIGH: AtomicU32 = AtomicU32::new(0);

/// Start the 1 ms SysTick interrupt from the core clock.
pub fn start_systick(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSTICK_RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Advance the clock by one millisecond: the SysTick handler's first job.
pub fn tick() {
    let low = MS_LOW.load(Ordering::Relaxed).wrapping_add(1);
    if low == 0 {
        MS_HIGH.fetch_add(1, Ordering::Relaxed);
    }
    MS_LOW.store(low, Ordering::Release);
}

/// Milliseconds since SysTick started.
pub fn now_ms() -> u64 {
    // The handler may run between the two loads: read the high half again to notice.
    loop {
        let high = MS_HIGH.load(Ordering::Acquire);
        let low = MS_LOW.load(Ordering::Acquire);
        if MS_HIGH.load(Ordering::Acquire) == high {
            return (u64::from(high) << 32) | u64::from(low);
        }
    }
}

/// Microseconds since SysTick started: the millisecond count plus how far the SysTick
/// counter is into the current millisecond. Inside a critical section a SysTick wrap is
/// not counted until the section ends, so readings there can lag by up to 1 ms.
pub fn now_us() -> u64 {
    loop {
        let ms = now_ms();
        let into = SYSTICK_RELOAD.saturating_sub(SYST::get_current()) / CYCLES_PER_US;
        if now_ms() == ms {
            return ms * 1_000 + u64::from(into);
        }
    }
}

/// SysTick cycles since the counter last wrapped: read first thing in the SysTick handler,
/// it is the interrupt's entry latency.
pub fn cycles_since_wrap() -> u32 {
    SYSTICK_RELOAD.saturating_sub(SYST::get_current())
}

/// The board's monotonic clock for core and the transport.
#[derive(Copy, Clone, Debug, Default)]
pub struct SysTickClock;

impl Clock for SysTickClock {
    fn now(&self) -> Instant {
        Instant(now_ms())
    }
}

/// Seconds since the Unix epoch, from the host (semihosting `SYS_TIME`).
pub fn host_unix_seconds() -> u32 {
    // SAFETY: SYS_TIME takes no argument block and only returns a value.
    unsafe { cortex_m_semihosting::syscall!(TIME) as u32 }
}

/// The command line the host gives the program (QEMU's `-append`, or the arguments of
/// `-semihosting-config arg=...`), read into `buf` through semihosting `SYS_GET_CMDLINE`.
/// `None` when the host refuses the call (the line does not fit `buf`, or no host is
/// attached) or the line is not UTF-8.
pub fn host_cmdline(buf: &mut [u8]) -> Option<&str> {
    // The parameter block: the buffer's address and size in; the length written out.
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the block is two words that live across the call, naming `buf`, which the
    // host writes at most `buf.len()` bytes into; the call's inline assembly may write
    // memory, so the compiler reads `block` and `buf` again afterwards.
    let result = unsafe {
        cortex_m_semihosting::syscall1(
            cortex_m_semihosting::nr::GET_CMDLINE,
            block.as_mut_ptr() as usize,
        )
    };
    if result != 0 {
        return None;
    }
    let text = buf.get(..block[1])?;
    core::str::from_utf8(text).ok()
}

/// End the program with `code` as QEMU's exit status (semihosting `SYS_EXIT_EXTENDED`,
/// reason "application exit", subcode = status).
pub fn exit(code: u32) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x20026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as usize];
    // SAFETY: the argument block is two words that live across the call.
    unsafe {
        cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    // Without a debugger attached the call returns: stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

/// A hard fault ends the run with [`crate::status::HARD_FAULT`], saying where it happened.
/// Here, not in the program, because cortex-m-rt wants this handler `unsafe`.
// SAFETY: cortex-m-rt calls it only on a hard fault, with the stacked frame; it reads the
// frame and exits, and never returns into the faulting code.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m_semihosting::heprintln!(
        "hard fault: pc {:#010x} lr {:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit(crate::status::HARD_FAULT)
}

/// The pattern painted over unused stack; a word that still holds it was never written.
const PAINT: u32 = 0x5afe_c0de;

/// Bytes of the process stack, the main loop's (8-aligned as AAPCS wants).
pub const PROCESS_STACK_BYTES: usize = 16 * 1024;

#[repr(C, align(8))]
struct ProcessStack([u32; PROCESS_STACK_BYTES / 4]);

/// The main loop's stack. The main stack (MSP, from the linker's `_stack_start` down to
/// `_stack_end`) is left to exception handlers, so each can be measured alone. `static mut`
/// so that it is writable RAM; no reference to it is ever made, only its address taken.
// SAFETY: no reference to it is made; only `process_stack_range` takes its address, for
// the process stack pointer and the stack gauge.
static mut PROCESS_STACK: ProcessStack = ProcessStack([0; PROCESS_STACK_BYTES / 4]);

// SAFETY: both are linker symbols of cortex-m-rt's link.x; only their addresses are taken.
unsafe extern "C" {
    /// Top of the main stack (cortex-m-rt's link.x).
    static _stack_start: u32;
    /// Lowest address the main stack may grow to: the end of `.bss`/`.uninit`.
    static _stack_end: u32;
}

fn process_stack_range() -> (usize, usize) {
    let bottom = core::ptr::addr_of!(PROCESS_STACK) as usize;
    (bottom, bottom + PROCESS_STACK_BYTES)
}

fn main_stack_range() -> (usize, usize) {
    (
        core::ptr::addr_of!(_stack_end) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// Paint `[from, to)` (word-aligned addresses) with the pattern.
///
/// # Safety
/// Nothing may use `[from, to)` while this runs: it must lie below every live stack frame.
unsafe fn paint(from: usize, to: usize) {
    let mut at = (from + 3) & !3;
    while at + 4 <= to {
        // SAFETY: the caller guarantees the range is unused RAM; `at` is word-aligned.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Bytes of `[bottom, top)` written since painting: from `top` down to the lowest word
/// that lost the pattern.
fn used(bottom: usize, top: usize) -> usize {
    let mut at = (bottom + 3) & !3;
    while at + 4 <= top {
        // SAFETY: `[bottom, top)` is one of the two stacks, RAM owned by this program;
        // reading a word of it has no side effect.
        if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
            break;
        }
        at += 4;
    }
    top.saturating_sub(at)
}

/// The two stacks' high-water marks.
#[derive(Copy, Clone, Debug)]
pub struct StackMarks {
    /// Main stack pointer when the handlers' stack was painted: what lies above it (the
    /// reset handler's frame) is not the handlers'.
    msp_top: usize,
    /// Process stack pointer when painted: the main loop's own frame starts above it.
    psp_at_paint: usize,
}

/// Below the current stack pointer this many bytes stay unpainted: the frame of `paint`
/// itself and what it calls.
const PAINT_MARGIN: usize = 128;

impl StackMarks {
    /// Paint both stacks below where they are now. Call from the main loop on the process
    /// stack, with the SysTick interrupt not running yet (or in a critical section).
    pub fn paint_now() -> StackMarks {
        let psp = cortex_m::register::psp::read() as usize;
        let msp = cortex_m::register::msp::read() as usize;
        let (pbottom, _) = process_stack_range();
        let (mbottom, _) = main_stack_range();
        // SAFETY: below the current PSP (less a margin for this call's own frames) the
        // process stack is unused; below the MSP the main stack is unused while no
        // handler runs, which the caller guarantees.
        unsafe {
            paint(pbottom, psp.saturating_sub(PAINT_MARGIN));
            paint(mbottom, msp);
        }
        StackMarks {
            msp_top: msp,
            psp_at_paint: psp,
        }
    }

    /// Deepest use of the process stack (the main loop, exports included), from its top,
    /// in bytes.
    pub fn main_loop_bytes(&self) -> usize {
        let (bottom, top) = process_stack_range();
        used(bottom, top)
    }

    /// Process stack in use when it was painted (the loop function's own frame, with the
    /// interface, socket set and configuration it keeps), in bytes.
    pub fn main_loop_frame_bytes(&self) -> usize {
        let (_, top) = process_stack_range();
        top.saturating_sub(self.psp_at_paint)
    }

    /// Deepest use of the main stack by exception handlers (their frames and the
    /// hardware-stacked registers), in bytes.
    pub fn handlers_bytes(&self) -> usize {
        let (bottom, _) = main_stack_range();
        used(bottom, self.msp_top)
    }

    /// Sizes of the two stacks: (process stack, main stack below where it was painted).
    pub fn capacities(&self) -> (usize, usize) {
        let (mbottom, _) = main_stack_range();
        (PROCESS_STACK_BYTES, self.msp_top.saturating_sub(mbottom))
    }
}

/// Switch the running code to the process stack and jump to `entry`, never to return.
/// The main stack then serves exception handlers only.
pub fn run_on_process_stack(entry: extern "C" fn() -> !) -> ! {
    let (_, top) = process_stack_range();
    // SAFETY: `top` is the 8-aligned end of a static array no other code uses as a stack;
    // CONTROL.SPSEL = 1 makes thread mode use PSP from the next instruction on (the ISB
    // orders it), and `entry` never returns, so no frame on the old stack is used again.
    unsafe {
        core::arch::asm!(
            // r2 is scratch: nothing runs after this block on this stack.
            "msr psp, r0",
            "mrs r2, control",
            "orr r2, r2, #2",
            "msr control, r2",
            "isb",
            "bx r1",
            in("r0") top,
            in("r1") entry,
            options(noreturn),
        )
    }
}
