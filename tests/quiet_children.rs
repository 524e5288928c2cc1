//! Children re-run the test binary filtered to one test; libtest's own lines ("running 1 test",
//! "test result") from those re-runs must not reach the terminal, at any depth, while what a worker
//! prints does. The check runs this binary as `cargo test` would and reads its stdout.

use multiproc::worker;
use std::process::Command;

#[worker]
fn leaf() -> u32 {
    println!("the leaf worker prints");
    2
}

#[worker]
fn middle() -> u32 {
    println!("the middle worker prints");
    leaf::spawn().unwrap().join().unwrap() + 1
}

#[multiproc::test]
fn nested_spawn() {
    assert_eq!(middle::spawn().unwrap().join().unwrap(), 3);
}

#[test]
fn only_the_parents_libtest_lines_reach_stdout() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["nested_spawn", "--exact", "--nocapture", "--test-threads=1"])
        .env_remove("MULTIPROC_BOOTSTRAP")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |needle: &str| stdout.lines().filter(|l| l.starts_with(needle)).count();
    assert_eq!(count("running "), 1, "one header, the parent's:\n{stdout}");
    assert_eq!(
        count("test result:"),
        1,
        "one summary, the parent's:\n{stdout}"
    );
    assert_eq!(count("test nested_spawn"), 1, "{stdout}");
    assert!(stdout.contains("the middle worker prints"), "{stdout}");
    assert!(stdout.contains("the leaf worker prints"), "{stdout}");
}
