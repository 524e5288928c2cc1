//! Ports of CPython's `_test_multiprocessing` process tests (issue 12): `_TestProcess`,
//! `_TestSubclassingProcess` and `TestStartMethod`, named `<class>_<method>` after the test they port.

mod common;

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
fn process_test_sentinel() {
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

/// Tests that set the process-wide start method: one at a time (the others name theirs explicitly).
static METHOD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn with_method<T>(method: StartMethod, f: impl FnOnce() -> T) -> T {
    let _one = METHOD.lock().unwrap_or_else(|e| e.into_inner());
    let before = multiproc::get_start_method();
    multiproc::set_start_method(method);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    multiproc::set_start_method(before);
    out.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn both() -> [multiproc::ProcessBuilder; 2] {
    [
        Process::builder().start_method(StartMethod::Spawn),
        Process::builder().start_method(StartMethod::ForkServer),
    ]
}

#[worker]
fn who_am_i() -> (String, u32, bool, Option<(u32, String, bool)>) {
    let me = multiproc::current_process();
    let parent = multiproc::parent_process().map(|p| (p.pid(), p.name().to_string(), p.is_alive()));
    (me.name().to_string(), me.pid(), me.daemon(), parent)
}

/// `_TestProcess.test_current`: the program is `MainProcess`, alive, not a daemon, with no parent.
#[multiproc::test]
fn process_test_current() {
    let me = multiproc::current_process();
    assert_eq!(me.name(), "MainProcess");
    assert_eq!(me.pid(), std::process::id());
    assert!(!me.daemon());
    assert!(multiproc::parent_process().is_none());
}

/// `_TestProcess.test_parent_process_attributes` (and `_test` of `test_process`): a child knows its name,
/// pid, daemon flag, and its parent program's pid and name, however it was started.
#[multiproc::test]
fn process_test_parent_process_attributes() {
    for b in both() {
        let p = b.name("SomeProcess").spawn(who_am_i, ()).unwrap();
        let pid = p.pid();
        let (name, child_pid, daemon, parent) = p.join().unwrap();
        assert_eq!(
            (name.as_str(), child_pid, daemon),
            ("SomeProcess", pid, true)
        );
        assert_eq!(
            parent,
            Some((std::process::id(), "MainProcess".to_string(), true))
        );
    }
}

/// `_TestProcess.test_daemon_argument`: the flag given is the flag the child sees. The default is
/// `true` here (Python's is the parent's flag, `False` in the program): see `ProcessBuilder::daemon`.
#[multiproc::test]
fn process_test_daemon_argument() {
    let p0 = Process::builder().spawn(who_am_i, ()).unwrap();
    assert!(p0.daemon());
    assert!(p0.join().unwrap().2);
    let p1 = Process::builder().daemon(true).spawn(who_am_i, ()).unwrap();
    assert!(p1.daemon());
    assert!(p1.join().unwrap().2);
    let p2 = Process::builder()
        .daemon(false)
        .spawn(who_am_i, ())
        .unwrap();
    assert!(!p2.daemon());
    assert!(!p2.join().unwrap().2);
}

#[worker]
fn echo_args(a: i64, b: String, c: Vec<i64>, d: (i64,)) -> (i64, String, Vec<i64>, (i64,)) {
    (a, b, c, d)
}

/// `_TestProcess.test_args_argument`: arguments of several types arrive as sent.
#[multiproc::test]
fn process_test_args_argument() {
    for b in both() {
        let args = (1, "str".to_string(), vec![1], (1,));
        let back = b.spawn(echo_args, args.clone()).unwrap().join().unwrap();
        assert_eq!(back, args);
    }
}

/// `_TestProcess.test_process`: name, liveness and exit code before and after the end.
#[multiproc::test]
fn process_test_process() {
    for b in both() {
        let mut p = b.name("SomeProcess").spawn(sleeps, (200,)).unwrap();
        assert_eq!(p.name(), "SomeProcess");
        assert!(p.is_alive());
        assert_eq!(p.exitcode(), None);
        assert!(
            multiproc::active_children()
                .iter()
                .any(|c| c.pid == p.pid())
        );
        assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), 200);
        assert!(!p.is_alive());
        assert_eq!(p.exitcode(), Some(0));
    }
}

fn killed_by(sig: i32, send: impl Fn(&mut Process<u64>)) {
    for b in both() {
        let mut p = b.spawn(sleeps, (30_000,)).unwrap();
        assert!(p.is_alive());
        send(&mut p);
        let err = p.join_timeout(Duration::from_secs(20)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                multiproc::ErrorKind::WorkerDied {
                    signal: Some(_),
                    ..
                }
            ),
            "{err}"
        );
        assert!(!p.is_alive());
        assert_eq!(p.exitcode(), Some(-sig));
    }
}

/// `_TestProcess.test_terminate`: exit code `-SIGTERM`.
#[multiproc::test]
fn process_test_terminate() {
    killed_by(libc::SIGTERM, |p| p.terminate().unwrap());
}

/// `_TestProcess.test_kill`: exit code `-SIGKILL`.
#[multiproc::test]
fn process_test_kill() {
    killed_by(libc::SIGKILL, |p| p.kill().unwrap());
}

/// `Process.interrupt()` (Python 3.14): a worker that does not handle SIGINT dies of it.
#[multiproc::test]
fn process_test_interrupt() {
    killed_by(libc::SIGINT, |p| p.interrupt().unwrap());
}

/// `_TestProcess.test_cpu_count`.
#[multiproc::test]
fn process_test_cpu_count() {
    assert!(multiproc::cpu_count() >= 1);
}

/// `_TestProcess.test_active_children`: listed while it runs, gone once joined.
#[multiproc::test]
fn process_test_active_children() {
    let p = Process::builder().spawn(sleeps, (200,)).unwrap();
    let pid = p.pid();
    let listed = multiproc::active_children();
    let me = listed.iter().find(|c| c.pid == pid).expect("listed");
    assert_eq!(me.name, p.name());
    p.join().unwrap();
    assert!(!multiproc::active_children().iter().any(|c| c.pid == pid));
}

#[worker]
fn recursion(id: Vec<u8>) -> Vec<Vec<u8>> {
    let mut seen = vec![id.clone()];
    if id.len() < 2 {
        for i in 0..2 {
            let mut next = id.clone();
            next.push(i);
            seen.extend(recursion::spawn(next).unwrap().join().unwrap());
        }
    }
    seen
}

/// `_TestProcess.test_recursion`: children start children, depth first, in order (each reports what it
/// and its descendants saw, where Python's send it down one pipe).
#[multiproc::test]
fn process_test_recursion() {
    let got = recursion::spawn(vec![]).unwrap().join().unwrap();
    let want: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 0],
        vec![0, 1],
        vec![1],
        vec![1, 0],
        vec![1, 1],
    ];
    assert_eq!(got, want);
}

#[worker]
fn grandparent(conn: multiproc::Connection<u32>) {
    let child = who_am_i_forever::spawn(conn).unwrap();
    std::thread::sleep(Duration::from_secs(300));
    drop(child);
}

#[worker]
fn who_am_i_forever(conn: multiproc::Connection<u32>) {
    let parent = multiproc::parent_process().unwrap();
    assert!(parent.is_alive());
    conn.send(&std::process::id()).unwrap();
    // Python's grandchild sees its parent die and reports it; here it dies with its parent.
    parent.join_timeout(Duration::from_secs(60));
}

/// `_TestProcess.test_parent_process`: a grandchild sees its parent alive; when the parent is killed the
/// grandchild goes too (multiproc children die with their parent, where Python's would report "not
/// alive" and go on).
#[multiproc::test]
fn process_test_parent_process() {
    let (rx, tx) = multiproc::Pipe::<u32>::new().unwrap();
    let mut p = grandparent::spawn(tx).unwrap();
    assert!(rx.poll(Duration::from_secs(30)).unwrap());
    let grandchild = rx.recv().unwrap();
    assert!(!is_dead(grandchild));
    p.terminate().unwrap();
    assert!(p.join().is_err());
    assert!(wait_until(Duration::from_secs(20), || is_dead(grandchild)));
}

#[worker]
fn exits(code: i32) {
    std::process::exit(code);
}

/// `_TestSubclassingProcess.test_sys_exit`: the code a worker exits with is its exit code.
#[multiproc::test]
fn subclassing_process_test_sys_exit() {
    for b in both() {
        for code in [1, 8] {
            let mut p = b.clone().spawn(exits, (code,)).unwrap();
            let err = p.join_timeout(Duration::from_secs(20)).unwrap_err();
            assert!(
                matches!(err.kind(), multiproc::ErrorKind::WorkerDied { code: Some(c), .. } if *c == code),
                "{err}"
            );
            assert_eq!(p.exitcode(), Some(code));
        }
    }
}

/// `_TestProcess.test_many_processes`: 100 fork-server children (5 spawned) all end with code 0.
#[multiproc::test]
fn process_test_many_processes() {
    for (b, n) in [
        (
            Process::builder().start_method(StartMethod::ForkServer),
            100,
        ),
        (Process::builder().start_method(StartMethod::Spawn), 5),
    ] {
        let procs: Vec<_> = (0..n)
            .map(|_| b.clone().spawn(sleeps, (10,)).unwrap())
            .collect();
        for mut p in procs {
            assert_eq!(p.join_timeout(Duration::from_secs(60)).unwrap(), 10);
            assert_eq!(p.exitcode(), Some(0));
        }
    }
}

#[worker]
fn nested_method() -> (String, bool) {
    let method = format!("{:?}", multiproc::get_start_method());
    // A fork-server grandchild's OS parent is the fork server, a spawned one's is this process.
    let ppid = grandchild_ppid::spawn().unwrap().join().unwrap();
    (method, ppid == std::process::id())
}

#[worker]
fn grandchild_ppid() -> u32 {
    std::os::unix::process::parent_id()
}

/// `TestStartMethod.test_nested_startmethod`: a child inherits its parent's start method, and its own
/// children start that way.
#[multiproc::test]
fn start_method_test_nested_startmethod() {
    for (method, spawned) in [(StartMethod::ForkServer, false), (StartMethod::Spawn, true)] {
        let got = with_method(method, || nested_method::spawn().unwrap().join().unwrap());
        assert_eq!(got, (format!("{method:?}"), spawned));
    }
}

/// Daemon semantics (Python joins non-daemon children at exit, terminates daemons): a dropped daemon
/// handle kills its child; a dropped non-daemon one lets it run until `join_children_at_exit`, which
/// `#[multiproc::main]` calls when `main` returns.
#[multiproc::test]
fn process_daemon_and_non_daemon_at_exit() {
    let daemon = Process::builder().spawn(sleeps, (30_000,)).unwrap();
    let daemon_pid = daemon.pid();
    drop(daemon);
    assert!(wait_until(Duration::from_secs(20), || is_dead(daemon_pid)));

    let started = Instant::now();
    let p = Process::builder()
        .daemon(false)
        .spawn(sleeps, (400,))
        .unwrap();
    let pid = p.pid();
    drop(p);
    std::thread::sleep(Duration::from_millis(50));
    assert!(!is_dead(pid), "a non-daemon child runs on");
    assert!(multiproc::active_children().iter().any(|c| c.pid == pid));
    multiproc::join_children_at_exit();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(is_dead(pid));
    assert!(!multiproc::active_children().iter().any(|c| c.pid == pid));
}

#[worker]
fn panics(msg: String) -> u32 {
    panic!("boom: {msg}");
}

/// Python's `RemoteTraceback` names the file and line: a worker's panic comes back with its location
/// (and the child's backtrace when `RUST_BACKTRACE` is set), however the child started.
#[multiproc::test]
fn process_panic_location() {
    let line = line!() - 7;
    for b in both() {
        let err = b
            .spawn(panics, ("it broke".into(),))
            .unwrap()
            .join()
            .unwrap_err();
        let multiproc::ErrorKind::WorkerPanicked {
            message,
            location,
            backtrace,
        } = err.kind()
        else {
            panic!("expected WorkerPanicked, got {err:?}");
        };
        assert_eq!(message, "boom: it broke");
        let location = location.as_deref().unwrap();
        assert!(
            location.starts_with(&format!("tests/conformance_12_process.rs:{line}:")),
            "{location}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("worker panicked at {location}: boom: it broke")),
            "{err}"
        );
        let traced = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        assert_eq!(backtrace.is_some(), traced, "{backtrace:?}");
        if let Some(bt) = backtrace {
            assert!(bt.contains("panics"), "{bt}");
        }
    }
}

/// `TestStartMethod.test_set_get`: what is set is what is got, and the default is the fork server.
#[multiproc::test]
fn start_method_test_set_get() {
    let _one = METHOD.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(multiproc::get_start_method(), StartMethod::ForkServer);
    for method in multiproc::get_all_start_methods() {
        multiproc::set_start_method(method);
        assert_eq!(multiproc::get_start_method(), method);
        assert_eq!(multiproc::get_context(None).get_start_method(), method);
    }
    multiproc::set_start_method(StartMethod::ForkServer);
}

/// `TestStartMethod.test_get_all`: the fork server (the default) and spawn; no `fork`.
#[multiproc::test]
fn start_method_test_get_all() {
    let all = multiproc::get_all_start_methods();
    assert_eq!(all, [StartMethod::ForkServer, StartMethod::Spawn]);
    for m in all {
        assert_eq!(StartMethod::from_name(m.name()), Some(m));
    }
    assert_eq!(StartMethod::from_name("fork"), None);
}

#[worker]
fn os_parent() -> u32 {
    std::os::unix::process::parent_id()
}

/// `TestStartMethod.test_context`: a context starts processes and pools its own way, whatever the
/// process-wide method is.
#[multiproc::test]
fn start_method_test_context() {
    for method in multiproc::get_all_start_methods() {
        let ctx = multiproc::get_context(method);
        assert_eq!(ctx.get_start_method(), method);
        let ppid = ctx
            .process_builder()
            .spawn(os_parent, ())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            ppid == std::process::id(),
            method == StartMethod::Spawn,
            "{method:?}"
        );
        let pool = ctx.pool(1).unwrap();
        let ppid = pool.apply(os_parent, ()).unwrap();
        assert_eq!(
            ppid == std::process::id(),
            method == StartMethod::Spawn,
            "{method:?}"
        );
        pool.close();
        pool.join().unwrap();
        // ctx.Manager(): its server is started the context's way too.
        let mgr = ctx.manager().unwrap();
        let server_ppid = std::fs::read_to_string(format!("/proc/{}/stat", mgr.pid().unwrap()))
            .unwrap()
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u32>()
            .unwrap();
        assert_eq!(
            server_ppid == std::process::id(),
            method == StartMethod::Spawn,
            "{method:?}"
        );
        mgr.shutdown().unwrap();
    }
}

#[worker]
fn use_context_objects(
    q: multiproc::Queue<u32>,
    lock: multiproc::Lock,
    v: multiproc::Value<u32>,
    e: multiproc::Event,
    conn: multiproc::Connection<u32>,
) {
    let _held = lock.acquire().unwrap();
    *v.lock().unwrap() += 1;
    q.put(7).unwrap();
    conn.send(&8).unwrap();
    e.set();
}

/// A context has Python's constructors (`ctx.Queue()`, `ctx.Lock()`, `ctx.Value()`, `ctx.Event()`,
/// `ctx.Pipe()`, ...), and what they make works in a process the context starts.
#[multiproc::test]
fn start_method_context_constructors() {
    let ctx = multiproc::get_context(StartMethod::Spawn);
    let q = ctx.queue::<u32>().unwrap();
    let lock = ctx.lock().unwrap();
    let v = ctx.value(0u32).unwrap();
    let e = ctx.event().unwrap();
    let (ours, theirs) = ctx.pipe::<u32>().unwrap();
    ctx.process_builder()
        .spawn(
            use_context_objects,
            (q.clone(), lock.clone(), v.clone(), e.clone(), theirs),
        )
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), 7);
    assert_eq!(ours.recv().unwrap(), 8);
    assert_eq!(v.get().unwrap(), 1);
    assert!(e.is_set());
    assert!(ctx.rlock().is_ok() && ctx.condition().is_ok() && ctx.barrier(2).is_ok());
    assert_eq!(ctx.semaphore(2).unwrap().value(), 2);
    assert!(ctx.bounded_semaphore(1).is_ok() && ctx.simple_queue::<u8>().is_ok());
    assert!(ctx.joinable_queue::<u8>().is_ok() && ctx.queue_bounded::<u8>(1).is_ok());
    assert_eq!(ctx.array::<u64>(3).unwrap().len(), 3);
}

#[worker]
fn put_one(q: multiproc::Queue<u32>) {
    q.put(1).unwrap();
}

#[worker]
fn put_two_and_nest_once(q: multiproc::Queue<u32>) {
    q.put(2).unwrap();
    put_one::spawn(q).unwrap().join().unwrap();
}

/// `TestStartMethod.test_mixed_startmethod`: a queue (or lock) made anywhere works with children of
/// either method (there is no `fork` context whose locks could not travel); and the nested case of
/// `test_nested_startmethod` through a queue.
#[multiproc::test]
fn start_method_test_mixed_startmethod() {
    for method in multiproc::get_all_start_methods() {
        let q = multiproc::Queue::<u32>::new().unwrap();
        multiproc::get_context(method)
            .process_builder()
            .spawn(put_two_and_nest_once, (q.clone(),))
            .unwrap()
            .join()
            .unwrap();
        let got: Vec<u32> = (0..2)
            .map(|_| q.get_timeout(Duration::from_secs(20)).unwrap())
            .collect();
        assert_eq!(got, [2, 1], "{method:?}");
    }
}

/// `_test_child_fd_inflation`: reports how many descriptors this child has open, then stays until
/// `done` is set, so that every sibling is running when each one counts.
#[worker]
fn count_fds(started: multiproc::Queue<usize>, done: multiproc::Event) {
    started.put(multiproc::open_fd_count()).unwrap();
    assert!(done.wait_timeout(Duration::from_secs(60)));
}

/// `_TestProcess.test_child_fd_inflation`: the number of descriptors a child has open does not grow
/// with the number of its running siblings (no child inherits the others' pipes or pidfds).
#[multiproc::test]
fn process_test_child_fd_inflation() {
    const N: usize = 5;
    let started = multiproc::Queue::new().unwrap();
    let done = multiproc::Event::new().unwrap();
    let procs: Vec<_> = (0..N)
        .map(|_| count_fds::spawn(started.clone(), done.clone()).unwrap())
        .collect();
    let counts: Vec<usize> = (0..N)
        .map(|_| started.get_timeout(Duration::from_secs(60)).unwrap())
        .collect();
    done.set();
    for p in procs {
        p.join().unwrap();
    }
    assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
}
