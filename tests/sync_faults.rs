//! A process SIGKILLed while it holds a lock: the next acquirer gets it within 100 ms of the kill and
//! is told the previous holder died — for every kind of lock. Each holder is a real child process
//! that takes the lock, signals through an Event, and parks until it is killed.

use multiproc::{
    Array, BoundedSemaphore, Condition, ErrorKind, Event, Lock, Process, RLock, Semaphore, Value,
    worker,
};
use std::time::{Duration, Instant};

const PROMPT: Duration = Duration::from_millis(100);
const READY: Duration = Duration::from_secs(20);

fn park() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[worker]
fn hold_lock(lock: Lock, held: Event) {
    let _g = lock.acquire().unwrap();
    held.set();
    park()
}

#[worker]
fn hold_rlock(lock: RLock, held: Event) {
    let _a = lock.acquire().unwrap();
    let _b = lock.acquire().unwrap();
    held.set();
    park()
}

#[worker]
fn hold_value(v: Value<u64>, held: Event) {
    let mut g = v.lock().unwrap();
    *g = 13; // half-way through an update
    held.set();
    park()
}

#[worker]
fn hold_array(a: Array<u8>, held: Event) {
    let _g = a.lock().unwrap();
    held.set();
    park()
}

#[worker]
fn hold_condition(c: Condition, held: Event) {
    let _g = c.acquire().unwrap();
    held.set();
    park()
}

#[worker]
fn hold_semaphore(s: Semaphore, held: Event) {
    let _g = s.acquire();
    held.set();
    park()
}

#[worker]
fn hold_bounded(s: BoundedSemaphore, held: Event) {
    let _a = s.acquire();
    let _b = s.acquire();
    held.set();
    park()
}

/// Waits until the child holds the lock, then kills it; returns the moment of the kill.
fn kill_holder(mut p: Process<()>, held: &Event) -> (Instant, Process<()>) {
    assert!(held.wait_timeout(READY), "the holder never took the lock");
    let t = Instant::now();
    p.kill().unwrap();
    (t, p)
}

fn check_died(p: Process<()>) {
    match p.join().unwrap_err().kind() {
        ErrorKind::WorkerDied { signal, .. } => assert_eq!(signal.as_deref(), Some("SIGKILL")),
        other => panic!("unexpected {other:?}"),
    }
}

fn assert_prompt(killed: Instant) {
    let took = killed.elapsed();
    assert!(took < PROMPT, "took {took:?} after the kill");
}

#[multiproc::test]
fn lock_holder_killed() {
    let (lock, held) = (Lock::new().unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(hold_lock::spawn(lock.clone(), held.clone()).unwrap(), &held);
    let g = lock.acquire_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    assert!(g.owner_died());
    drop(g);
    assert!(!lock.acquire().unwrap().owner_died(), "reported once");
    check_died(p);
}

#[multiproc::test]
fn lock_waiter_blocked_before_the_kill_is_released() {
    let (lock, held) = (Lock::new().unwrap(), Event::new().unwrap());
    let mut p = hold_lock::spawn(lock.clone(), held.clone()).unwrap();
    assert!(held.wait_timeout(READY));
    assert!(lock.try_acquire().unwrap().is_none());
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20)); // the main thread is blocked in acquire by now
        p.kill().unwrap();
        (Instant::now(), p)
    });
    let g = lock.acquire_timeout(Duration::from_secs(10)).unwrap();
    let (killed, p) = killer.join().unwrap();
    assert!(
        killed.elapsed() < PROMPT,
        "took {:?} after the kill",
        killed.elapsed()
    );
    assert!(g.owner_died());
    drop(g);
    check_died(p);
}

#[multiproc::test]
fn rlock_holder_killed() {
    let (lock, held) = (RLock::new().unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(
        hold_rlock::spawn(lock.clone(), held.clone()).unwrap(),
        &held,
    );
    let g = lock.acquire_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    assert!(g.owner_died());
    drop(g);
    check_died(p);
}

#[multiproc::test]
fn value_lock_holder_killed() {
    let (v, held) = (Value::new(0u64).unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(hold_value::spawn(v.clone(), held.clone()).unwrap(), &held);
    let g = v.lock_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    assert!(g.owner_died());
    assert_eq!(*g, 13, "the dead holder's half-done update is visible");
    drop(g);
    check_died(p);
}

#[multiproc::test]
fn array_lock_holder_killed() {
    let (a, held) = (Array::<u8>::new(4).unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(hold_array::spawn(a.clone(), held.clone()).unwrap(), &held);
    let g = a.lock_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    assert!(g.owner_died());
    drop(g);
    check_died(p);
}

#[multiproc::test]
fn condition_lock_holder_killed() {
    let (c, held) = (Condition::new().unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(
        hold_condition::spawn(c.clone(), held.clone()).unwrap(),
        &held,
    );
    let g = c.acquire_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    assert!(g.owner_died());
    drop(g);
    check_died(p);
}

#[multiproc::test]
fn semaphore_holder_killed() {
    let (s, held) = (Semaphore::new(1).unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(
        hold_semaphore::spawn(s.clone(), held.clone()).unwrap(),
        &held,
    );
    let g = s.acquire_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    assert!(g.owner_died());
    assert_eq!(s.value(), 0);
    drop(g);
    assert_eq!(s.value(), 1, "the reclaimed permit is not duplicated");
    check_died(p);
}

#[multiproc::test]
fn bounded_semaphore_holder_killed() {
    let (s, held) = (BoundedSemaphore::new(2).unwrap(), Event::new().unwrap());
    let (killed, p) = kill_holder(hold_bounded::spawn(s.clone(), held.clone()).unwrap(), &held);
    let a = s.acquire_timeout(PROMPT).unwrap();
    assert_prompt(killed);
    let b = s.acquire_timeout(PROMPT).unwrap();
    assert!(a.owner_died() || b.owner_died());
    drop((a, b));
    assert_eq!(s.value(), 2, "both permits came back, no more");
    assert_eq!(s.release().unwrap_err().kind(), &ErrorKind::InvalidInput);
    check_died(p);
}

/// Forgets a held guard of each lock kind, drops the last handle, then keeps taking other locks on
/// the same thread: glibc's robust list runs through the forgotten mutexes, so their memory must
/// still be mapped (an unmapped one crashes the process here, or at thread exit).
#[worker]
fn forget_guards_then_drop_handles() -> u32 {
    // Made first, so that no new mapping reuses the addresses freed below.
    let other = Lock::new().unwrap();
    let v = multiproc::Value::new(1u32).unwrap();
    std::mem::forget(v.lock().unwrap());
    drop(v);
    let l = Lock::new().unwrap();
    std::mem::forget(l.acquire().unwrap());
    drop(l);
    let r = multiproc::RLock::new().unwrap();
    std::mem::forget(r.acquire().unwrap());
    drop(r);
    let mut n = 0;
    for _ in 0..3 {
        drop(other.acquire().unwrap());
        n += 1;
    }
    n
}

#[multiproc::test]
fn forgotten_guards_keep_their_mutexes_mapped() {
    let p = forget_guards_then_drop_handles::spawn().unwrap();
    assert_eq!(p.join().unwrap(), 3);
}

/// A dead holder's permits that another process already gave back with `release()` are not
/// reclaimed on top: a bounded semaphore never has more than its initial value out and free.
#[multiproc::test]
fn bounded_semaphore_reclaim_respects_its_maximum() {
    let (s, held) = (BoundedSemaphore::new(2).unwrap(), Event::new().unwrap());
    let (_, p) = kill_holder(hold_bounded::spawn(s.clone(), held.clone()).unwrap(), &held);
    check_died(p);
    s.release().unwrap(); // someone hands one back for the dead holder
    let a = s.try_acquire().expect("the released permit");
    let b = s
        .try_acquire()
        .expect("one reclaimed permit, up to the maximum");
    assert!(
        s.try_acquire().is_none(),
        "a third permit out of a BoundedSemaphore(2)"
    );
    drop((a, b));
    assert_eq!(s.value(), 2);
    assert_eq!(s.release().unwrap_err().kind(), &ErrorKind::InvalidInput);
}

#[multiproc::test]
fn semaphore_release_at_the_counter_limit_is_an_error() {
    let s = Semaphore::new(u32::MAX).unwrap();
    assert_eq!(s.release().unwrap_err().kind(), &ErrorKind::InvalidInput);
    assert_eq!(s.value(), u32::MAX, "the counter did not wrap");
}
