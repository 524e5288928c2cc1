//! Macro misuse gets a compile error with a span: one mistake per file under tests/ui/, with the exact
//! message in the matching .stderr (regenerate with `TRYBUILD=overwrite cargo test --test ui`, then read
//! the diff). tests/ui-pass/ holds what must compile.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
