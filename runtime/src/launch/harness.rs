//! Children of a test binary: `#[multiproc::test]` notes the running test's name, and a spawned child
//! re-runs the binary filtered to exactly that test, so that it reaches the bootstrap through the same
//! `#[multiproc::test]` wrapper without running any other test.
//!
//! The name is kept per thread: libtest runs each test on a thread of its own, named after the test,
//! so a plain `#[test]` (whose thread never passed the wrapper) is told apart from a
//! `#[multiproc::test]` no matter which ran first. Threads without the mark (the runtime's own, named
//! `multiproc-*`, and unnamed threads a test starts) re-run any `#[multiproc::test]` that has started:
//! every one of them reaches the bootstrap first.

use crate::error::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::ffi::OsString;
use std::sync::Mutex;

/// A `#[multiproc::test]` that has started in this process, for threads that are not a test's own.
static ANY_TEST: Mutex<Option<String>> = Mutex::new(None);

thread_local! {
    /// The `#[multiproc::test]` running on this thread.
    static THIS_TEST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The `#[multiproc::test]` wrapper: in a child, run the task; else remember a test name the children
/// can be filtered to, and run the body.
pub(crate) fn test_entry(path: &str) {
    super::run_child_if_spawned();
    let name = path.split_once("::").map_or(path, |(_crate, rest)| rest);
    THIS_TEST.with_borrow_mut(|t| *t = Some(name.to_string()));
    *crate::poison::lock(&ANY_TEST) = Some(name.to_string());
}

/// The test the current thread's children re-run to reach the bootstrap: `None` outside a test
/// binary; an error when the spawning thread is a plain `#[test]`, whose child could not reach it.
pub(super) fn test_name() -> Result<Option<String>> {
    if let Some(name) = THIS_TEST.with_borrow(Clone::clone) {
        return Ok(Some(name));
    }
    let Some(any) = crate::poison::lock(&ANY_TEST).clone() else {
        return Ok(None);
    };
    match std::thread::current().name() {
        Some(thread) if thread != "main" && !thread.starts_with("multiproc-") => {
            Err(plain_test_error(thread))
        }
        _ => Ok(Some(any)),
    }
}

/// The error of a spawn from a libtest thread that is not a `#[multiproc::test]`.
fn plain_test_error(thread: &str) -> Error {
    Error::new(
        ErrorKind::NotBootstrapped,
        format!(
            "a process was started from test `{thread}`, a plain #[test]: a test that starts processes must \
             be annotated #[multiproc::test] instead, so that its child re-runs it through multiproc's \
             bootstrap (inside a #[multiproc::test], spawn from the test's thread or from unnamed threads)"
        ),
    )
}

/// The command line of a re-executed child: the test harness's filter to `test`, or (outside a test
/// binary) this process's own arguments.
pub(super) fn child_argv(test: Option<&str>) -> Vec<OsString> {
    let Some(name) = test else {
        return std::env::args_os().collect();
    };
    let exe = std::env::args_os()
        .next()
        .unwrap_or_else(|| "multiproc-child".into());
    [
        exe.as_os_str(),
        name.as_ref(),
        "--exact".as_ref(),
        "--nocapture".as_ref(),
        "--include-ignored".as_ref(),
    ]
    .iter()
    .map(|s| s.to_os_string())
    .collect()
}
