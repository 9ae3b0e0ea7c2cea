//! What the otlp-embedded examples share: [`board`], the simulated board that the firmware
//! quick start (`examples/quickstart_firmware.rs`) runs on when it runs on the host.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod board;
