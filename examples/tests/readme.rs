//! The README shows the quick starts as they are: the block after each
//! `<!-- examples/examples/NAME.rs -->` marker is that file, line for line, so what a reader
//! copies is what `quickstart_std.rs` and `quickstart_firmware.rs` in this folder (and
//! `examples/embassy-board/src/lib.rs`, the embassy task) run. The
//! Linux quick start also stays within its promise: 20 lines, at most 8 imported names.

use std::path::Path;

/// The workspace root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the examples package sits in the workspace")
}

/// The fenced block that follows the marker naming `file` in the README.
fn readme_block(file: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let marker = format!("<!-- {file} -->");
    let mut lines = readme.lines().skip_while(|line| *line != marker);
    assert_eq!(
        lines.next(),
        Some(marker.as_str()),
        "no {marker} in the README"
    );
    assert_eq!(
        lines.next(),
        Some("```rust"),
        "{marker} is not followed by a rust block"
    );
    let mut block = String::new();
    for line in lines.by_ref() {
        if line == "```" {
            return block;
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("the block after {marker} is not closed");
}

/// `file` in the README and on disk, which must be the same text.
fn shown_as_it_is(file: &str) -> String {
    let on_disk = std::fs::read_to_string(root().join(file)).expect(file);
    let shown = readme_block(file);
    assert_eq!(shown, on_disk, "the README's {file} differs from the file");
    on_disk
}

/// Names the `use` lines bring in: one per path, one per item in braces.
fn imported_names(source: &str) -> usize {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("use "))
        .map(|path| {
            let path = path.split(';').next().unwrap_or("");
            match path.split_once('{') {
                Some((_, items)) => items
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|item| !item.trim().is_empty())
                    .count(),
                None => 1,
            }
        })
        .sum()
}

#[test]
fn the_linux_quick_start_is_shown_as_it_is_in_20_lines_and_8_names() {
    let source = shown_as_it_is("examples/examples/quickstart_std.rs");
    let (lines, names) = (source.lines().count(), imported_names(&source));
    println!("Linux quick start: {lines} lines, {names} imported names");
    assert!(lines <= 20, "{lines} lines");
    assert!(names <= 8, "{names} imported names");
}

#[test]
fn the_firmware_quick_start_is_shown_as_it_is() {
    let source = shown_as_it_is("examples/examples/quickstart_firmware.rs");
    let (lines, names) = (source.lines().count(), imported_names(&source));
    println!("firmware quick start: {lines} lines, {names} imported names");
    // The README states these figures; they change with the file.
    assert_eq!((lines, names), (59, 19));
}

#[test]
fn the_metrics_crate_example_is_shown_as_it_is_in_20_lines() {
    let source = shown_as_it_is("examples/examples/metrics_rs.rs");
    let lines = source.lines().count();
    println!("metrics crate example: {lines} lines");
    assert!(lines <= 20, "{lines} lines");
}

#[test]
fn the_embassy_quick_start_is_shown_as_it_is() {
    let source = shown_as_it_is("examples/embassy-board/src/lib.rs");
    println!("embassy quick start: {} lines", source.lines().count());
    assert!(source.contains("#![no_std]"));
}

#[test]
fn names_are_counted_per_item() {
    let source = "use a::B;\nuse c::{D, E};\nuse f::{self, G}; // comment\nfn main() {}\n";
    assert_eq!(imported_names(source), 5);
}
