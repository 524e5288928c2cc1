//! A binary whose entry point does not reach multiproc's bootstrap (here: a plain `#[test]` instead of
//! `#[multiproc::test]`, just like a `main` without `#[multiproc::main]`). Its child would run that code
//! again instead of the worker, so the spawn is refused in the parent with an error telling the user
//! what to annotate — and no child is started at all. (This binary has no `#[multiproc::test]`: see
//! `plain_test.rs` for a plain test next to one.)

use multiproc::{ErrorKind, worker};

#[worker]
fn unreachable_worker() -> u32 {
    1
}

#[test]
fn spawning_from_an_unannotated_entry_point_is_an_error_not_a_fork_bomb() {
    let before = multiproc::open_fd_count();
    let err = unreachable_worker::spawn().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotBootstrapped, "{err:?}");
    let msg = err.to_string();
    for needle in [
        "#[multiproc::main]",
        "#[multiproc::test]",
        "multiproc::init()",
    ] {
        assert!(msg.contains(needle), "{needle} missing from: {msg}");
    }
    // Refused before anything was opened for a child.
    assert_eq!(multiproc::open_fd_count(), before);
}
