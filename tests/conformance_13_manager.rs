//! Python conformance (issue 13, part 2), the manager types: CPython's
//! `Lib/test/_test_multiprocessing.py` manager variants of `_TestQueue`, `_TestLock`,
//! `_TestSemaphore`, `_TestCondition`, `_TestBarrier` and `TestInitializers`, ported where one maps
//! (named `manager_<class>_<method>`), and focused tests for what Python has no test of (the set,
//! the array, a holder or party that dies). Every test crosses real processes.

use multiproc::manager::{
    ArrayProxy, BarrierProxy, ConditionProxy, JoinableQueueProxy, NamespaceProxy, Proxy,
    RLockProxy, SemaphoreProxy, SetProxy, ValueProxy,
};
use multiproc::{ErrorKind, Manager, worker};
use std::time::{Duration, Instant};

/// Python's `TIMEOUT1`-style short wait.
const SHORT: Duration = Duration::from_millis(100);
/// Long enough that a test waiting for it has failed, short enough not to hang a broken run.
const LONG: Duration = Duration::from_secs(20);

fn assert_took_about(start: Instant, expected: Duration) {
    let took = start.elapsed();
    assert!(
        took >= expected && took < expected + Duration::from_secs(2),
        "took {took:?}, expected about {expected:?}"
    );
}

// ---- _TestQueue ------------------------------------------------------------------------------

#[worker]
fn take_after(q: JoinableQueueProxy<u32>, n: u32, delay_ms: u64) -> Vec<u32> {
    std::thread::sleep(Duration::from_millis(delay_ms));
    (0..n).map(|_| q.get_timeout(LONG).expect("get")).collect()
}

/// `_TestQueue.test_put` on `manager.Queue(maxsize=6)`: six puts fill it, `full()` says so,
/// `put_nowait` / `put(block=False)` raise `Full` at once and `put(timeout=t)` after `t`; a put that
/// waits goes in once another process takes an item.
#[multiproc::test]
fn manager_queue_test_put() {
    let mgr = Manager::start().unwrap();
    let q = mgr.queue_bounded::<u32>(6).unwrap();
    assert_eq!(q.maxsize().unwrap(), 6);
    assert!(q.is_empty().unwrap());
    assert!(!q.is_full().unwrap());
    for i in 1..=6 {
        q.put(&i).unwrap();
    }
    assert!(!q.is_empty().unwrap());
    assert!(q.is_full().unwrap());
    assert_eq!(q.len().unwrap(), 6);

    let start = Instant::now();
    assert_eq!(q.try_put(&7).unwrap_err().kind(), &ErrorKind::Full);
    assert!(start.elapsed() < Duration::from_secs(1));
    let start = Instant::now();
    assert!(q.put_timeout(&7, SHORT).unwrap_err().is_timeout());
    assert_took_about(start, SHORT);

    // A blocking put waits for the child's get.
    let child = take_after::spawn(q.clone(), 2, 400).unwrap();
    let start = Instant::now();
    q.put(&7).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(child.join().unwrap(), [1, 2]);
    assert_eq!(q.len().unwrap(), 5);
    let rest: Vec<u32> = (0..5).map(|_| q.try_get().unwrap()).collect();
    assert_eq!(rest, [3, 4, 5, 6, 7]);
    assert_eq!(q.try_get().unwrap_err().kind(), &ErrorKind::Empty);
}

#[worker]
fn consume_tasks(q: JoinableQueueProxy<Option<u32>>, done: ValueProxy<u64>) {
    while let Some(_item) = q.get_timeout(LONG).expect("get") {
        std::thread::sleep(Duration::from_millis(10));
        // Not atomic across processes; only counts that join waited for every item before it.
        let _ = done.get().and_then(|n| done.set(&(n + 1)));
        q.task_done().expect("task_done");
    }
    q.task_done().expect("task_done of the sentinel");
}

/// `_TestQueue.test_task_done` on `manager.JoinableQueue()`: four processes take ten items, each
/// marking it done; `join()` returns once all are done.
#[multiproc::test]
fn manager_queue_test_task_done() {
    let mgr = Manager::start().unwrap();
    let q = mgr.joinable_queue::<Option<u32>>().unwrap();
    let done = mgr.value(0u64).unwrap();
    let workers: Vec<_> = (0..4)
        .map(|_| consume_tasks::spawn(q.clone(), done.clone()).unwrap())
        .collect();
    for i in 0..10 {
        q.put(&(Some(i))).unwrap();
    }
    q.join_timeout(LONG).unwrap();
    assert_eq!(q.unfinished().unwrap(), 0);
    assert!(q.is_empty().unwrap());
    for _ in &workers {
        q.put(&None).unwrap();
    }
    for w in workers {
        w.join().unwrap();
    }
    q.join().unwrap();
}

/// `task_done()` past the items put is `ValueError` in Python (`InvalidInput` here); `join` with
/// unfinished items times out.
#[multiproc::test]
fn manager_queue_task_done_too_many_and_join_timeout() {
    let mgr = Manager::start().unwrap();
    let q = mgr.joinable_queue::<u8>().unwrap();
    assert_eq!(q.task_done().unwrap_err().kind(), &ErrorKind::InvalidInput);
    q.put(&1).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    let start = Instant::now();
    assert!(q.join_timeout(SHORT).unwrap_err().is_timeout());
    assert_took_about(start, SHORT);
    q.task_done().unwrap();
    q.join_timeout(SHORT).unwrap();
    assert!(!q.is_full().unwrap(), "an unbounded queue is never full");
}

#[worker]
fn put_blocked(q: JoinableQueueProxy<u32>) {
    q.put(&99).expect("put");
}

/// A process blocked in `put` on a full queue that is killed leaves no item behind.
#[multiproc::test]
fn manager_queue_killed_putter_puts_nothing() {
    let mgr = Manager::start().unwrap();
    let q = mgr.queue_bounded::<u32>(1).unwrap();
    q.put(&1).unwrap();
    let mut p = put_blocked::spawn(q.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    p.kill().unwrap();
    let _ = p.join_timeout(LONG);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(
        q.get_timeout(Duration::from_millis(300))
            .unwrap_err()
            .kind(),
        &ErrorKind::Timeout
    );
}

// ---- _TestLock ---------------------------------------------------------------------------------

#[worker]
fn try_rlock(lock: RLockProxy) -> bool {
    lock.try_acquire().expect("try_acquire").is_some()
}

#[worker]
fn hold_rlock_and_die(lock: RLockProxy) {
    std::mem::forget(lock.acquire().expect("acquire"));
    std::mem::forget(lock.acquire().expect("acquire again"));
    std::process::exit(3);
}

/// `_TestLock.test_rlock` on `manager.RLock()`: three acquires, three releases, and a fourth release
/// fails; another process cannot take it while it is held.
#[multiproc::test]
fn manager_lock_test_rlock() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.rlock().unwrap();
    let a = lock.acquire().unwrap();
    let b = lock.acquire().unwrap();
    let c = lock.acquire().unwrap();
    assert_eq!(lock.depth().unwrap(), 3);
    assert!(!try_rlock::spawn(lock.clone()).unwrap().join().unwrap());
    c.release().unwrap();
    b.release().unwrap();
    assert!(lock.locked().unwrap());
    a.release().unwrap();
    assert!(!lock.locked().unwrap());
    // A fourth release: a guard cannot be released twice (it is consumed), so ask the server
    // directly; Python raises RuntimeError.
    let err = lock.core().call::<_, ()>("release", &()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(try_rlock::spawn(lock.clone()).unwrap().join().unwrap());
}

/// A release by a thread that does not hold it is Python's `RuntimeError` (`InvalidInput` here),
/// and the holder keeps the lock.
#[multiproc::test]
fn manager_rlock_release_by_non_owner_fails() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.rlock().unwrap();
    let g = lock.acquire().unwrap();
    let other = lock.clone();
    std::thread::spawn(move || {
        assert!(other.try_acquire().unwrap().is_none());
        assert!(other.acquire_timeout(SHORT).unwrap_err().is_timeout());
        assert_eq!(other.depth().unwrap(), 0);
        let err = other.core().call::<_, ()>("release", &()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    })
    .join()
    .unwrap();
    assert_eq!(lock.depth().unwrap(), 1);
    g.release().unwrap();
    assert!(!lock.locked().unwrap());
}

/// A process that dies holding the RLock (twice) frees it: the server releases it whatever the
/// depth.
#[multiproc::test]
fn manager_rlock_released_when_holder_dies() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.rlock().unwrap();
    let p = hold_rlock_and_die::spawn(lock.clone()).unwrap();
    assert!(p.join().is_err());
    let g = lock.acquire_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(lock.depth().unwrap(), 1);
    g.release().unwrap();
}

// ---- _TestSemaphore ----------------------------------------------------------------------------

fn check_semaphore(sem: &SemaphoreProxy) {
    assert_eq!(sem.value().unwrap(), 2);
    sem.acquire().unwrap();
    assert_eq!(sem.value().unwrap(), 1);
    sem.acquire().unwrap();
    assert_eq!(sem.value().unwrap(), 0);
    assert!(!sem.try_acquire().unwrap());
    assert_eq!(sem.value().unwrap(), 0);
    sem.release().unwrap();
    assert_eq!(sem.value().unwrap(), 1);
    sem.release().unwrap();
    assert_eq!(sem.value().unwrap(), 2);
}

/// `_TestSemaphore.test_semaphore` on `manager.Semaphore(2)`.
#[multiproc::test]
fn manager_semaphore_test_semaphore() {
    let mgr = Manager::start().unwrap();
    let sem = mgr.semaphore(2).unwrap();
    check_semaphore(&sem);
    sem.release().unwrap();
    assert_eq!(sem.value().unwrap(), 3);
    sem.release().unwrap();
    assert_eq!(sem.value().unwrap(), 4);
    assert_eq!(sem.bound().unwrap(), None);
}

/// `_TestSemaphore.test_bounded_semaphore` on `manager.BoundedSemaphore(2)`, with the check CPython
/// comments out: a release past the initial value is `ValueError` (`InvalidInput`), no change.
#[multiproc::test]
fn manager_semaphore_test_bounded_semaphore() {
    let mgr = Manager::start().unwrap();
    let sem = mgr.bounded_semaphore(2).unwrap();
    check_semaphore(&sem);
    assert_eq!(sem.release().unwrap_err().kind(), &ErrorKind::InvalidInput);
    assert_eq!(sem.value().unwrap(), 2);
    sem.acquire().unwrap();
    assert_eq!(
        sem.release_n(2).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    assert_eq!(sem.value().unwrap(), 1);
    assert_eq!(sem.bound().unwrap(), Some(2));
}

#[worker]
fn release_later(sem: SemaphoreProxy, delay_ms: u64) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    sem.release().expect("release");
}

/// `_TestSemaphore.test_timeout` on `manager.Semaphore(0)`: a non-blocking acquire fails at once,
/// a timed one after its timeout; a release from another process wakes a waiter.
#[multiproc::test]
fn manager_semaphore_test_timeout() {
    let mgr = Manager::start().unwrap();
    let sem = mgr.semaphore(0).unwrap();
    let start = Instant::now();
    assert!(!sem.try_acquire().unwrap());
    assert!(start.elapsed() < Duration::from_secs(1));
    let start = Instant::now();
    assert!(sem.acquire_timeout(SHORT).unwrap_err().is_timeout());
    assert_took_about(start, SHORT);
    let p = release_later::spawn(sem.clone(), 100).unwrap();
    sem.acquire_timeout(LONG).unwrap();
    p.join().unwrap();
    assert_eq!(sem.value().unwrap(), 0);
}

// ---- _TestCondition ----------------------------------------------------------------------------

/// CPython's `_TestCondition.f`: take the lock, say so, wait, say woken, release.
#[worker]
fn cond_f(cond: ConditionProxy, sleeping: SemaphoreProxy, woken: SemaphoreProxy, timeout_ms: u64) {
    let g = cond.acquire().expect("acquire");
    sleeping.release().expect("sleeping");
    if timeout_ms == 0 {
        cond.wait().expect("wait");
    } else {
        cond.wait_timeout(Duration::from_millis(timeout_ms))
            .expect("wait_timeout");
    }
    woken.release().expect("woken");
    g.release().expect("release");
}

fn reaches(f: impl Fn() -> u64, value: u64) {
    let deadline = Instant::now() + LONG;
    while f() != value {
        assert!(Instant::now() < deadline, "never reached {value}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `_TestCondition.test_notify` on `manager.Condition()`: two sleepers (one process, one thread);
/// each `notify` wakes exactly one.
#[multiproc::test]
fn manager_condition_test_notify() {
    let mgr = Manager::start().unwrap();
    let cond = mgr.condition().unwrap();
    let sleeping = mgr.semaphore(0).unwrap();
    let woken = mgr.semaphore(0).unwrap();
    let p = cond_f::spawn(cond.clone(), sleeping.clone(), woken.clone(), 0).unwrap();
    let (c, s, w) = (cond.clone(), sleeping.clone(), woken.clone());
    let t = std::thread::spawn(move || cond_f(c, s, w, 0));
    sleeping.acquire_timeout(LONG).unwrap();
    sleeping.acquire_timeout(LONG).unwrap();
    reaches(|| cond.n_waiting().unwrap() as u64, 2);
    std::thread::sleep(SHORT);
    assert_eq!(woken.value().unwrap(), 0);

    let g = cond.acquire().unwrap();
    cond.notify().unwrap();
    g.release().unwrap();
    reaches(|| woken.value().unwrap(), 1);
    std::thread::sleep(SHORT);
    assert_eq!(woken.value().unwrap(), 1);

    let g = cond.acquire().unwrap();
    cond.notify().unwrap();
    g.release().unwrap();
    reaches(|| woken.value().unwrap(), 2);
    p.join().unwrap();
    t.join().unwrap();
    assert_eq!(cond.n_waiting().unwrap(), 0);
    assert!(!cond.locked().unwrap());
}

/// `_TestCondition.test_notify_all`: sleepers with a timeout all time out; then six sleepers
/// without one all wake on one `notify_all`.
#[multiproc::test]
fn manager_condition_test_notify_all() {
    let mgr = Manager::start().unwrap();
    let cond = mgr.condition().unwrap();
    let sleeping = mgr.semaphore(0).unwrap();
    let woken = mgr.semaphore(0).unwrap();
    let ps: Vec<_> = (0..3)
        .map(|_| cond_f::spawn(cond.clone(), sleeping.clone(), woken.clone(), 100).unwrap())
        .collect();
    for _ in 0..3 {
        sleeping.acquire_timeout(LONG).unwrap();
    }
    for _ in 0..3 {
        woken.acquire_timeout(LONG).unwrap();
    }
    assert_eq!(woken.value().unwrap(), 0);
    for p in ps {
        p.join().unwrap();
    }
    assert_eq!(cond.n_waiting().unwrap(), 0);

    let ps: Vec<_> = (0..6)
        .map(|_| cond_f::spawn(cond.clone(), sleeping.clone(), woken.clone(), 0).unwrap())
        .collect();
    for _ in 0..6 {
        sleeping.acquire_timeout(LONG).unwrap();
    }
    reaches(|| cond.n_waiting().unwrap() as u64, 6);
    std::thread::sleep(SHORT);
    assert_eq!(woken.value().unwrap(), 0);
    let g = cond.acquire().unwrap();
    assert_eq!(cond.notify_all().unwrap(), 6);
    g.release().unwrap();
    reaches(|| woken.value().unwrap(), 6);
    for p in ps {
        p.join().unwrap();
    }
}

/// `_TestCondition.test_notify_n`: `notify(n)` wakes `n` of the sleepers, in arrival order.
#[multiproc::test]
fn manager_condition_test_notify_n() {
    let mgr = Manager::start().unwrap();
    let cond = mgr.condition().unwrap();
    let sleeping = mgr.semaphore(0).unwrap();
    let woken = mgr.semaphore(0).unwrap();
    let ps: Vec<_> = (0..4)
        .map(|_| cond_f::spawn(cond.clone(), sleeping.clone(), woken.clone(), 0).unwrap())
        .collect();
    for _ in 0..4 {
        sleeping.acquire_timeout(LONG).unwrap();
    }
    reaches(|| cond.n_waiting().unwrap() as u64, 4);
    let g = cond.acquire().unwrap();
    assert_eq!(cond.notify_n(3).unwrap(), 3);
    g.release().unwrap();
    reaches(|| woken.value().unwrap(), 3);
    std::thread::sleep(SHORT);
    assert_eq!(woken.value().unwrap(), 3);
    assert_eq!(cond.n_waiting().unwrap(), 1);
    let g = cond.acquire().unwrap();
    assert_eq!(cond.notify_n(3).unwrap(), 1);
    g.release().unwrap();
    reaches(|| woken.value().unwrap(), 4);
    for p in ps {
        p.join().unwrap();
    }
}

/// `_TestCondition.test_timeout`: `wait(t)` without a notify returns false after `t`, holding
/// the lock again.
#[multiproc::test]
fn manager_condition_test_timeout() {
    let mgr = Manager::start().unwrap();
    let cond = mgr.condition().unwrap();
    let g = cond.acquire().unwrap();
    let start = Instant::now();
    assert!(!cond.wait_timeout(SHORT).unwrap());
    assert_took_about(start, SHORT);
    assert!(cond.locked().unwrap());
    g.release().unwrap();
    // Without the lock: Python's RuntimeError.
    assert_eq!(
        cond.wait_timeout(SHORT).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    assert_eq!(cond.notify().unwrap_err().kind(), &ErrorKind::InvalidInput);
}

#[worker]
fn cond_bump(cond: ConditionProxy, state: ValueProxy<u32>) {
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(20));
        let g = cond.acquire().expect("acquire");
        state.set(&(state.get().expect("get") + 1)).expect("set");
        cond.notify().expect("notify");
        g.release().expect("release");
    }
}

/// `_TestCondition.test_waitfor`: `wait_for(predicate)` returns once another process made it
/// true; `test_waitfor_timeout`: a predicate that stays false gives false after the timeout.
#[multiproc::test]
fn manager_condition_test_waitfor() {
    let mgr = Manager::start().unwrap();
    let cond = mgr.condition().unwrap();
    let state = mgr.value(0u32).unwrap();
    let p = cond_bump::spawn(cond.clone(), state.clone()).unwrap();
    {
        let _g = cond.acquire().unwrap();
        cond.wait_for(|| state.get().unwrap() == 4).unwrap();
        assert_eq!(state.get().unwrap(), 4);
    }
    p.join().unwrap();
    let _g = cond.acquire().unwrap();
    let start = Instant::now();
    assert!(
        !cond
            .wait_for_timeout(|| state.get().unwrap() == 5, SHORT)
            .unwrap()
    );
    assert_took_about(start, SHORT);
}

#[worker]
fn cond_wait_and_die(cond: ConditionProxy, sleeping: SemaphoreProxy) {
    let g = cond.acquire().expect("acquire");
    let _g2 = cond.acquire().expect("acquire again");
    sleeping.release().expect("sleeping");
    std::mem::forget(g);
    std::mem::forget(_g2);
    std::process::exit(5);
}

/// A process that dies holding the condition's lock frees it.
#[multiproc::test]
fn manager_condition_lock_released_when_holder_dies() {
    let mgr = Manager::start().unwrap();
    let cond = mgr.condition().unwrap();
    let sleeping = mgr.semaphore(0).unwrap();
    let p = cond_wait_and_die::spawn(cond.clone(), sleeping.clone()).unwrap();
    assert!(p.join().is_err());
    sleeping.acquire_timeout(LONG).unwrap();
    let g = cond.acquire_timeout(Duration::from_secs(5)).unwrap();
    g.release().unwrap();
}

// ---- _TestBarrier ------------------------------------------------------------------------------

#[worker]
fn barrier_rounds(
    barrier: BarrierProxy,
    rounds: u32,
    log: multiproc::manager::ListProxy<(u32, u64)>,
) {
    for r in 0..rounds {
        let index = barrier.wait_timeout(LONG).expect("wait");
        log.append(&(r, index)).expect("append");
    }
}

/// `_TestBarrier.test_barrier` / `test_barrier_10` / `test_wait_return`: five processes pass a
/// barrier of five ten times; each round hands out the indexes 0..5 once each.
#[multiproc::test]
fn manager_barrier_test_barrier_10() {
    const N: u64 = 5;
    const ROUNDS: u32 = 10;
    let mgr = Manager::start().unwrap();
    let barrier = mgr.barrier(N).unwrap();
    assert_eq!(barrier.parties().unwrap(), N);
    let log = mgr.list::<(u32, u64)>().unwrap();
    let ps: Vec<_> = (0..N)
        .map(|_| barrier_rounds::spawn(barrier.clone(), ROUNDS, log.clone()).unwrap())
        .collect();
    for p in ps {
        p.join().unwrap();
    }
    let log = log.to_vec().unwrap();
    for r in 0..ROUNDS {
        let mut idx: Vec<u64> = log.iter().filter(|e| e.0 == r).map(|e| e.1).collect();
        idx.sort();
        assert_eq!(idx, (0..N).collect::<Vec<_>>(), "round {r}");
    }
    assert_eq!(barrier.n_waiting().unwrap(), 0);
    assert!(!barrier.is_broken().unwrap());
}

#[worker]
fn barrier_wait_kind(barrier: BarrierProxy) -> String {
    match barrier.wait_timeout(LONG) {
        Ok(i) => format!("passed {i}"),
        Err(e) => format!("{:?}", e.kind()),
    }
}

/// `_TestBarrier.test_abort`: waiters get `BrokenBarrierError` when the barrier is aborted, and so
/// do later waiters.
#[multiproc::test]
fn manager_barrier_test_abort() {
    let mgr = Manager::start().unwrap();
    let barrier = mgr.barrier(3).unwrap();
    let ps: Vec<_> = (0..2)
        .map(|_| barrier_wait_kind::spawn(barrier.clone()).unwrap())
        .collect();
    reaches(|| barrier.n_waiting().unwrap(), 2);
    barrier.abort().unwrap();
    for p in ps {
        assert_eq!(p.join().unwrap(), "BrokenBarrier");
    }
    assert!(barrier.is_broken().unwrap());
    assert_eq!(
        barrier.wait().unwrap_err().kind(),
        &ErrorKind::BrokenBarrier
    );
}

/// `_TestBarrier.test_reset`: a reset breaks the current waiters, then the barrier works again.
#[multiproc::test]
fn manager_barrier_test_reset() {
    let mgr = Manager::start().unwrap();
    let barrier = mgr.barrier(2).unwrap();
    let p = barrier_wait_kind::spawn(barrier.clone()).unwrap();
    reaches(|| barrier.n_waiting().unwrap(), 1);
    barrier.reset().unwrap();
    assert_eq!(p.join().unwrap(), "BrokenBarrier");
    assert!(!barrier.is_broken().unwrap());
    // Usable again: after `abort` too (`test_abort_and_reset`).
    barrier.abort().unwrap();
    barrier.reset().unwrap();
    let p = barrier_wait_kind::spawn(barrier.clone()).unwrap();
    let mine = barrier.wait_timeout(LONG).unwrap();
    let theirs = p.join().unwrap();
    let mut both = [format!("passed {mine}"), theirs];
    both.sort();
    assert_eq!(both, ["passed 0", "passed 1"]);
}

/// `_TestBarrier.test_timeout`: a waiter that times out breaks the barrier for the others.
#[multiproc::test]
fn manager_barrier_test_timeout() {
    let mgr = Manager::start().unwrap();
    let barrier = mgr.barrier(3).unwrap();
    let p = barrier_wait_kind::spawn(barrier.clone()).unwrap();
    reaches(|| barrier.n_waiting().unwrap(), 1);
    let start = Instant::now();
    assert!(barrier.wait_timeout(SHORT).unwrap_err().is_timeout());
    assert_took_about(start, SHORT);
    assert_eq!(p.join().unwrap(), "BrokenBarrier");
    assert!(barrier.is_broken().unwrap());
}

/// `_TestBarrier.test_single_thread`: a barrier of one never waits.
#[multiproc::test]
fn manager_barrier_test_single_thread() {
    let mgr = Manager::start().unwrap();
    let barrier = mgr.barrier(1).unwrap();
    for _ in 0..3 {
        assert_eq!(barrier.wait().unwrap(), 0);
    }
    assert_eq!(mgr.barrier(0).unwrap_err().kind(), &ErrorKind::InvalidInput);
}

/// A party killed while it waits breaks the barrier, so the others do not wait forever.
#[multiproc::test]
fn manager_barrier_killed_party_breaks_it() {
    let mgr = Manager::start().unwrap();
    let barrier = mgr.barrier(3).unwrap();
    let mut victim = barrier_wait_kind::spawn(barrier.clone()).unwrap();
    reaches(|| barrier.n_waiting().unwrap(), 1);
    let other = barrier_wait_kind::spawn(barrier.clone()).unwrap();
    reaches(|| barrier.n_waiting().unwrap(), 2);
    victim.kill().unwrap();
    let _ = victim.join_timeout(LONG);
    assert_eq!(other.join().unwrap(), "BrokenBarrier");
    assert!(barrier.is_broken().unwrap());
}

// ---- set, Array --------------------------------------------------------------------------------

#[worker]
fn add_to_set(s: SetProxy<String>, from: u32) {
    for i in from..from + 10 {
        s.add(&format!("k{}", i % 15)).expect("add");
    }
}

/// A set filled by two processes (overlapping items count once): add, discard, remove (`NotFound`
/// for a missing item: Python's `KeyError`), contains, len, snapshot, pop.
#[multiproc::test]
fn manager_set_add_discard_remove() {
    let mgr = Manager::start().unwrap();
    let s = mgr.set::<String>().unwrap();
    let a = add_to_set::spawn(s.clone(), 0).unwrap();
    let b = add_to_set::spawn(s.clone(), 5).unwrap();
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(s.len().unwrap(), 15);
    let mut all = s.to_vec().unwrap();
    all.sort();
    let mut want: Vec<String> = (0..15).map(|i| format!("k{i}")).collect();
    want.sort();
    assert_eq!(all, want);
    assert!(s.contains(&("k3".to_string())).unwrap());
    assert!(!s.add(&("k3".to_string())).unwrap());
    assert!(s.discard(&("k3".to_string())).unwrap());
    assert!(!s.discard(&("k3".to_string())).unwrap());
    assert_eq!(
        s.remove(&("k3".to_string())).unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    s.remove(&("k4".to_string())).unwrap();
    assert_eq!(s.len().unwrap(), 13);
    let popped = s.pop().unwrap().unwrap();
    assert!(!s.contains(&popped).unwrap());
    s.clear().unwrap();
    assert!(s.is_empty().unwrap());
    assert_eq!(s.pop().unwrap(), None);
    let from = mgr.set_from([1u8, 2, 2, 3]).unwrap();
    assert_eq!(from.len().unwrap(), 3);
    let looked: SetProxy<u8> = {
        mgr.publish("s", &from).unwrap();
        mgr.lookup("s").unwrap()
    };
    assert!(looked.contains(&2).unwrap());
    assert_eq!(
        mgr.lookup::<SetProxy<String>>("s").unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
}

#[worker]
fn fill_array(arr: ArrayProxy<i64>, i: usize) {
    arr.set(i, &((i * i) as i64)).expect("set");
}

/// `manager.Array('q', [0] * 8)`: each process sets its slot; the length is fixed (an index past it
/// is Python's `IndexError`, `InvalidInput` here).
#[multiproc::test]
fn manager_array_get_set_len() {
    let mgr = Manager::start().unwrap();
    let arr = mgr.array(vec![0i64; 8]).unwrap();
    let ps: Vec<_> = (0..8)
        .map(|i| fill_array::spawn(arr.clone(), i).unwrap())
        .collect();
    for p in ps {
        p.join().unwrap();
    }
    assert_eq!(arr.to_vec().unwrap(), [0, 1, 4, 9, 16, 25, 36, 49]);
    assert_eq!(arr.len().unwrap(), 8);
    assert_eq!(arr.get(7).unwrap(), 49);
    assert_eq!(arr.get(8).unwrap_err().kind(), &ErrorKind::InvalidInput);
    assert_eq!(arr.set(8, &1).unwrap_err().kind(), &ErrorKind::InvalidInput);
    assert_eq!(arr.len().unwrap(), 8);
    assert_eq!(arr.iter().unwrap().sum::<i64>(), 140);
}

// ---- TestInitializers --------------------------------------------------------------------------

#[worker]
fn init_ns(ns: NamespaceProxy) {
    let n: i64 = ns.get("test").expect("get");
    ns.set("test", &(n + 1)).expect("set");
    ns.set("server_pid", &std::process::id()).expect("set pid");
}

#[worker]
fn init_fails(why: String) {
    panic!("initializer refused: {why}");
}

/// `TestInitializers.test_manager_initializer`: `m.start(initializer, (ns,))` runs the initializer
/// once, in the server process, before `start` returns; one that panics makes `start` fail with
/// its message.
#[multiproc::test]
fn manager_initializers_test_manager_initializer() {
    let outer = Manager::start().unwrap();
    let ns = outer.namespace().unwrap();
    ns.set("test", &0i64).unwrap();
    let m = Manager::builder()
        .initializer(init_ns, (ns.clone(),))
        .start()
        .unwrap();
    assert_eq!(ns.get::<i64>("test").unwrap(), 1);
    assert_eq!(ns.get::<u32>("server_pid").unwrap(), m.pid().unwrap());
    m.shutdown().unwrap();

    let err = Manager::builder()
        .initializer(init_fails, ("no config".to_string(),))
        .start()
        .unwrap_err();
    assert!(
        err.to_string().contains("initializer refused: no config"),
        "{err}"
    );
}
