//! A fork server killed from outside: the next fork-server spawn starts a new one, and children of the
//! dead server still run and return their values. (Its own test binary: the server is process-wide, so
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

fn forked() -> multiproc::ProcessBuilder {
    Process::builder().start_method(StartMethod::ForkServer)
}

#[multiproc::test]
fn a_killed_server_is_replaced_and_its_children_still_report() {
    let old_child = forked().spawn(sleeps, (300,)).unwrap();
    let server = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
    // SAFETY (test): signalling the fork server this test started.
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    assert!(wait_until(Duration::from_secs(20), || is_dead(server)));
    // The next fork-server spawn notices and starts a new server.
    let next = loop {
        match forked().spawn(parent_pid, ()) {
            Ok(p) => break p.join().unwrap(),
            Err(e) => assert!(e.is_disconnected(), "{e:?}"),
        }
    };
    assert_ne!(next, server);
    // A child of the dead server still runs and returns its value; only its exit status is unknown.
    assert_eq!(old_child.join().unwrap(), 300);
}
