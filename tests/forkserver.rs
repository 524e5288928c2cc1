//! The fork-server start method (Python's `forkserver`): the same guarantees as a spawned child —
//! results, panics, signals and exit codes reported, children dying with their parent — with children
//! forked from a server instead of re-executed.

mod common;

use common::{is_dead, wait_until};
use multiproc::{ErrorKind, Pipe, Process, StartMethod, worker};
use std::time::Duration;

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[worker]
fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

#[worker]
fn panics() -> u32 {
    panic!("forked and failed");
}

#[worker]
fn exits(code: i32) {
    std::process::exit(code);
}

#[worker]
fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[worker]
fn echo(conn: multiproc::Connection<String>) {
    while let Ok(m) = conn.recv() {
        conn.send(&m.to_uppercase()).unwrap();
    }
}

fn forked() -> multiproc::ProcessBuilder {
    Process::builder().start_method(StartMethod::ForkServer)
}

#[multiproc::test]
fn results_come_back_and_children_are_forked_not_spawned() {
    let p = forked().spawn(square, (9,)).unwrap();
    assert_eq!(p.join().unwrap(), 81);
    // The child's parent is the fork server, not this process.
    let server = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
    assert_ne!(server, std::process::id());
    let again = forked().spawn(parent_pid, ()).unwrap().join().unwrap();
    assert_eq!(server, again, "one server forks every child");
    let many: Vec<_> = (0..20u64)
        .map(|i| forked().spawn(square, (i,)).unwrap())
        .collect();
    let got: Vec<u64> = many.into_iter().map(|p| p.join().unwrap()).collect();
    assert_eq!(got, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
}

#[multiproc::test]
fn panics_signals_and_exit_codes_are_reported() {
    let err = forked().spawn(panics, ()).unwrap().join().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WorkerPanicked { message, .. } if message == "forked and failed")
    );

    let p = forked().spawn(exits, (4,)).unwrap();
    let pid = p.pid() as i32;
    let err = p.join().unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::WorkerDied {
            pid,
            signal: None,
            code: Some(4)
        }
    );

    let mut p = forked().spawn(sleeps, (60_000,)).unwrap();
    assert!(p.is_alive());
    p.kill().unwrap();
    let err = p.join_timeout(Duration::from_secs(20)).unwrap_err();
    assert!(err.to_string().contains("SIGKILL"), "{err}");
}

#[multiproc::test]
fn status_and_liveness_without_join() {
    let mut p = forked().spawn(sleeps, (30,)).unwrap();
    assert!(wait_until(Duration::from_secs(20), || !p.is_alive()));
    assert_eq!(p.exit_status(), Some(multiproc::ExitStatus::Code(0)));
    assert_eq!(p.join_timeout(Duration::from_secs(5)).unwrap(), 30);
}

#[multiproc::test]
fn handles_travel_and_drop_kills() {
    let (a, b) = Pipe::<String>::new().unwrap();
    let p = forked().spawn(echo, (b,)).unwrap();
    a.send("forked").unwrap();
    assert_eq!(a.recv_timeout(Duration::from_secs(20)).unwrap(), "FORKED");
    let pid = p.pid();
    drop(p);
    assert!(
        wait_until(Duration::from_secs(20), || is_dead(pid)),
        "dropped child {pid} still runs"
    );
    assert!(
        a.recv_timeout(Duration::from_secs(20))
            .unwrap_err()
            .is_disconnected()
    );
}

#[multiproc::test]
fn the_default_method_can_be_set() {
    assert_eq!(multiproc::get_start_method(), StartMethod::ForkServer);
    let p = Process::builder()
        .start_method(StartMethod::Spawn)
        .spawn(parent_pid, ())
        .unwrap();
    assert_eq!(p.join().unwrap(), std::process::id());
}
