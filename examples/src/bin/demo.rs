//! The demo: not yet built (issue 8).
fn main() {
    println!("otlp-embedded demo: not yet (the demo arrives with issue 8)");
}
