//! Children start with only the descriptors they were given, as with Python's spawn: a descriptor the
//! parent opened without close-on-exec (as a C library might) reaches neither a spawned child, nor the
//! fork server, nor a child forked from it, while a pipe end passed to the child does.

use multiproc::{Connection, Pipe, Process, StartMethod, worker};
use std::collections::HashSet;
use std::os::fd::RawFd;

/// Every open descriptor of `pid` with what it points to.
fn fds_of(pid: &str) -> Vec<(RawFd, String)> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    dir.filter_map(|e| {
        let e = e.ok()?;
        let fd = e.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(e.path()).ok()?;
        Some((fd, target.to_string_lossy().into_owned()))
    })
    .collect()
}

/// Reports its parent and its open descriptors, after showing the passed pipe end works.
#[worker]
fn open_fds(conn: Connection<u8>) -> (u32, Vec<(RawFd, String)>) {
    conn.send(&7).unwrap();
    (std::os::unix::process::parent_id(), fds_of("self"))
}

/// A copy of `fd` numbered 900 or above, without close-on-exec (far above anything a child opens).
fn high_inheritable(fd: RawFd) -> RawFd {
    // SAFETY: F_DUPFD on a descriptor this test owns; the copy never has close-on-exec.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD, 900) };
    assert!(high >= 900, "{}", std::io::Error::last_os_error());
    // SAFETY: the original is this test's and no longer used.
    unsafe { libc::close(fd) };
    high
}

/// The stray descriptors: /dev/null opened without `O_CLOEXEC`, and a pipe whose close-on-exec flag
/// was cleared; with the pipe's target (`pipe:[inode]`).
fn open_strays() -> (Vec<RawFd>, String) {
    // SAFETY: plain open of a NUL-terminated path, without O_CLOEXEC on purpose.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(null >= 0);
    let mut pipe = [0; 2];
    // SAFETY: pipe2 writes two descriptors into a live array.
    assert_eq!(
        unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    for fd in pipe {
        // SAFETY: clearing the descriptor flags of a descriptor this test owns.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    }
    let strays: Vec<RawFd> = [null, pipe[0], pipe[1]]
        .into_iter()
        .map(high_inheritable)
        .collect();
    let target = std::fs::read_link(format!("/proc/self/fd/{}", strays[1])).unwrap();
    (strays, target.to_string_lossy().into_owned())
}

/// Socket targets (`socket:[inode]`) open in this process.
fn own_sockets() -> HashSet<String> {
    fds_of("self")
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.starts_with("socket:"))
        .collect()
}

fn assert_clean(who: &str, fds: &[(RawFd, String)], strays: &[RawFd], stray_pipe: &str) {
    for (fd, target) in fds {
        assert!(
            !strays.contains(fd) && target != stray_pipe,
            "{who} inherited fd {fd} ({target}); it has {fds:?}"
        );
    }
}

#[multiproc::test]
fn children_get_only_the_descriptors_they_were_given() {
    // Opened before any child (or the fork server) starts, so every start method sees them.
    let (strays, stray_pipe) = open_strays();
    for method in [StartMethod::Spawn, StartMethod::ForkServer] {
        let before = own_sockets();
        let (ours, theirs) = Pipe::<u8>::new().unwrap();
        let made: HashSet<String> = own_sockets().difference(&before).cloned().collect();
        let p = Process::builder()
            .start_method(method)
            .spawn(open_fds, (theirs,))
            .unwrap();
        // `theirs` travelled (and was dropped here): of the pipe's two sockets, ours is still open.
        let passed: Vec<String> = made.difference(&own_sockets()).cloned().collect();
        assert_eq!(passed.len(), 1, "{made:?}");
        assert_eq!(ours.recv().unwrap(), 7);
        let (parent, fds) = p.join().unwrap();
        assert_clean(&format!("{method:?} child"), &fds, &strays, &stray_pipe);
        assert!(
            fds.iter().any(|(_, t)| t == &passed[0]),
            "{method:?} child lacks its pipe end {}: {fds:?}",
            passed[0]
        );
        // Beyond stdin/out/err, its pipe end and the listing itself, a child holds only its bootstrap
        // socket (and the parent watch's duplicate of it): nothing of its parent's or the server's.
        let others: HashSet<&String> = fds
            .iter()
            .filter(|(fd, t)| *fd > 2 && t != &passed[0] && !t.starts_with("/proc/"))
            .map(|(_, t)| t)
            .collect();
        assert!(
            others.len() == 1 && others.iter().all(|t| t.starts_with("socket:")),
            "{method:?} child holds more than its own descriptors: {fds:?}"
        );
        if method == StartMethod::ForkServer {
            assert_ne!(parent, std::process::id());
            let server = fds_of(&parent.to_string());
            assert_clean("the fork server", &server, &strays, &stray_pipe);
        }
    }
    for fd in strays {
        // SAFETY: closing the descriptors this test opened.
        unsafe { libc::close(fd) };
    }
}
