//! What one boot runs, read from the host's command line so that one image serves every
//! boot: `temporality=delta|cumulative` and `exports=N`, separated by spaces, in any
//! order; each may be left out (delta, [`DEFAULT_EXPORTS`]). QEMU hands the line over
//! through semihosting (`-append "temporality=cumulative exports=20"`), with the image's
//! name in front, which is skipped: a first word without `=` is the program's name.
//!
//! A real board has no host to ask: it fixes these at build time, or keeps them in its
//! configuration storage.

use otlp_embedded::proto::Temporality;

/// Exports when the command line names no count.
pub const DEFAULT_EXPORTS: u32 = 20;
/// The most exports one boot may ask for.
pub const MAX_EXPORTS: u32 = 1_000;

/// What this boot runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The temporality every instrument is declared with.
    pub temporality: Temporality,
    /// Exports before the program stops.
    pub exports: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            temporality: Temporality::Delta,
            exports: DEFAULT_EXPORTS,
        }
    }
}

/// A command line the program does not accept: which word, and why.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OptionError<'a> {
    /// A word that is not `key=value` (only the first word, the program's name, may be).
    NotKeyValue(&'a str),
    /// A key this program does not know.
    UnknownKey(&'a str),
    /// `temporality=` with something other than `delta` or `cumulative`.
    Temporality(&'a str),
    /// `exports=` with something other than a whole number from 1 to [`MAX_EXPORTS`].
    Exports(&'a str),
}

impl core::fmt::Display for OptionError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OptionError::NotKeyValue(w) => write!(f, "{w:?} is not key=value"),
            OptionError::UnknownKey(w) => {
                write!(f, "unknown key in {w:?} (known: temporality, exports)")
            }
            OptionError::Temporality(w) => {
                write!(f, "{w:?}: temporality is delta or cumulative")
            }
            OptionError::Exports(w) => {
                write!(
                    f,
                    "{w:?}: exports is a whole number from 1 to {MAX_EXPORTS}"
                )
            }
        }
    }
}

impl RunOptions {
    /// Read `line`; words not given keep their defaults.
    pub fn parse(line: &str) -> Result<RunOptions, OptionError<'_>> {
        let mut options = RunOptions::default();
        for (index, word) in line.split_ascii_whitespace().enumerate() {
            let Some((key, value)) = word.split_once('=') else {
                if index == 0 {
                    continue;
                }
                return Err(OptionError::NotKeyValue(word));
            };
            match key {
                "temporality" => {
                    options.temporality = match value {
                        "delta" => Temporality::Delta,
                        "cumulative" => Temporality::Cumulative,
                        _ => return Err(OptionError::Temporality(word)),
                    }
                }
                "exports" => {
                    options.exports = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_EXPORTS).contains(n))
                        .ok_or(OptionError::Exports(word))?
                }
                _ => return Err(OptionError::UnknownKey(word)),
            }
        }
        Ok(options)
    }

    /// The temporality's name, as the command line spells it.
    pub fn temporality_name(&self) -> &'static str {
        match self.temporality {
            Temporality::Delta => "delta",
            Temporality::Cumulative => "cumulative",
        }
    }
}
