//! Ports of CPython's `_test_multiprocessing` process tests (issue 12): `_TestProcess`,
//! `_TestSubclassingProcess` and `TestStartMethod`, named `<class>_<method>` after the test they port.

mod common;

#[allow(unused_imports)]
use common::{is_dead, wait_until};
use multiproc::{Process, StartMethod, worker};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

#[worker]
fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn readable(fd: std::os::fd::BorrowedFd<'_>, timeout_ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY (test): one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// `_TestProcess.test_sentinel`: the sentinel is not ready while the child runs, ready once it ends,
/// for both start methods.
#[multiproc::test]
fn test_process_test_sentinel() {
    for method in [StartMethod::Spawn, StartMethod::ForkServer] {
        let mut p = Process::builder()
            .start_method(method)
            .spawn(sleeps, (300,))
            .unwrap();
        assert!(!readable(p.sentinel(), 0), "{method:?}");
        let started = Instant::now();
        assert!(readable(p.as_fd(), 20_000), "{method:?}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(!p.is_alive());
        assert!(readable(p.sentinel(), 0), "stays ready: {method:?}");
        assert_eq!(p.join().unwrap(), 300);
    }
}
