//! Runtime support for `handshake.rs`, and with `gauge.rs` the only `unsafe` in the image:
//! [`TakeOnce`] lends a `static` once as `&'static mut` (the TLS record buffers, without
//! `static mut`), and [`opaque`] reads a value the optimizer cannot see through (so that
//! the handshake behind an always-false condition stays in the image).

use core::cell::{Cell, UnsafeCell};

/// A value in a `static`, lent once as `&'static mut`.
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

/// `*value`, read so that the optimizer cannot know what it is (a volatile read).
pub fn opaque<T: Copy>(value: &T) -> T {
    // SAFETY: a reference is valid and aligned for reading a `T`, and `T: Copy`.
    unsafe { core::ptr::read_volatile(value) }
}
