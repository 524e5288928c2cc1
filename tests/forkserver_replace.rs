//! A fork server killed from outside: the next fork-server spawn starts a new one without an error, and
//! children of the dead server still run and return their values. (Its own test binary: the server is process-wide, so
//! killing it would disturb other tests running beside it.)

mod common;

use common::{is_dead, wait_until};
use multiproc::{Process, StartMethod, worker};
use std::time::Duration;

#[worker]
fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

#[worker]
fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// The tests here kill the one fork server of the process: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forked() -> multiproc::ProcessBuilder {
    Process::builder().start_method(StartMethod::ForkServer)
}

#[multiproc::test]
fn a_killed_server_is_replaced_and_its_children_still_report() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let old_child = forked().spawn(sleeps, (300,)).unwrap();
    let server = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
    // SAFETY (test): signalling the fork server this test started.
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    assert!(wait_until(Duration::from_secs(20), || is_dead(server)));
    // The next fork-server spawn notices and starts a new server, transparently (Python's
    // forkserver restarts the same way): no error reaches the caller.
    let next = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
    assert_ne!(next, server);
    // And the new server keeps serving.
    assert_eq!(
        forked().spawn(parent_pid, ()).unwrap().join().unwrap(),
        next
    );
    // A child of the dead server still runs and returns its value; only its exit status is unknown.
    assert_eq!(old_child.join().unwrap(), 300);
}

/// A fork server killed by each of `signals` in turn is replaced on the next spawn, each time (the
/// restart is not a one-off).
fn replaced_after_each(signals: &[i32]) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for &sig in signals {
        let server = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
        // SAFETY (test): signalling the fork server this test started.
        unsafe { libc::kill(server as i32, sig) };
        assert!(
            wait_until(Duration::from_secs(20), || is_dead(server)),
            "{sig}"
        );
        let next = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
        assert_ne!(next, server, "{sig}");
    }
}

/// `_TestProcess.test_forkserver_sigkill`: a server killed by SIGKILL is replaced, twice over.
#[multiproc::test]
fn process_test_forkserver_sigkill() {
    replaced_after_each(&[libc::SIGKILL, libc::SIGKILL]);
}

/// `_TestProcess.test_forkserver_sigint`: a server ended by SIGINT is replaced too.
#[multiproc::test]
fn process_test_forkserver_sigint() {
    replaced_after_each(&[libc::SIGINT, libc::SIGKILL]);
}
