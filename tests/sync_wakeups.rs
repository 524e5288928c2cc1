//! Cross-process wake-ups of Event, Condition, Barrier and Semaphore with several waiters, and
//! timeouts that return on time.

use multiproc::{Barrier, BoundedSemaphore, Condition, ErrorKind, Event, Semaphore, Value, worker};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);
const SHORT: Duration = Duration::from_millis(50);

/// A timeout must not return early, nor absurdly late (a loaded machine gets generous slack).
fn on_time(started: Instant) {
    let took = started.elapsed();
    assert!(took >= SHORT, "returned early, after {took:?}");
    assert!(
        took < SHORT + Duration::from_secs(2),
        "returned late, after {took:?}"
    );
}

#[worker]
fn event_waiter(go: Event, arrived: Semaphore) -> bool {
    arrived.release().unwrap();
    go.wait_timeout(LONG)
}

#[worker]
fn condition_waiter(cond: Condition, ready: Value<bool>, arrived: Semaphore) -> bool {
    let mut g = cond.acquire().unwrap();
    arrived.release().unwrap();
    g.wait_for(|| ready.get().unwrap(), Some(LONG)).unwrap()
}

#[worker]
fn barrier_party(b: Barrier, rounds: u32) -> Vec<u32> {
    (0..rounds).map(|_| b.wait_timeout(LONG).unwrap()).collect()
}

#[worker]
fn barrier_broken(b: Barrier) -> String {
    match b.wait_timeout(LONG) {
        Ok(i) => format!("passed as {i}"),
        Err(e) => format!("{:?}", e.kind()),
    }
}

#[worker]
fn semaphore_waiter(s: Semaphore) -> bool {
    match s.acquire_timeout(LONG) {
        Ok(g) => {
            g.forget();
            true
        }
        Err(_) => false,
    }
}

fn wait_arrivals(arrived: &Semaphore, n: usize) {
    for _ in 0..n {
        arrived
            .acquire_timeout(LONG)
            .expect("a waiter never started")
            .forget();
    }
}

#[multiproc::test]
fn event_wakes_every_waiting_process() {
    let (go, arrived) = (Event::new().unwrap(), Semaphore::new(0).unwrap());
    let ps: Vec<_> = (0..3)
        .map(|_| event_waiter::spawn(go.clone(), arrived.clone()).unwrap())
        .collect();
    wait_arrivals(&arrived, 3);
    assert!(!go.is_set());
    go.set();
    for p in ps {
        assert!(p.join().unwrap(), "a waiter timed out instead of waking");
    }
    go.clear();
    let t = Instant::now();
    assert!(!go.wait_timeout(SHORT));
    on_time(t);
}

#[multiproc::test]
fn condition_notify_all_wakes_every_waiting_process() {
    let cond = Condition::new().unwrap();
    let ready = Value::new(false).unwrap();
    let arrived = Semaphore::new(0).unwrap();
    let ps: Vec<_> = (0..3)
        .map(|_| condition_waiter::spawn(cond.clone(), ready.clone(), arrived.clone()).unwrap())
        .collect();
    wait_arrivals(&arrived, 3);
    {
        let _g = cond.acquire().unwrap();
        ready.set(true).unwrap();
        cond.notify_all();
    }
    for p in ps {
        assert!(p.join().unwrap(), "a waiter timed out instead of waking");
    }
    let mut g = cond.acquire().unwrap();
    let t = Instant::now();
    assert!(!g.wait_timeout(SHORT).unwrap());
    on_time(t);
    let t = Instant::now();
    assert!(!g.wait_for(|| false, Some(SHORT)).unwrap());
    on_time(t);
}

#[multiproc::test]
fn barrier_releases_every_round_together() {
    let b = Barrier::new(4).unwrap();
    let rounds = 5;
    let ps: Vec<_> = (0..3)
        .map(|_| barrier_party::spawn(b.clone(), rounds).unwrap())
        .collect();
    let mine: Vec<u32> = (0..rounds).map(|_| b.wait_timeout(LONG).unwrap()).collect();
    let mut all = vec![mine];
    for p in ps {
        all.push(p.join().unwrap());
    }
    for round in 0..rounds as usize {
        let mut idx: Vec<u32> = all.iter().map(|v| v[round]).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2, 3], "round {round}");
    }
    assert_eq!(b.n_waiting(), 0);
}

#[multiproc::test]
fn barrier_timeout_breaks_it_for_the_other_waiters() {
    let b = Barrier::new(3).unwrap();
    let other = barrier_broken::spawn(b.clone()).unwrap();
    let t = Instant::now();
    let deadline = Instant::now() + LONG;
    while b.n_waiting() == 0 {
        assert!(Instant::now() < deadline, "the other party never arrived");
        std::thread::yield_now();
    }
    let t0 = Instant::now();
    let err = b.wait_timeout(SHORT).unwrap_err();
    on_time(t0);
    assert!(err.is_timeout());
    assert!(b.is_broken());
    assert_eq!(other.join().unwrap(), "BrokenBarrier");
    assert_eq!(b.wait().unwrap_err().kind(), &ErrorKind::BrokenBarrier);
    assert!(t.elapsed() < LONG);
}

#[multiproc::test]
fn semaphore_releases_wake_waiting_processes() {
    let s = Semaphore::new(0).unwrap();
    let ps: Vec<_> = (0..3)
        .map(|_| semaphore_waiter::spawn(s.clone()).unwrap())
        .collect();
    for _ in 0..3 {
        s.release().unwrap();
    }
    for p in ps {
        assert!(p.join().unwrap());
    }
    assert_eq!(s.value(), 0);
    let t = Instant::now();
    assert!(s.acquire_timeout(SHORT).unwrap_err().is_timeout());
    on_time(t);
}

#[multiproc::test]
fn bounded_semaphore_refuses_over_release() {
    let s = BoundedSemaphore::new(2).unwrap();
    let err = s.release().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.to_string().contains("too many"), "{err}");
    let g = s.acquire();
    s.acquire().forget();
    assert_eq!(s.value(), 0);
    s.release().unwrap();
    drop(g);
    assert_eq!(s.value(), 2);
    assert!(s.release().is_err());
}

/// `set` immediately followed by `clear` still releases a process already waiting (Python: the
/// waiter's `wait()` returns True).
#[multiproc::test]
fn event_set_then_clear_releases_a_sleeping_waiter() {
    for round in 0..3 {
        let go = Event::new().unwrap();
        let arrived = Semaphore::new(0).unwrap();
        let p = event_waiter::spawn(go.clone(), arrived.clone()).unwrap();
        wait_arrivals(&arrived, 1);
        // The Debug form counts the waiters: one has read the event's state and is (about to be)
        // asleep on it.
        let deadline = Instant::now() + LONG;
        while !format!("{go:?}").contains("waiters: 1") {
            assert!(
                Instant::now() < deadline,
                "round {round}: the waiter never waited"
            );
            std::thread::yield_now();
        }
        go.set();
        go.clear();
        assert!(p.join().unwrap(), "round {round}: the wake-up was lost");
        assert!(!go.is_set());
    }
}

/// A break (here `abort()`) racing with the last arrival is never erased by the release: once
/// aborted, a barrier stays broken, and each waiter either passed or saw it broken.
#[multiproc::test]
fn barrier_abort_racing_the_last_arrival_is_not_lost() {
    for _ in 0..300 {
        let b = Barrier::new(2).unwrap();
        let (b1, b2) = (b.clone(), b.clone());
        let waiter = std::thread::spawn(move || b1.wait_timeout(LONG));
        let aborter = std::thread::spawn(move || b2.abort());
        let mine = b.wait_timeout(LONG);
        aborter.join().unwrap();
        let theirs = waiter.join().unwrap();
        assert!(b.is_broken(), "abort() was erased by the release");
        for r in [mine, theirs] {
            if let Err(e) = r {
                assert_eq!(e.kind(), &ErrorKind::BrokenBarrier, "{e}");
            }
        }
    }
}
