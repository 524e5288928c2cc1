//! Python conformance (issue 13, part 2), the pool: CPython's `Lib/test/_test_multiprocessing.py`
//! `_TestPool`, `_TestPoolWorkerErrors`, `_TestPoolWorkerLifetime`, `TestInitializers` (pool part)
//! and `TestPoolNotLeakOnFailure`, ported where one maps and named `<class>_<method>` after the
//! CPython test. Python's `sqr(x, wait)` is [`sqr`] with the wait in milliseconds; its raised
//! exceptions are panics (or a `WorkerError` result, which is a value). Every test runs real worker
//! processes.

mod common;

use common::{is_our_child, wait_until};
use multiproc::manager::NamespaceProxy;
use multiproc::{ErrorKind, Manager, Pool, SimpleQueue, WorkerError, worker};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// Python's `TIMEOUT1`-style short wait.
const SHORT: Duration = Duration::from_millis(200);
/// Long enough that a test waiting for it has failed, short enough not to hang a broken run.
const LONG: Duration = Duration::from_secs(20);

#[worker]
fn sqr(x: u64, wait_ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(wait_ms));
    x * x
}

#[worker]
fn sqr1(x: u64) -> u64 {
    x * x
}

#[worker]
fn mul(x: i64, y: i64) -> i64 {
    x * y
}

#[worker]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[worker]
fn raising() -> u64 {
    panic!("KeyError: 'key'");
}

#[worker]
fn raise_runtime_error_123() -> u64 {
    panic!("RuntimeError(123) # some comment");
}

#[worker]
fn raise_wrapped() -> Result<u64, WorkerError> {
    Err(WorkerError::msg("RuntimeError: foo"))
}

#[worker]
fn raise_large_valueerror(wait_ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(wait_ms));
    panic!("{}", "x".repeat(1024 * 1024));
}

#[worker]
fn pid_of(_x: u64) -> u32 {
    std::process::id()
}

/// Python's `class A: def __reduce__(self): raise RuntimeError('cannot pickle')`: a value whose
/// serialization fails.
#[derive(Clone, Debug)]
struct Unpicklable;

impl Serialize for Unpicklable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot pickle"))
    }
}

impl<'de> Deserialize<'de> for Unpicklable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|()| Unpicklable)
    }
}

#[worker]
fn take_unpicklable(_a: Unpicklable) -> u64 {
    0
}

#[worker]
fn unpickleable_result() -> Unpicklable {
    Unpicklable
}

/// Python's `exception_throwing_generator(total, when)`: yields `0..total` but "raises" (here:
/// panics) when it reaches `when`.
fn exception_throwing_generator(total: u64, when: u64) -> impl Iterator<Item = u64> {
    (0..total).inspect(move |&i| assert_ne!(i, when, "SayWhenError"))
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ---- _TestPool ---------------------------------------------------------------------------------

#[multiproc::test]
fn pool_test_apply() {
    let pool = Pool::new(4).unwrap();
    assert_eq!(pool.apply(sqr, (5, 0)).unwrap(), 25);
    assert_eq!(pool.apply(sqr1, (3,)).unwrap(), 9);
}

#[multiproc::test]
fn pool_test_map() {
    let pool = Pool::new(4).unwrap();
    let want: Vec<u64> = (0..10).map(|x| x * x).collect();
    assert_eq!(pool.map(sqr1, 0..10u64).unwrap(), want);
    let want: Vec<u64> = (0..100).map(|x| x * x).collect();
    assert_eq!(pool.map_chunked(sqr1, 0..100u64, 20).unwrap(), want);
}

#[multiproc::test]
fn pool_test_starmap() {
    let pool = Pool::new(4).unwrap();
    let tuples: Vec<(i64, i64)> = (0..10).zip((0..10).rev()).collect();
    let want: Vec<i64> = tuples.iter().map(|(a, b)| a * b).collect();
    assert_eq!(pool.starmap(mul, tuples).unwrap(), want);
    let tuples: Vec<(i64, i64)> = (0..100).zip((0..100).rev()).collect();
    let want: Vec<i64> = tuples.iter().map(|(a, b)| a * b).collect();
    assert_eq!(pool.starmap_chunked(mul, tuples, 20).unwrap(), want);
}

#[multiproc::test]
fn pool_test_starmap_async() {
    let pool = Pool::new(4).unwrap();
    let tuples: Vec<(i64, i64)> = (0..100).zip((0..100).rev()).collect();
    let want: Vec<i64> = tuples.iter().map(|(a, b)| a * b).collect();
    assert_eq!(
        pool.starmap_async(mul, tuples).unwrap().get().unwrap(),
        want
    );
}

#[multiproc::test]
fn pool_test_map_async() {
    let pool = Pool::new(4).unwrap();
    let want: Vec<u64> = (0..10).map(|x| x * x).collect();
    assert_eq!(pool.map_async(sqr1, 0..10u64).unwrap().get().unwrap(), want);
}

/// Python: an argument whose pickling raises makes `map` raise, not hang. Here the serde error fails
/// the call and the pool goes on.
#[multiproc::test]
fn pool_test_map_unplicklable() {
    let pool = Pool::new(2).unwrap();
    let start = Instant::now();
    let err = pool
        .map(take_unpicklable, vec![Unpicklable; 10])
        .unwrap_err();
    assert!(err.to_string().contains("cannot pickle"), "{err}");
    assert!(start.elapsed() < LONG);
    assert_eq!(pool.map(sqr1, 0..4u64).unwrap(), [0, 1, 4, 9]);
}

#[multiproc::test]
fn pool_test_map_chunksize() {
    let pool = Pool::new(2).unwrap();
    let r = pool.map_chunked(sqr1, Vec::<u64>::new(), 1).unwrap();
    assert!(r.is_empty());
    let r = pool.map_async(sqr1, Vec::<u64>::new()).unwrap();
    assert!(r.get_timeout(SHORT).unwrap().is_empty());
}

/// Python's iterator raises `SayWhenError` and `map` raises it, again and again (reentrant). A Rust
/// iterator cannot return an error; the nearest is one that panics: the panic reaches the caller of
/// `map` (the iterator runs in the caller's thread), and the pool serves the next call.
#[multiproc::test]
fn pool_test_map_handle_iterable_exception() {
    let pool = Pool::new(2).unwrap();
    for (total, when) in [(1, 0), (1, 0), (10, 3)] {
        let p = catch_unwind(AssertUnwindSafe(|| {
            pool.map_chunked(sqr1, exception_throwing_generator(total, when), 1)
        }))
        .unwrap_err();
        assert!(panic_text(p).contains("SayWhenError"));
        assert_eq!(pool.map(sqr1, 0..3u64).unwrap(), [0, 1, 4]);
    }
}

/// The `imap` form: the items before the panicking one come out, then the panic reaches the caller of
/// `next`, and the pool goes on.
#[multiproc::test]
fn pool_test_imap_handle_iterable_exception() {
    let pool = Pool::new(2).unwrap();
    for (total, when, chunk) in [(1, 0, 1), (1, 0, 1), (10, 3, 1), (20, 7, 2), (20, 7, 4)] {
        let mut it = pool
            .imap(sqr1, exception_throwing_generator(total, when))
            .chunksize(chunk);
        let mut got = Vec::new();
        let p = catch_unwind(AssertUnwindSafe(|| {
            for r in &mut it {
                got.push(r.unwrap());
            }
        }))
        .unwrap_err();
        assert!(panic_text(p).contains("SayWhenError"));
        // Python sees the items of whole chunks before the failing one; we see at most `when`.
        assert!(got.len() as u64 <= when, "{got:?}");
        for (i, v) in got.iter().enumerate() {
            assert_eq!(*v, (i * i) as u64);
        }
        drop(it);
        assert_eq!(pool.map(sqr1, 0..3u64).unwrap(), [0, 1, 4]);
    }
}

#[multiproc::test]
fn pool_test_imap_unordered_handle_iterable_exception() {
    let pool = Pool::new(2).unwrap();
    for (total, when, chunk) in [(1, 0, 1), (10, 3, 1), (20, 7, 2)] {
        let mut expected: Vec<u64> = (0..total).map(|x| x * x).collect();
        let mut it = pool
            .imap_unordered(sqr1, exception_throwing_generator(total, when))
            .chunksize(chunk);
        let p = catch_unwind(AssertUnwindSafe(|| {
            for r in &mut it {
                let v = r.unwrap();
                let at = expected
                    .iter()
                    .position(|e| *e == v)
                    .expect("expected value");
                expected.remove(at);
            }
        }))
        .unwrap_err();
        assert!(panic_text(p).contains("SayWhenError"));
        drop(it);
        assert_eq!(pool.map(sqr1, 0..3u64).unwrap(), [0, 1, 4]);
    }
}

#[multiproc::test]
fn pool_test_async() {
    let pool = Pool::new(4).unwrap();
    let res = pool
        .apply_async(sqr, (7, SHORT.as_millis() as u64))
        .unwrap();
    let start = Instant::now();
    assert_eq!(res.get().unwrap(), 49);
    let took = start.elapsed();
    assert!(
        took >= SHORT - Duration::from_millis(50) && took < SHORT + Duration::from_secs(2),
        "{took:?}"
    );
}

#[multiproc::test]
fn pool_test_async_timeout() {
    let pool = Pool::new(3).unwrap();
    let res = pool.apply_async(sqr, (6, 30_000)).unwrap();
    let start = Instant::now();
    let err = res.get_timeout(SHORT).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let took = start.elapsed();
    assert!(
        took >= SHORT && took < SHORT + Duration::from_secs(2),
        "{took:?}"
    );
    pool.terminate();
}

#[multiproc::test]
fn pool_test_imap() {
    let pool = Pool::new(4).unwrap();
    let got: Vec<u64> = pool.imap(sqr1, 0..10u64).map(|r| r.unwrap()).collect();
    assert_eq!(got, (0..10u64).map(|x| x * x).collect::<Vec<_>>());
    let mut it = pool.imap(sqr1, 0..10u64);
    for i in 0..10u64 {
        assert_eq!(it.next().unwrap().unwrap(), i * i);
    }
    assert!(it.next().is_none());
    let mut it = pool.imap(sqr1, 0..1000u64).chunksize(100);
    for i in 0..1000u64 {
        assert_eq!(it.next().unwrap().unwrap(), i * i);
    }
    assert!(it.next().is_none());
}

#[multiproc::test]
fn pool_test_imap_unordered() {
    let pool = Pool::new(4).unwrap();
    let mut got: Vec<u64> = pool
        .imap_unordered(sqr1, 0..10u64)
        .map(|r| r.unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..10u64).map(|x| x * x).collect::<Vec<_>>());
    let mut got: Vec<u64> = pool
        .imap_unordered(sqr1, 0..1000u64)
        .chunksize(100)
        .map(|r| r.unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
}

/// Python: `Pool(-1)` and `Pool(0)` raise `ValueError`. A negative count does not type-check here
/// (`usize`); 0 is `InvalidInput`. `Pool(3)` has three workers.
#[multiproc::test]
fn pool_test_make_pool() {
    assert_eq!(Pool::new(0).unwrap_err().kind(), &ErrorKind::InvalidInput);
    let err = Pool::builder().processes(0).build().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let p = Pool::new(3).unwrap();
    assert_eq!(p.processes(), 3);
    assert_eq!(p.pids().len(), 3);
    p.close();
    p.join().unwrap();
}

/// Python: `map_async` of 10 000 "forever" sleeps, then `terminate()` and `join()` return at once.
/// Here the pending result fails with `Closed` and every worker is gone.
#[multiproc::test]
fn pool_test_terminate() {
    let p = Pool::new(3).unwrap();
    let pids = p.pids();
    let start = Instant::now();
    let r = p.map_async(sleep_ms, vec![60_000u64; 10_000]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    p.terminate();
    assert_eq!(r.get().unwrap_err().kind(), &ErrorKind::Closed);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(p.pids().is_empty());
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} left behind");
    }
}

#[multiproc::test]
fn pool_test_empty_iterable() {
    let p = Pool::new(1).unwrap();
    assert!(p.map(sqr1, Vec::<u64>::new()).unwrap().is_empty());
    assert_eq!(p.imap(sqr1, Vec::<u64>::new()).count(), 0);
    assert_eq!(p.imap_unordered(sqr1, Vec::<u64>::new()).count(), 0);
    assert!(
        p.map_async(sqr1, Vec::<u64>::new())
            .unwrap()
            .get()
            .unwrap()
            .is_empty()
    );
    p.close();
    p.join().unwrap();
}

/// Python: `with Pool(2) as p:` terminates the pool on exit, and `map_async` then raises
/// `ValueError`. Rust has no `with`: the end of scope drops (terminates) the pool, so the call after
/// it cannot be written; an explicit `terminate()` shows the same refusal (`Closed`).
#[multiproc::test]
fn pool_test_context() {
    let expected: Vec<u64> = (0..10).map(|x| x * x).collect();
    let pids = {
        let p = Pool::new(2).unwrap();
        let r = p.map_async(sqr1, 0..10u64).unwrap();
        assert_eq!(r.get().unwrap(), expected);
        p.pids()
    };
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} outlived the pool");
    }
    let p = Pool::new(2).unwrap();
    p.terminate();
    assert_eq!(
        p.map_async(sqr1, 0..10u64).unwrap_err().kind(),
        &ErrorKind::Closed
    );
}

/// Python: the child's traceback (`raise RuntimeError(123) # some comment`) is in the exception the
/// parent gets. Here the panic message reaches the parent, as `WorkerPanicked`.
#[multiproc::test]
fn pool_test_traceback() {
    let p = Pool::new(1).unwrap();
    let err = p.apply(raise_runtime_error_123, ()).unwrap_err();
    match err.kind() {
        ErrorKind::WorkerPanicked { message, .. } => {
            assert!(
                message.contains("RuntimeError(123) # some comment"),
                "{message}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains("RuntimeError(123) # some comment"),
        "{err}"
    );
    // An error in the parent's own iterator is not a remote one: it is the caller's panic.
    let p2 = catch_unwind(AssertUnwindSafe(|| {
        p.map_chunked(sqr1, exception_throwing_generator(1, 0), 1)
    }))
    .unwrap_err();
    assert!(panic_text(p2).contains("SayWhenError"));
}

/// Python (issue 20980): the exception is the worker's `RuntimeError`, not a wrapper. Here a worker
/// that returns its error as `Err(WorkerError)` gives the caller that very error as a value.
#[multiproc::test]
fn pool_test_wrapped_exception() {
    let p = Pool::new(1).unwrap();
    let err = p.apply(raise_wrapped, ()).unwrap().unwrap_err();
    assert_eq!(err.to_string(), "RuntimeError: foo");
    assert_eq!(err, WorkerError::msg("RuntimeError: foo"));
    p.close();
    p.join().unwrap();
}

/// Python (issue 23992): a failing `map` whose failures carry 1 MiB messages must not make `join()`
/// deadlock, and `join()` waits for every job.
#[multiproc::test]
fn pool_test_map_no_failfast() {
    let start = Instant::now();
    let p = Pool::new(2).unwrap();
    let err = p
        .map_chunked(raise_large_valueerror, [0u64, 500], 1)
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WorkerPanicked { message, .. } if message.starts_with("xxxx")),
        "{:?}",
        err.kind()
    );
    p.close();
    p.join().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert!(start.elapsed() < LONG);
}

/// Python (bpo-35477): `with pool:` after the pool was terminated raises `ValueError`. Here a
/// terminated pool refuses new work with `Closed`, and `join` returns.
#[multiproc::test]
fn pool_test_enter() {
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.apply(sqr1, (2,)).unwrap(), 4);
    pool.terminate();
    assert_eq!(
        pool.apply(sqr1, (2,)).unwrap_err().kind(),
        &ErrorKind::Closed
    );
    assert_eq!(
        pool.apply_async(sqr1, (2,)).unwrap_err().kind(),
        &ErrorKind::Closed
    );
    pool.join().unwrap();
}

// ---- _TestPoolWorkerErrors ---------------------------------------------------------------------

#[multiproc::test]
fn pool_worker_errors_test_async_error_callback() {
    let p = Pool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let res = p
        .apply_async_with(
            raising,
            (),
            |_| {},
            move |e| tx.send(e.to_string()).unwrap(),
        )
        .unwrap();
    let err = res.get().unwrap_err();
    assert!(err.to_string().contains("KeyError: 'key'"), "{err}");
    let seen = rx.recv_timeout(LONG).unwrap();
    assert!(seen.contains("KeyError: 'key'"), "{seen}");
    p.close();
    p.join().unwrap();
}

/// Python: a result that cannot be pickled fails its task with `MaybeEncodingError` (twenty times)
/// and no worker is lost.
#[multiproc::test]
fn pool_worker_errors_test_unpickleable_result() {
    let p = Pool::new(2).unwrap();
    let pids: HashSet<u32> = p.pids().into_iter().collect();
    for _ in 0..20 {
        let (tx, rx) = std::sync::mpsc::channel();
        let res = p
            .apply_async_with(
                unpickleable_result,
                (),
                |_| {},
                move |e| tx.send(e.to_string()).unwrap(),
            )
            .unwrap();
        let err = res.get().unwrap_err();
        assert!(err.to_string().contains("cannot pickle"), "{err}");
        let seen = rx.recv_timeout(LONG).unwrap();
        assert!(seen.contains("cannot pickle"), "{seen}");
    }
    assert_eq!(p.pids().into_iter().collect::<HashSet<_>>(), pids);
    p.close();
    p.join().unwrap();
}

// ---- _TestPoolWorkerLifetime -------------------------------------------------------------------

#[multiproc::test]
fn pool_worker_lifetime_test_pool_worker_lifetime() {
    let p = Pool::builder()
        .processes(3)
        .maxtasksperchild(10)
        .build()
        .unwrap();
    let orig: Vec<u32> = p.pids();
    assert_eq!(orig.len(), 3);
    let results: Vec<_> = (0..100u64)
        .map(|i| p.apply_async(sqr1, (i,)).unwrap())
        .collect();
    for (j, res) in results.into_iter().enumerate() {
        assert_eq!(res.get().unwrap(), (j * j) as u64);
    }
    // The pool refills itself; all three workers come back.
    assert!(wait_until(Duration::from_secs(5), || p.pids().len() == 3));
    let fin = p.pids();
    assert!(!fin.contains(&0));
    let (mut a, mut b) = (orig.clone(), fin.clone());
    a.sort_unstable();
    b.sort_unstable();
    assert_ne!(a, b, "workers were replaced");
    // The replacements serve.
    let served: HashSet<u32> = p
        .map_chunked(pid_of, 0..30u64, 1)
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        served.iter().all(|pid| !orig.contains(pid)),
        "{served:?} {orig:?}"
    );
    p.close();
    p.join().unwrap();
}

/// Python (issue 10332): closing a pool whose workers have a lifetime of one task before the tasks
/// finish must not make `join()` hang.
#[multiproc::test]
fn pool_worker_lifetime_test_pool_worker_lifetime_early_close() {
    let p = Pool::builder()
        .processes(3)
        .maxtasksperchild(1)
        .build()
        .unwrap();
    let results: Vec<_> = (0..6u64)
        .map(|i| p.apply_async(sqr, (i, 100)).unwrap())
        .collect();
    p.close();
    p.join().unwrap();
    for (j, res) in results.into_iter().enumerate() {
        assert_eq!(res.get_timeout(SHORT).unwrap(), (j * j) as u64);
    }
}

// ---- TestInitializers --------------------------------------------------------------------------

#[worker]
fn initializer(ns: NamespaceProxy) {
    ns.set("test", &1u32).expect("set");
}

/// Python: `Pool(1, initializer, (ns,))` runs the initializer, which sets `ns.test = 1` on a manager
/// namespace. (`Pool(initializer=1)` raising `TypeError` is a compile error here.)
#[multiproc::test]
fn initializers_test_pool_initializer() {
    let mgr = Manager::start().unwrap();
    let ns = mgr.namespace().unwrap();
    ns.set("test", &0u32).unwrap();
    let p = Pool::builder()
        .processes(1)
        .initializer(initializer, (ns.clone(),))
        .build()
        .unwrap();
    p.close();
    p.join().unwrap();
    assert_eq!(ns.get::<u32>("test").unwrap(), 1);
}

// ---- TestPoolNotLeakOnFailure ------------------------------------------------------------------

#[worker]
fn failing_initializer(pids: SimpleQueue<u32>) {
    pids.put(std::process::id()).expect("put");
    panic!("worker start fails");
}

/// Python: when starting the pool's processes fails part way, the ones started are not leaked. Here a
/// pool whose workers fail to start (their initializer panics) fails `build`, and every process it
/// started is gone.
#[multiproc::test]
fn pool_not_leak_on_failure_test_release_unused_processes() {
    let pids = SimpleQueue::<u32>::new().unwrap();
    let err = Pool::builder()
        .processes(3)
        .initializer(failing_initializer, (pids.clone(),))
        .build()
        .unwrap_err();
    assert!(
        format!("{err:#} {err:?}").contains("worker start fails"),
        "{err:#} {err:?}"
    );
    let mut started = Vec::new();
    while let Ok(pid) = pids.get_timeout(SHORT) {
        started.push(pid);
    }
    assert!(!started.is_empty());
    for pid in started {
        assert!(
            wait_until(Duration::from_secs(5), || !is_our_child(pid)),
            "worker {pid} leaked"
        );
    }
}
