//! PLACEHOLDER (issue 7 fills this in): smoltcp transport.
#![no_std]
#![forbid(unsafe_code)]
