//! Every Rust example of the README stands word for word in `examples/readme.rs`, which
//! `cargo test` builds: an example that stops compiling, or drifts from that file, fails here.

#[test]
fn every_readme_example_compiles_as_written() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/../../README.md")).expect("README.md");
    let example =
        std::fs::read_to_string(format!("{root}/examples/readme.rs")).expect("examples/readme.rs");
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect()
    };
    let example = lines(&example);
    let mut blocks = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body.find("```").expect("a closed code block");
        let block = lines(&body[..end]);
        let found = example
            .windows(block.len())
            .any(|window| window == block.as_slice());
        assert!(
            found,
            "this README example is not in examples/readme.rs word for word:\n{}",
            block.join("\n")
        );
        blocks += 1;
        rest = &body[end..];
    }
    assert!(
        blocks >= 5,
        "found only {blocks} Rust examples in the README"
    );
}
