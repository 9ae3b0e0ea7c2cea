//! What every image of this package shares, so that firmware-min and firmware-baseline differ
//! only by what the program does ([`program`] is firmware-min's and firmware-worst's): the panic handler, a semihosting console that prints
//! numbers without `core::fmt`, an exit status through semihosting, and the stack gauge.
//!
//! The stack gauge paints the unused stack with a pattern and later finds the lowest word
//! that no longer holds it. cortex-m-rt puts the stack at the top of RAM, growing down to
//! `_stack_end` (the end of `.bss`), so the high-water mark is `_stack_start` minus that
//! address: everything pushed since reset, the reset handler's and `main`'s frames included.
//! An interrupt would count too (none is enabled here).
//!
//! [`TakeOnce`] is how the programs get their `&'static mut` buffers without `unsafe` or
//! `static mut` of their own: the `unsafe` this package needs (registers, semihosting, the
//! stack gauge, lending a static once) stays here, and each program is
//! `#![forbid(unsafe_code)]`.
#![no_std]

pub mod program;

use core::cell::{Cell, UnsafeCell};
use core::panic::PanicInfo;
use core::ptr::{addr_of, addr_of_mut};

use cortex_m_semihosting::hio;

/// What an unused stack word holds. Any value would do; this one is unlikely as a pointer,
/// a small integer or a length, so a used word almost never keeps it by chance.
const PAINT: u32 = 0x5AC3_3CA5;

/// Words left unpainted just below the stack pointer at painting time: the painting loop
/// runs inlined in `main`, so nothing should live there, but a compiler spill must not be
/// overwritten. Anything deeper than this is measured.
const PAINT_MARGIN: usize = 64;

// SAFETY: linker symbols of cortex-m-rt's link.x; only their addresses are taken.
extern "C" {
    /// Initial stack pointer (top of RAM), from cortex-m-rt's `link.x`.
    static _stack_start: u32;
    /// Lowest address the stack may grow to (end of static RAM), from cortex-m-rt's `link.x`.
    static mut _stack_end: u32;
}

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads SP into a register; no memory is touched.
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Address of the initial stack pointer.
pub fn stack_top() -> usize {
    // Older compilers want `unsafe` to take an extern static's address; newer ones do not.
    #[allow(unused_unsafe)]
    // SAFETY: only the address of the linker symbol is taken.
    unsafe {
        addr_of!(_stack_start) as usize
    }
}

fn stack_bottom() -> usize {
    #[allow(unused_unsafe)]
    // SAFETY: only the address of the linker symbol is taken.
    unsafe {
        addr_of_mut!(_stack_end) as usize
    }
}

/// Bytes between the bottom of the stack region and the top of RAM.
pub fn stack_size() -> usize {
    stack_top() - stack_bottom()
}

/// Paint the stack region below the current stack pointer. Inlined into the caller so that
/// the loop itself uses no stack below it.
#[inline(always)]
pub fn paint_stack() {
    let end = stack_pointer().saturating_sub(PAINT_MARGIN);
    let mut word = stack_bottom();
    while word + 4 <= end {
        // SAFETY: [stack_bottom, sp) is RAM that cortex-m-rt reserves for the stack and that
        // no live frame occupies (it is below the stack pointer); nothing runs concurrently.
        unsafe { core::ptr::write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
}

/// Bytes of stack used since reset, at the deepest point reached since the last
/// [`paint_stack`]: from the top of RAM down to the lowest word that lost its paint.
pub fn stack_high_water() -> usize {
    let top = stack_top();
    let mut word = stack_bottom();
    while word < top {
        // SAFETY: the stack region is RAM; reading a word of it has no side effect.
        if unsafe { core::ptr::read_volatile(word as *const u32) } != PAINT {
            break;
        }
        word += 4;
    }
    top - word
}

/// A value in a `static`, lent once as `&'static mut`: what a program lends the library for
/// good (the snapshot, the request buffer, socket buffers) without `static mut`.
///
/// Unlike `cortex_m::singleton!`, the value is built at compile time in the static itself
/// (in `.bss` when it is all zeros), never on the stack and moved: taking it costs a flag
/// and a critical section, no stack and no copy.
pub struct TakeOnce<T> {
    value: UnsafeCell<T>,
    /// Whether [`TakeOnce::take`] has lent the value; only read and written inside a
    /// critical section.
    taken: Cell<bool>,
}

// SAFETY: the value is reached only through the one `&mut` that `take` hands out, and the
// flag that guards it only inside a critical section, so no two contexts (interrupt,
// thread or core) touch either at once. `T: Send` because the taker may run in another
// context than the one that built it.
unsafe impl<T: Send> Sync for TakeOnce<T> {}

impl<T> TakeOnce<T> {
    /// A cell holding `value`, not yet taken. `const`, for a `static` initializer.
    pub const fn new(value: T) -> Self {
        TakeOnce {
            value: UnsafeCell::new(value),
            taken: Cell::new(false),
        }
    }

    /// The value, the first time; `None` ever after.
    pub fn take(&'static self) -> Option<&'static mut T> {
        let first = critical_section::with(|_| !self.taken.replace(true));
        if !first {
            return None;
        }
        // SAFETY: `taken` went from false to true inside the critical section just now, so
        // this is the only call that gets here; no other reference to the value exists or
        // ever will, and the cell is `'static`.
        Some(unsafe { &mut *self.value.get() })
    }
}

/// Write `text` to the host's standard output. A failed write is ignored: the console is
/// for people, the exit status is what scripts check.
pub fn print(text: &str) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(text.as_bytes());
    }
}

/// Write `value` in decimal, without `core::fmt` (which firmware-min must not link).
pub fn print_number(value: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(&digits[at..]);
    }
}

/// Print `name value\n`, the line format scripts/footprint.sh reads.
pub fn report(name: &str, value: usize) {
    print(name);
    print(" ");
    print_number(value);
    print("\n");
}

/// End the program with `status` through semihosting's extended exit, which QEMU turns
/// into its own exit status (the plain exit only tells success from failure).
pub fn exit(status: u32) -> ! {
    /// `ADP_Stopped_ApplicationExit`: a normal end whose subcode is the exit status.
    const APPLICATION_EXIT: usize = 0x2_0026;
    /// `SYS_EXIT_EXTENDED`.
    const EXIT_EXTENDED: usize = 0x20;
    let block = [APPLICATION_EXIT, status as usize];
    // SAFETY: a semihosting call with a pointer to a two-word parameter block.
    unsafe { cortex_m_semihosting::syscall(EXIT_EXTENDED, &block) };
    // Without a debugger or QEMU to catch the call there is nowhere to go.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Print the stack figures of the run so far and exit with `status`.
pub fn finish(status: u32) -> ! {
    report("stack.high_water", stack_high_water());
    report("stack.region", stack_size());
    report("exit", status as usize);
    exit(status)
}

/// Says only that a panic happened: formatting its message would link `core::fmt`.
#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    print("panic\n");
    exit(101)
}
