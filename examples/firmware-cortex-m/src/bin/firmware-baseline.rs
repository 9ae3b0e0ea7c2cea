//! firmware-min's frame with nothing in it: the same entry, panic handler and console, and
//! the same stack gauge, recording and exporting nothing. Its `.text + .rodata` is what
//! gets subtracted from firmware-min's to give the library's cost.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use cortex_m_rt::entry;
use otlp_embedded_firmware_cortex_m as board;

#[entry]
fn main() -> ! {
    board::paint_stack();
    board::report(
        "stack.main_entry",
        board::stack_top() - board::stack_pointer(),
    );
    board::finish(0)
}
