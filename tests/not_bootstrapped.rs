//! A binary whose entry point does not reach multiproc's bootstrap (here: a plain `#[test]` instead of
//! `#[multiproc::test]`, just like a `main` without `#[multiproc::main]`). The child re-runs that code,
//! reaches a spawn call, and must stop there — no recursive spawning — while the parent gets an error
//! telling the user what to annotate.

use multiproc::{ErrorKind, worker};
use std::time::Duration;

#[worker]
fn unreachable_worker() -> u32 {
    1
}

#[test]
fn spawning_from_an_unannotated_entry_point_is_an_error_not_a_fork_bomb() {
    let mut p = unreachable_worker::spawn().expect("the parent can start the child");
    let err = p.join_timeout(Duration::from_secs(60)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotBootstrapped, "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("#[multiproc::main]") && msg.contains("multiproc::init()"),
        "{msg}"
    );
}
