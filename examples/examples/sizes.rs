//! RAM of the static configuration: `core::mem::size_of` of the registry, snapshot, HTTP
//! client and exporter for the configurations the firmware, the demo and the defaults use,
//! printed as a Markdown table (scripts/footprint.sh includes it).
//!
//! Sizes are measured on the host running this (its pointer width is printed). The 32-bit
//! column is an estimate: every pointer, slice half and `usize` in the type shrinks from 8
//! to 4 bytes, `u64`/`f64` fields and byte arrays stay; the pointer-sized words per type are
//! counted from its definition (listed below) and alignment padding is ignored.
//!
//! `cargo run -p otlp-embedded-examples --example sizes`
use core::mem::size_of;

use otlp_embedded::export::Exporter;
use otlp_embedded::http::{HttpClient, DEFAULT_HEAD_BUFFER};
use otlp_embedded::registry::{CsRegistry, Registry, Snapshot};
use otlp_embedded::transport::{Exchange, ExchangeError, HttpRequest, HttpResponse};

/// A zero-sized exchange, so that the exporter's own size shows.
struct NoExchange;

impl Exchange for NoExchange {
    fn exchange(
        &mut self,
        _: &HttpRequest<'_>,
        _: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        Err(ExchangeError::InvalidPath)
    }
}

// Pointer-sized words per type, counted from the definitions in core:
// - `InstrumentDesc` (one per instrument slot): name, description, unit (3 `&str`),
//   attribute keys and bounds (2 slices), callback (1 fn pointer) = 11 words;
// - the registry's and the snapshot's four `usize` counters = 4 words;
// - a snapshot metric: name, description, unit, keys, bounds = 10 words;
// - `ExporterConfig`: endpoint host and path (4), headers (2), resource attributes and
//   schema URL (4), scope name, version, attributes, schema URL (8) = 18 words, plus the
//   server message length (1) = 19 words;
// - `HttpClient`'s `ReaderConfig`: 2 `usize` = 2 words (connector and clock are yours).
const fn registry_words(i: usize) -> usize {
    4 + 11 * i
}
const fn snapshot_words(i: usize) -> usize {
    4 + 10 * i
}
const EXPORTER_WORDS: usize = 19;
const CLIENT_WORDS: usize = 2;

fn row(name: &str, config: &str, host: usize, words: usize) {
    let ptr = size_of::<usize>();
    let est32 = host - words * (ptr - 4);
    println!("| `{name}` | {config} | {host} | {est32} |");
}

fn main() {
    let bits = usize::BITS;
    println!(
        "| type | configuration | bytes ({bits}-bit host, measured) | bytes (32-bit, estimated) |"
    );
    println!("|---|---|---:|---:|");
    // The firmware binary (examples/firmware/src/registry_round.rs).
    row(
        "CsRegistry<4, 32, 34, 8, 160>",
        "firmware (static, shared with interrupts)",
        size_of::<CsRegistry<4, 32, 34, 8, 160>>(),
        registry_words(4) + 1,
    );
    row(
        "Registry<4, 32, 34, 8, 160>",
        "firmware",
        size_of::<Registry<4, 32, 34, 8, 160>>(),
        registry_words(4),
    );
    row(
        "Snapshot<4, 32, 34, 8, 160>",
        "firmware",
        size_of::<Snapshot<4, 32, 34, 8, 160>>(),
        snapshot_words(4),
    );
    // The demo (examples/src/bin/demo.rs).
    row(
        "Registry<5, 16, 8, 4, 160>",
        "demo",
        size_of::<Registry<5, 16, 8, 4, 160>>(),
        registry_words(5),
    );
    row(
        "Snapshot<5, 16, 8, 4, 160>",
        "demo",
        size_of::<Snapshot<5, 16, 8, 4, 160>>(),
        snapshot_words(5),
    );
    // The defaults.
    row(
        "Registry",
        "defaults <8, 128, 34, 16, 512>",
        size_of::<Registry>(),
        registry_words(8),
    );
    row(
        "Snapshot",
        "defaults <8, 128, 34, 16, 512>",
        size_of::<Snapshot>(),
        snapshot_words(8),
    );
    row(
        "HttpClient<C, K, 1024>",
        "without connector C and clock K",
        size_of::<HttpClient<(), (), DEFAULT_HEAD_BUFFER>>(),
        CLIENT_WORDS,
    );
    row(
        "HttpClient<C, K, 512>",
        "without connector C and clock K",
        size_of::<HttpClient<(), (), 512>>(),
        CLIENT_WORDS,
    );
    row(
        "Exporter<X>",
        "without exchange X",
        size_of::<Exporter<'static, NoExchange>>(),
        EXPORTER_WORDS,
    );
    // Per-unit costs, by difference, for sizing your own configuration.
    let per = |a: usize, b: usize, n: usize| (a - b) / n;
    println!();
    println!("| each additional | bytes ({bits}-bit host) | bytes (32-bit, estimated) |");
    println!("|---|---:|---:|");
    let inst = per(
        size_of::<Registry<5, 32, 34, 8, 160>>(),
        size_of::<Registry<4, 32, 34, 8, 160>>(),
        1,
    );
    println!(
        "| instrument `I` (registry) | {inst} | {} |",
        inst - 11 * (size_of::<usize>() - 4)
    );
    let series = per(
        size_of::<Registry<4, 40, 34, 8, 160>>(),
        size_of::<Registry<4, 32, 34, 8, 160>>(),
        8,
    );
    println!("| series `N` with `K` = 34 (registry) | {series} | {series} |");
    let point = per(
        size_of::<Snapshot<4, 40, 34, 8, 160>>(),
        size_of::<Snapshot<4, 32, 34, 8, 160>>(),
        8,
    );
    println!("| series `N` with `K` = 34 (snapshot) | {point} | {point} |");
    // An instrument that declares no keys stores keys and values in the same `K` bytes,
    // so it wants a larger `K`: three attributes such as method=GET, route=/api/v1/items,
    // status=200 take 47 bytes.
    let open = per(
        size_of::<Registry<4, 40, 64, 8, 160>>(),
        size_of::<Registry<4, 32, 64, 8, 160>>(),
        8,
    );
    println!("| series `N` with `K` = 64, undeclared keys (registry) | {open} | {open} |");
    let open_point = per(
        size_of::<Snapshot<4, 40, 64, 8, 160>>(),
        size_of::<Snapshot<4, 32, 64, 8, 160>>(),
        8,
    );
    println!(
        "| series `N` with `K` = 64, undeclared keys (snapshot) | {open_point} | {open_point} |"
    );
    let hist = per(
        size_of::<Registry<4, 32, 34, 16, 160>>(),
        size_of::<Registry<4, 32, 34, 8, 160>>(),
        8,
    );
    println!("| histogram series `H` (registry; snapshot the same) | {hist} | {hist} |");
    println!("| bucket counter `B` (registry; snapshot the same) | 8 | 8 |");
}
