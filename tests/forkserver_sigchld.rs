//! A program that ignores SIGCHLD (common in daemons) still gets true exit statuses from fork-server
//! children: the server restores the default action, so the kernel does not reap them behind its back.
//! (Its own test binary: ignoring SIGCHLD is process-wide.)

use multiproc::{ErrorKind, ExitStatus, Process, StartMethod, worker};
use std::time::Duration;

#[worker]
fn exits(code: i32) {
    std::process::exit(code);
}

#[worker]
fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[multiproc::test]
fn statuses_survive_an_ignored_sigchld() {
    // SAFETY (test): setting a signal disposition; no handler code.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let forked = || Process::builder().start_method(StartMethod::ForkServer);

    let mut p = forked().spawn(sleeps, (10,)).unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), 10);
    assert_eq!(p.exit_status(), Some(ExitStatus::Code(0)));

    let p = forked().spawn(exits, (6,)).unwrap();
    let pid = p.pid() as i32;
    let err = p.join().unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::WorkerDied {
            pid,
            signal: None,
            code: Some(6)
        }
    );

    let mut p = forked().spawn(sleeps, (60_000,)).unwrap();
    p.kill().unwrap();
    let err = p.join_timeout(Duration::from_secs(20)).unwrap_err();
    assert!(err.to_string().contains("SIGKILL"), "{err}");
}
