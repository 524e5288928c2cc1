//! A plain `#[test]` that starts a process, in a binary that also has a `#[multiproc::test]`: the plain
//! one is refused every time, whichever ran first (the name of a `#[multiproc::test]` that has run must
//! not leak into it), with an error that names `#[multiproc::test]`.

use multiproc::{ErrorKind, worker};

#[worker]
fn one() -> u32 {
    1
}

#[multiproc::test]
fn a_multiproc_test_spawns() {
    assert_eq!(one::spawn().unwrap().join().unwrap(), 1);
    // Threads the test starts without naming them spawn too.
    let from_thread = std::thread::spawn(|| one::spawn().unwrap().join().unwrap());
    assert_eq!(from_thread.join().unwrap(), 1);
}

#[test]
fn b_plain_test_that_spawns_is_refused_even_after_a_multiproc_test() {
    // Whatever order libtest picks, make sure a `#[multiproc::test]` has started before the spawn below:
    // this thread runs the wrapper's entry just as `a_multiproc_test_spawns`'s thread does.
    std::thread::Builder::new()
        .name("a_multiproc_test_spawns".into())
        .spawn(|| multiproc::__private::test_entry("plain_test::a_multiproc_test_spawns"))
        .unwrap()
        .join()
        .unwrap();
    for _ in 0..2 {
        let err = one::spawn().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotBootstrapped, "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("#[multiproc::test]"), "{msg}");
        assert!(
            msg.contains("b_plain_test_that_spawns_is_refused_even_after_a_multiproc_test"),
            "the message names the test: {msg}"
        );
    }
}
