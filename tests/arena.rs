//! Small shared objects live in arenas (issue 15, "Cost per object"): 20,000 `Value`s and 20,000
//! `Lock`s held at once by a process whose soft descriptor limit is 1024, 200 of each handed to one
//! worker in one call (which maps a few arenas, not 400 blocks) and changed there; a slot is reused
//! after its last handle anywhere is dropped and never while a worker, a killed worker's leftovers or
//! an undelivered message still refers to it; a killed holder corrupts nobody.
//!
//! The scenarios run inside fresh worker processes, so that no other test of this binary allocates
//! from the same arenas while they watch which slot comes back.

use multiproc::{Barrier, Event, Lock, RawValue, Value, worker};
use std::time::Duration;

const N: usize = 20_000;
const HANDED: usize = 200;
const READY: Duration = Duration::from_secs(30);

/// The descriptors of this process that are shared-object arenas.
fn arena_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("multiproc:arena"))
        .count()
}

fn lower_soft_nofile(to: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY (test): getrlimit/setrlimit on a live local struct; lowering the soft limit is allowed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = to.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// Adds a million to every value and tries every lock; returns which locks were free, and how many
/// arena descriptors this process holds with all 400 objects mapped.
#[worker]
fn change_all(values: Vec<Value<u64>>, locks: Vec<Lock>) -> (Vec<bool>, usize) {
    for v in &values {
        *v.lock().unwrap() += 1_000_000;
    }
    let free = locks
        .iter()
        .map(|l| l.try_acquire().unwrap().is_some())
        .collect();
    (free, arena_fds())
}

/// Under a soft limit of 1024: creates N values and N locks, hands HANDED of each (from the middle
/// of the runs) to one worker in one call, and returns what it saw.
#[worker]
fn many_under_a_low_limit() -> (usize, usize, usize, Vec<bool>, Vec<u64>, usize) {
    lower_soft_nofile(1024);
    let values: Vec<Value<u64>> = (0..N).map(|i| Value::new(i as u64).unwrap()).collect();
    let locks: Vec<Lock> = (0..N).map(|_| Lock::new().unwrap()).collect();
    let here = arena_fds();
    let picked = N / 2..N / 2 + HANDED;
    // One message with all 400 handles carries one descriptor per arena they live in.
    let message = multiproc::codec::encode(&(
        values[picked.clone()].to_vec(),
        locks[picked.clone()].to_vec(),
    ))
    .unwrap();
    let sent = message.fds.len();
    drop(message);
    // The first handed lock is held here while the worker runs: it must see it taken.
    let held = locks[picked.start].acquire().unwrap();
    let (free, there) = change_all::spawn(
        values[picked.clone()].to_vec(),
        locks[picked.clone()].to_vec(),
    )
    .unwrap()
    .join()
    .unwrap();
    drop(held);
    let seen: Vec<u64> = values[picked].iter().map(|v| v.get().unwrap()).collect();
    // Every other value is untouched.
    let untouched = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !(N / 2..N / 2 + HANDED).contains(i) && v.get().unwrap() == *i as u64)
        .count();
    (here, sent, there, free, seen, untouched)
}

#[multiproc::test]
fn twenty_thousand_values_and_locks_under_a_soft_limit_of_1024() {
    let (here, sent, there, free, seen, untouched) =
        many_under_a_low_limit::spawn().unwrap().join().unwrap();
    assert!(
        here > 0 && here < 100,
        "{here} arena descriptors for {N} values and {N} locks"
    );
    assert!(
        sent > 0 && sent <= 4,
        "one message with {HANDED} values and {HANDED} locks carries {sent} descriptors"
    );
    assert!(
        there > 0 && there <= 8,
        "the worker holds {there} arena descriptors for {HANDED} values and {HANDED} locks"
    );
    assert_eq!(free.len(), HANDED);
    assert!(!free[0], "the worker took a lock its parent holds");
    assert!(free[1..].iter().all(|&f| f), "a free lock was seen taken");
    let expected: Vec<u64> = (N / 2..N / 2 + HANDED)
        .map(|i| i as u64 + 1_000_000)
        .collect();
    assert_eq!(
        seen, expected,
        "the worker's changes are not the parent's values"
    );
    assert_eq!(untouched, N - HANDED, "values the worker never had changed");
}

/// Holds `v` until told to let go; returns what it read then.
#[worker]
fn hold(v: RawValue<u64>, holding: Event, release: Event) -> u64 {
    holding.set();
    assert!(release.wait_timeout(READY));
    v.get()
}

/// Holds a lock and a value's lock (half-way through an update) and `kept` until killed.
#[worker]
fn hold_and_die(lock: Lock, v: Value<u64>, kept: RawValue<u64>, holding: Event) {
    let _l = lock.acquire().unwrap();
    let mut g = v.lock().unwrap();
    *g = 666;
    assert_eq!(kept.get(), 5);
    holding.set();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Returns the values of a few new objects' addresses that came back equal to `freed` (the slot of a
/// dropped handle), each new one set to 99.
fn new_ones_at(freed: *mut u64, n: usize, keep: &mut Vec<RawValue<u64>>) -> usize {
    (0..n)
        .filter(|_| {
            let v = RawValue::new(99u64).unwrap();
            let same = v.as_ptr() == freed;
            keep.push(v);
            same
        })
        .count()
}

/// A barrier action: counts the rounds in `count` (known only to the action's stored arguments)
/// and reports the count in `seen`.
#[worker]
fn count_round(count: RawValue<u64>, seen: RawValue<u64>) {
    count.set(count.get() + 1);
    seen.set(count.get());
}

#[worker]
fn reuse_scenarios() {
    // Keeps the arena mapped here throughout, so that a freed slot is still this process's to reuse.
    let _anchor = RawValue::new(0u64).unwrap();
    let mut keep = Vec::new();

    // Dropped, never sent: the next object takes its slot.
    let a = RawValue::new(1u64).unwrap();
    let p = a.as_ptr();
    drop(a);
    assert_eq!(
        new_ones_at(p, 1, &mut keep),
        1,
        "a dropped slot was not reused"
    );

    // Sent to a worker that keeps it: not reused while the worker holds it, even with our own
    // handle dropped; reused once the worker is gone.
    let a = RawValue::new(7u64).unwrap();
    let p = a.as_ptr();
    let (holding, release) = (Event::new().unwrap(), Event::new().unwrap());
    let w = hold::spawn(a.clone(), holding.clone(), release.clone()).unwrap();
    assert!(holding.wait_timeout(READY));
    drop(a);
    assert_eq!(
        new_ones_at(p, 20, &mut keep),
        0,
        "a slot a worker holds was reused"
    );
    release.set();
    assert_eq!(w.join().unwrap(), 7, "the worker's value was overwritten");
    assert_eq!(
        new_ones_at(p, 1, &mut keep),
        1,
        "the slot stayed taken after the worker left"
    );

    // In an encoded message that is not delivered yet: kept until the message is dropped.
    let a = RawValue::new(3u64).unwrap();
    let p = a.as_ptr();
    let message = multiproc::codec::encode(&a).unwrap();
    drop(a);
    assert_eq!(
        new_ones_at(p, 20, &mut keep),
        0,
        "a slot in flight was reused"
    );
    let back: RawValue<u64> = multiproc::codec::decode(&message.bytes, message.fds).unwrap();
    assert_eq!(back.get(), 3);
    drop(back);
    assert_eq!(new_ones_at(p, 1, &mut keep), 1);

    // Only in a message stored and decoded many times (a barrier action's arguments): kept as long
    // as the stored message lives.
    let count = RawValue::new(0u64).unwrap();
    let seen = RawValue::new(0u64).unwrap();
    let p = count.as_ptr();
    let barrier = Barrier::builder(1)
        .action(count_round, (count, seen.clone()))
        .build()
        .unwrap();
    assert_eq!(
        new_ones_at(p, 20, &mut keep),
        0,
        "a slot in stored arguments was reused"
    );
    for round in 1..=3 {
        barrier.wait().unwrap();
        assert_eq!(seen.get(), round, "the action's counter was overwritten");
    }
    drop(barrier);
    assert_eq!(new_ones_at(p, 1, &mut keep), 1);

    // A killed holder: its lock and value lock are recovered, everything else is intact, and the
    // slot only it held is free again (the kernel dropped its hold with its descriptors).
    let lock = Lock::new().unwrap();
    let v = Value::new(1u64).unwrap();
    let kept = RawValue::new(5u64).unwrap();
    let p = kept.as_ptr();
    let holding = Event::new().unwrap();
    let mut child =
        hold_and_die::spawn(lock.clone(), v.clone(), kept.clone(), holding.clone()).unwrap();
    assert!(holding.wait_timeout(READY));
    drop(kept);
    assert_eq!(
        new_ones_at(p, 20, &mut keep),
        0,
        "a slot a live worker holds was reused"
    );
    child.kill().unwrap();
    assert!(child.join().is_err());
    let g = lock.acquire_timeout(READY).unwrap();
    assert!(g.owner_died());
    drop(g);
    let g = v.lock_timeout(READY).unwrap();
    assert!(g.owner_died());
    assert_eq!(*g, 666);
    drop(g);
    assert!(
        keep.iter().all(|k| k.get() == 99),
        "a killed worker corrupted other objects"
    );
    assert_eq!(
        new_ones_at(p, 1, &mut keep),
        1,
        "a killed worker's slot was never freed"
    );
}

#[multiproc::test]
fn slots_are_reused_only_when_no_process_and_no_message_holds_them() {
    reuse_scenarios::spawn().unwrap().join().unwrap();
}
