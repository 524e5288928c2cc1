//! Process: results, panics, signals, exit codes, timeouts, names, and cleanup, across real processes.

mod common;

use common::{is_dead, wait_until};
use multiproc::{ErrorKind, Process, worker};
use std::time::{Duration, Instant};

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[worker]
fn concat(a: String, b: Vec<u32>, c: Option<(i8, bool)>) -> String {
    format!("{a}{b:?}{c:?}")
}

#[worker]
fn no_args() -> u32 {
    std::process::id()
}

#[worker]
fn panics(msg: String) -> u32 {
    panic!("boom: {msg}");
}

#[worker]
fn exits(code: i32) {
    std::process::exit(code);
}

#[worker]
fn aborts() {
    std::process::abort();
}

#[worker]
fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// `WorkerFn` implemented by hand, naming no registered worker: the one way left past the compile-time
/// check (closures and plain functions are compile errors: tests/ui/*_not_a_worker*.rs).
#[derive(Clone, Copy)]
struct Unregistered;

impl multiproc::WorkerFn<(u64,)> for Unregistered {
    type Output = u64;
    const ENTRY: &'static str = "no::such::worker";
}

#[multiproc::test]
fn join_returns_the_value() {
    assert_eq!(square::spawn(12).unwrap().join().unwrap(), 144);
    let s = concat::spawn("x".into(), vec![1, 2], Some((-3, true)))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(s, "x[1, 2]Some((-3, true))");
    let pid = no_args::spawn().unwrap().join().unwrap();
    assert_ne!(pid, std::process::id());
}

#[multiproc::test]
fn builder_names_and_pid() {
    let p = Process::builder()
        .name("squarer")
        .spawn(square, (5,))
        .unwrap();
    assert_eq!(p.name(), "squarer");
    assert!(p.pid() > 0);
    assert_ne!(p.pid(), std::process::id());
    assert_eq!(p.join().unwrap(), 25);
    let q = square::spawn(1).unwrap();
    assert!(q.name().starts_with("Process-"), "{}", q.name());
    q.join().unwrap();
}

#[multiproc::test]
fn many_processes_at_once() {
    let procs: Vec<_> = (0..16u64).map(|i| square::spawn(i).unwrap()).collect();
    let results: Vec<u64> = procs.into_iter().map(|p| p.join().unwrap()).collect();
    assert_eq!(results, (0..16u64).map(|i| i * i).collect::<Vec<_>>());
}

#[multiproc::test]
fn panic_comes_back_with_its_message() {
    let err = panics::spawn("it broke".into())
        .unwrap()
        .join()
        .unwrap_err();
    match err.kind() {
        ErrorKind::WorkerPanicked { message, .. } => assert_eq!(message, "boom: it broke"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("boom: it broke"));
}

#[multiproc::test]
fn exit_code_is_reported() {
    let p = exits::spawn(3).unwrap();
    let pid = p.pid() as i32;
    let err = p.join().unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::WorkerDied {
            pid,
            signal: None,
            code: Some(3)
        }
    );
    assert!(err.to_string().contains("exited with code 3"), "{err}");
}

#[multiproc::test]
fn abort_is_reported_as_sigabrt() {
    let err = aborts::spawn().unwrap().join().unwrap_err();
    match err.kind() {
        ErrorKind::WorkerDied { signal, .. } => assert_eq!(signal.as_deref(), Some("SIGABRT")),
        other => panic!("unexpected {other:?}"),
    }
}

#[multiproc::test]
fn kill_is_reported_promptly() {
    let mut p = sleeps::spawn(60_000).unwrap();
    assert!(p.is_alive());
    p.kill().unwrap();
    let t = Instant::now();
    let err = p.join().unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    match err.kind() {
        ErrorKind::WorkerDied { signal, .. } => assert_eq!(signal.as_deref(), Some("SIGKILL")),
        other => panic!("unexpected {other:?}: {err}"),
    }
    assert!(err.to_string().contains("SIGKILL"), "{err}");
}

#[multiproc::test]
fn terminate_sends_sigterm_and_exit_status_says_so() {
    let mut p = sleeps::spawn(60_000).unwrap();
    p.terminate().unwrap();
    assert!(wait_until(Duration::from_secs(10), || !p.is_alive()));
    let st = p.exit_status().unwrap();
    assert_eq!(st.exitcode(), -libc::SIGTERM);
    assert!(
        p.join_timeout(Duration::from_secs(5))
            .unwrap_err()
            .to_string()
            .contains("SIGTERM")
    );
}

#[multiproc::test]
fn join_timeout_leaves_the_process_running() {
    let mut p = sleeps::spawn(300).unwrap();
    let t = Instant::now();
    let err = p.join_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(p.is_alive());
    assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), 300);
    assert!(
        p.join_timeout(Duration::from_secs(1)).is_err(),
        "a second join has nothing left to return"
    );
}

/// Tries to spawn `Unregistered`; the error's name, its message, and the open descriptors before
/// and after. In a child of its own: the count is of the whole process, which the binary's other
/// tests change as they run.
#[worker]
fn spawn_unregistered() -> (Option<String>, String, usize, usize) {
    let before = multiproc::open_fd_count();
    let err = Process::builder().spawn(Unregistered, (1,)).unwrap_err();
    let name = match err.kind() {
        ErrorKind::NotAWorker { name } => Some(name.clone()),
        _ => None,
    };
    (name, format!("{err}"), before, multiproc::open_fd_count())
}

#[multiproc::test]
fn an_unregistered_worker_is_refused_before_spawning() {
    let (name, message, before, after) = spawn_unregistered::spawn().unwrap().join().unwrap();
    assert_eq!(name.as_deref(), Some("no::such::worker"), "{message}");
    assert!(message.contains("#[multiproc::worker]"), "{message}");
    assert_eq!(after, before);
}

#[multiproc::test]
fn drop_kills_and_reaps() {
    // Reaped by the drop itself is spawn's behaviour (a fork server reaps its children itself).
    let p = Process::builder()
        .start_method(multiproc::StartMethod::Spawn)
        .spawn(sleeps, (60_000,))
        .unwrap();
    let pid = p.pid();
    drop(p);
    // Reaped by drop itself: not even a zombie is left.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[multiproc::test]
fn join_reaps_the_child() {
    let p = square::spawn(3).unwrap();
    let pid = p.pid();
    p.join().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[worker]
fn spawn_grandchild(report: multiproc::Connection<u32>) {
    let g = sleeps::spawn(60_000).expect("grandchild");
    report.send(&g.pid()).expect("report");
    // Keep `g` alive: block until killed.
    std::thread::sleep(Duration::from_secs(60));
    drop(g);
}

#[multiproc::test]
fn children_die_with_their_parent() {
    let (rx, tx) = multiproc::Pipe::<u32>::new().unwrap();
    let mut middle = spawn_grandchild::spawn(tx).unwrap();
    let grandchild = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(!is_dead(grandchild));
    middle.kill().unwrap();
    assert!(middle.join_timeout(Duration::from_secs(10)).is_err());
    assert!(
        wait_until(Duration::from_secs(5), || is_dead(grandchild)),
        "grandchild {grandchild} outlived its parent"
    );
}

#[multiproc::test]
fn nested_spawn_works() {
    let (rx, tx) = multiproc::Pipe::<u32>::new().unwrap();
    let mut middle = spawn_grandchild::spawn(tx).unwrap();
    assert!(rx.recv_timeout(Duration::from_secs(20)).unwrap() > 0);
    middle.kill().unwrap();
}

/// 21 spawns, one dropped unjoined; the open descriptors before and after. In a child of its own
/// (see `spawn_unregistered`).
#[worker]
fn spawn_descriptors() -> (usize, usize) {
    square::spawn(0).unwrap().join().unwrap();
    let before = multiproc::open_fd_count();
    for i in 0..20 {
        square::spawn(i).unwrap().join().unwrap();
    }
    drop(sleeps::spawn(10_000).unwrap());
    (before, multiproc::open_fd_count())
}

#[multiproc::test]
fn no_fd_leak_across_spawns() {
    let (before, after) = spawn_descriptors::spawn().unwrap().join().unwrap();
    assert_eq!(after, before);
}

#[multiproc::test]
fn children_start_with_default_signal_handling() {
    // Spawn from a thread that blocks SIGTERM (a common design with a dedicated signal thread): the
    // child must not inherit the mask, or terminate() would do nothing.
    let handle = std::thread::spawn(|| {
        // SAFETY (test): building and installing a signal mask for this thread only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        sleeps::spawn(60_000).unwrap()
    });
    let mut p = handle.join().unwrap();
    p.terminate().unwrap();
    let err = p.join_timeout(Duration::from_secs(20)).unwrap_err();
    assert!(err.to_string().contains("SIGTERM"), "{err}");
}

#[multiproc::test]
fn a_child_outlives_the_thread_that_spawned_it() {
    // The spawning thread ends long before the child: the child must keep running (PR_SET_PDEATHSIG
    // would have killed it here).
    let p = std::thread::spawn(|| sleeps::spawn(50).unwrap())
        .join()
        .unwrap();
    assert_eq!(p.join().unwrap(), 50);
}

/// The soft descriptor limit of this process, and its hard limit.
fn nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY (test): getrlimit writes into a local struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    (lim.rlim_cur, lim.rlim_max)
}

#[worker]
fn report_nofile() -> (u64, u64) {
    nofile()
}

/// Lowers its own soft limit to 256, then starts a child: the child's bootstrap raised it again.
#[worker]
fn lower_then_spawn() -> ((u64, u64), (u64, u64)) {
    let (_, hard) = nofile();
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: hard,
    };
    // SAFETY (test): setrlimit reads a local struct; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let mine = nofile();
    let childs = report_nofile::spawn().unwrap().join().unwrap();
    (mine, childs)
}

/// Every multiproc process raises its soft descriptor limit at start to 65,536 or its hard limit,
/// whichever is lower, even when its parent ran with a low one.
#[multiproc::test]
fn bootstrap_raises_the_descriptor_limit() {
    let ((mine, hard), (childs, child_hard)) = lower_then_spawn::spawn().unwrap().join().unwrap();
    assert_eq!(mine, 256);
    assert_eq!(child_hard, hard);
    assert_eq!(childs, hard.min(1 << 16));
    assert!(nofile().0 >= hard.min(1 << 16));
}
