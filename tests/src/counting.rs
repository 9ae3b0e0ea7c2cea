//! A global allocator that counts allocations, for the zero-allocation test binaries.
//!
//! Each such binary declares it as its `#[global_allocator]` and runs without the test
//! harness (`harness = false`), so no other thread's allocations are counted:
//!
//! ```text
//! #[global_allocator]
//! static GLOBAL: CountingAllocator = CountingAllocator;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting every `alloc` and `realloc`.
pub struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations counted so far (when [`CountingAllocator`] is the global allocator).
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}
