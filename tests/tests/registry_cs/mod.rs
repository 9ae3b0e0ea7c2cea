//! A `critical-section` implementation for the host test binaries that use `CsRegistry`.
//!
//! The tests package cannot switch on `critical-section/std`: `cargo test --workspace`
//! unifies features, and that would link `std` into the `no_std` firmware binary. So each
//! test binary that takes critical sections includes this module (`mod registry_cs;`): a
//! global spin lock, re-entrant per thread through a thread-local depth (the restore state
//! is `()`, so nesting is tracked here).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static LOCKED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

struct HostCs;
critical_section::set_impl!(HostCs);

// SAFETY: a global lock held from the outermost acquire to the matching release of the
// same thread; nested sections on the holding thread only count depth.
unsafe impl critical_section::Impl for HostCs {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        let depth = DEPTH.with(|d| d.get());
        if depth == 0 {
            while LOCKED
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                std::hint::spin_loop();
            }
        }
        DEPTH.with(|d| d.set(depth + 1));
    }

    unsafe fn release(_restore: critical_section::RawRestoreState) {
        let depth = DEPTH.with(|d| d.get()).saturating_sub(1);
        DEPTH.with(|d| d.set(depth));
        if depth == 0 {
            LOCKED.store(false, Ordering::Release);
        }
    }
}
