//! Runtime support: what a board's runtime crate and C library would give this binary, and
//! the one place its `unsafe` lives (the crate denies `unsafe_code` everywhere else).
//!
//! - the entry point (`_start`), the process exit and the panic handler;
//! - `memcpy` and friends, which LLVM calls for slice copies and fills;
//! - the single-core critical section;
//! - [`TakeOnce`], which lends a `static` once as `&'static mut`, so that the program
//!   modules hold their buffers without `static mut`;
//! - [`opaque`], a read the optimizer cannot see through, so that code behind an
//!   always-false condition stays in the link.

use core::cell::{Cell, UnsafeCell};

/// Ends the process with `code`. The binary links no C library (`-nodefaultlibs`), so this
/// is the raw Linux `exit_group` system call; on a board it would be a reset or a loop.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group (231 on x86_64 Linux) takes one integer and never returns; it
    // touches no memory of this process.
    unsafe {
        core::arch::asm!("syscall", in("rax") 231, in("rdi") code, options(noreturn, nostack));
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    exit(101)
}

/// Entry point: linked with `-nostartfiles`, so no C runtime sets up the stack. The kernel
/// enters with the stack 16-byte aligned; a call pushes 8 bytes, which is what the callee
/// expects.
// SAFETY: the symbol `_start` is defined nowhere else (no C runtime is linked); the body
// only aligns the stack and calls `enter`, which never returns (`ud2` traps if it did).
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "and rsp, -16", "call {enter}", "ud2", enter = sym enter);
}

/// Runs the program and ends the process with its status.
extern "C" fn enter() -> ! {
    exit(crate::program())
}

// The memory functions LLVM calls for slice copies and fills. A firmware target gets them
// from `compiler_builtins`; the host target this binary runs on expects the C library,
// which `-nodefaultlibs` leaves out, so they are defined here (plain byte loops).

/// C `memcpy`.
///
/// # Safety
/// `dest` and `src` valid for `n` bytes and not overlapping.
// SAFETY (no_mangle): no C library is linked, so nothing else defines `memcpy`.
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
// SAFETY (no_mangle): no C library is linked, so nothing else defines `memmove`.
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
// SAFETY (no_mangle): no C library is linked, so nothing else defines `memset`.
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
// SAFETY (no_mangle): no C library is linked, so nothing else defines `memcmp`.
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
// SAFETY (no_mangle): no C library is linked, so nothing else defines `bcmp`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// Single-core critical section: this host binary has one thread and no interrupts, so
/// there is nothing to mask. On a Cortex-M board this would be `cortex-m`'s
/// `critical-section-single-core` implementation (interrupts disabled, PRIMASK restored).
struct SingleCore;
// SAFETY (the macro's `no_mangle` functions): the critical-section crate's link symbols,
// defined once in the program; no other implementation is linked (no `std` feature).
critical_section::set_impl!(SingleCore);

// SAFETY: one thread, no interrupt handlers: no other context can enter while "held".
unsafe impl critical_section::Impl for SingleCore {
    unsafe fn acquire() -> critical_section::RawRestoreState {}
    unsafe fn release(_restore: critical_section::RawRestoreState) {}
}

/// A value in a `static`, lent once as `&'static mut`: what the program lends the library
/// for good (snapshots, request buffers, socket buffers, TLS records) without `static mut`.
///
/// The value is built at compile time in the static itself (in `.bss` when it is all
/// zeros), never on the stack and moved: taking it costs a flag and a critical section.
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

/// `*value`, read so that the optimizer cannot know what it is (a volatile read). For an
/// always-false `static` that guards code which must stay in the image.
pub fn opaque<T: Copy>(value: &T) -> T {
    // SAFETY: a reference is valid and aligned for reading a `T`, and `T: Copy`.
    unsafe { core::ptr::read_volatile(value) }
}
