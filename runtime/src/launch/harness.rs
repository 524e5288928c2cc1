//! Children of a test binary: `#[multiproc::test]` notes the running test's name, and a spawned child
//! re-runs the binary filtered to exactly that test, so that it reaches the bootstrap through the same
//! `#[multiproc::test]` wrapper without running any other test.

use std::ffi::OsString;
use std::sync::Mutex;

static TEST_NAME: Mutex<Option<String>> = Mutex::new(None);

/// The `#[multiproc::test]` wrapper: in a child, run the task; else remember a test name the children
/// can be filtered to, and run the body.
pub(crate) fn test_entry(path: &str) {
    super::run_child_if_spawned();
    let name = path.split_once("::").map_or(path, |(_crate, rest)| rest);
    *crate::poison::lock(&TEST_NAME) = Some(name.to_string());
}

/// The test the current binary's children re-run to reach the bootstrap, if this is a test binary.
pub(super) fn test_name() -> Option<String> {
    crate::poison::lock(&TEST_NAME).clone()
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
