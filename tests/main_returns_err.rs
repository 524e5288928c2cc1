//! `main` returning multiproc's `Err` prints `Error: <Kind>: <message>` (our `Debug`), not a struct
//! dump. A test with its own `main` (harness = false): it runs itself again as a program whose `main`
//! fails, and reads that run's stderr.

use std::process::Command;

const FAILING_RUN: &str = "MULTIPROC_TEST_MAIN_FAILS";

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    if std::env::var_os(FAILING_RUN).is_some() {
        multiproc::SharedMemory::attach("multiproc-test-no-such-block")?;
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let out = Command::new(exe).env(FAILING_RUN, "1").output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("Error: NotFound: "), "{stderr}");
    assert!(first.contains("multiproc-test-no-such-block"), "{stderr}");
    assert!(
        !stderr.contains("Error {") && !stderr.contains("kind:"),
        "{stderr}"
    );
    println!("main_returns_err: ok ({first})");
    Ok(())
}
