//! `multiproc::log_to_stderr(level)`: multiproc's own records, and only those, on stderr as
//! `[LEVEL/pid] target: message`, in the parent and in the children it starts. The check runs this
//! binary filtered to the logging test and reads its stderr.

use multiproc::{ErrorKind, LevelFilter, worker};
use std::process::Command;

#[worker]
fn seven() -> u32 {
    7
}

#[multiproc::test]
fn logs_spawns_at_debug() {
    // Only when run by the test below: a logger would change what the rest of this binary prints.
    if std::env::var_os("MULTIPROC_TEST_LOGGING").is_none() {
        return;
    }
    // Fork-server children take their logging from the server's start: this checks spawn's lines.
    multiproc::set_start_method(multiproc::StartMethod::Spawn);
    multiproc::log_to_stderr(LevelFilter::Info).unwrap();
    multiproc::log_to_stderr(LevelFilter::Debug).unwrap(); // a second call changes the level
    assert_eq!(seven::spawn().unwrap().join().unwrap(), 7);
    eprintln!("parent pid {}", std::process::id());
}

#[test]
fn records_reach_stderr_from_parent_and_child() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["logs_spawns_at_debug", "--exact", "--nocapture"])
        .env("MULTIPROC_TEST_LOGGING", "1")
        .env_remove("MULTIPROC_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let parent = stderr
        .lines()
        .find_map(|l| l.strip_prefix("parent pid "))
        .expect("the test ran");
    let started = format!("[DEBUG/{parent}] multiproc::spawn: started child pid ");
    let child_pid = stderr
        .lines()
        .find_map(|l| l.strip_prefix(started.as_str()))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no spawn record from the parent:\n{stderr}"));
    let serving = format!("[DEBUG/{child_pid}] multiproc::boot: child pid {child_pid} serving");
    assert!(
        stderr.contains(&serving),
        "no record from the child:\n{stderr}"
    );
    let exiting = format!("[DEBUG/{child_pid}] multiproc::serve: child exiting with code 0");
    assert!(stderr.contains(&exiting), "{stderr}");
}

#[test]
fn a_second_logger_is_refused_with_a_clear_error() {
    struct Other;
    impl log::Log for Other {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            false
        }
        fn log(&self, _: &log::Record<'_>) {}
        fn flush(&self) {}
    }
    static OTHER: Other = Other;
    // Run in a child test binary of its own so this process keeps no logger.
    if std::env::var_os("MULTIPROC_TEST_OTHER_LOGGER").is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["a_second_logger_is_refused_with_a_clear_error", "--exact"])
            .env("MULTIPROC_TEST_OTHER_LOGGER", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        return;
    }
    log::set_logger(&OTHER).unwrap();
    let err = multiproc::log_to_stderr(LevelFilter::Debug).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.to_string().contains("another logger"), "{err}");
}
