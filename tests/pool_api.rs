//! The Python `Pool` API on real worker processes: apply, apply_async (with callbacks), map (auto and
//! explicit chunks), map_async, starmap, imap / imap_unordered (lazy, endless source), initializer,
//! close/join, and the errors a user mistake gives.

mod common;

use common::is_our_child;
use multiproc::{Connection, ErrorKind, Pipe, Pool, worker};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[worker]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[worker]
fn pid_of(_x: u64) -> u32 {
    std::process::id()
}

#[worker]
fn fail_on(x: u64, bad: u64) -> u64 {
    assert_ne!(x, bad, "input {bad} is not allowed");
    x
}

#[worker]
fn reject_five(x: u64) -> u64 {
    assert_ne!(x, 5, "five is rejected");
    x
}

#[worker]
fn reversed(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

static SEED: AtomicU64 = AtomicU64::new(0);

#[worker]
fn set_seed(seed: u64) {
    SEED.store(seed, Ordering::SeqCst);
}

#[worker]
fn read_seed(x: u64) -> u64 {
    SEED.load(Ordering::SeqCst) + x
}

#[worker]
fn count_ends(ends: Vec<Connection<u32>>) -> usize {
    ends.len()
}

#[worker]
fn make_ends(pairs: usize) -> Vec<Connection<u32>> {
    (0..pairs)
        .flat_map(|_| {
            let (a, b) = Pipe::<u32>::new().unwrap();
            [a, b]
        })
        .collect()
}

/// `WorkerFn` implemented by hand, naming no registered worker: the one way left past the compile-time
/// check (closures and plain functions are compile errors: tests/ui/*_not_a_worker*.rs).
#[derive(Clone, Copy)]
struct Unregistered;

impl multiproc::WorkerFn<(u64,)> for Unregistered {
    type Output = u64;
    const ENTRY: &'static str = "no::such::worker";
}

impl multiproc::MapFn<u64> for Unregistered {
    type Output = u64;
    const ENTRY: &'static str = "no::such::worker";
}

#[multiproc::test]
fn apply_and_apply_async() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.processes(), 2);
    assert_eq!(pool.apply(square, (10,)).unwrap(), 100);
    let r = pool.apply_async(square, (20,)).unwrap();
    r.wait();
    assert!(r.ready());
    assert!(r.successful().unwrap());
    assert_eq!(r.get_timeout(Duration::from_secs(10)).unwrap(), 400);
    assert_eq!(
        r.get_timeout(Duration::from_secs(1)).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    let many: Vec<_> = (0..50u64)
        .map(|i| pool.apply_async(add, (i, 1)).unwrap())
        .collect();
    for (i, r) in many.into_iter().enumerate() {
        assert_eq!(r.get().unwrap(), i as u64 + 1);
    }
}

#[multiproc::test]
fn callbacks_run_with_value_or_error() {
    let pool = Pool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Result<u64, String>>();
    let tx2 = tx.clone();
    pool.apply_async_with(square, (7,), move |v| tx.send(Ok(*v)).unwrap(), |_| {})
        .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(49));
    let r = pool
        .apply_async_with(
            fail_on,
            (3, 3),
            |_| {},
            move |e| tx2.send(Err(e.to_string())).unwrap(),
        )
        .unwrap();
    let msg = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap_err();
    assert!(msg.contains("input 3 is not allowed"), "{msg}");
    r.wait();
    assert!(!r.successful().unwrap());
}

#[multiproc::test]
fn map_variants_keep_order() {
    let pool = Pool::new(2).unwrap();
    let want: Vec<u64> = (0..1000u64).map(|x| x * x).collect();
    assert_eq!(pool.map(square, 0..1000u64).unwrap(), want);
    assert_eq!(pool.map_chunked(square, 0..1000u64, 1).unwrap(), want);
    assert_eq!(pool.map_chunked(square, 0..1000u64, 333).unwrap(), want);
    assert_eq!(
        pool.map_async(square, 0..1000u64).unwrap().get().unwrap(),
        want
    );
    assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
    let pairs: Vec<(u64, u64)> = (0..100).map(|i| (i, 2 * i)).collect();
    let sums: Vec<u64> = (0..100).map(|i| 3 * i).collect();
    assert_eq!(pool.starmap(add, pairs.clone()).unwrap(), sums);
    assert_eq!(pool.starmap_chunked(add, pairs.clone(), 7).unwrap(), sums);
    assert_eq!(pool.starmap_async(add, pairs).unwrap().get().unwrap(), sums);
}

#[multiproc::test]
fn map_fails_with_the_tasks_panic_and_the_pool_goes_on() {
    let pool = Pool::new(2).unwrap();
    let pids: HashSet<u32> = pool.pids().into_iter().collect();
    let err = pool
        .starmap(fail_on, (0..20u64).map(|x| (x, 13)))
        .unwrap_err();
    match err.kind() {
        ErrorKind::WorkerPanicked { message, .. } => {
            assert!(message.contains("input 13 is not allowed"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    // The worker lived on: same processes, still serving.
    assert_eq!(pool.pids().into_iter().collect::<HashSet<_>>(), pids);
    assert_eq!(pool.apply(square, (4,)).unwrap(), 16);
}

#[multiproc::test]
fn large_chunks_both_ways_do_not_deadlock() {
    // 1 MiB task and result frames, more chunks than workers: every send fills a socket.
    let pool = Pool::new(2).unwrap();
    let inputs: Vec<Vec<u8>> = (0..48u8).map(|i| vec![i; 100_000]).collect();
    let out = pool.map_chunked(reversed, inputs.clone(), 10).unwrap();
    assert_eq!(out, inputs);
}

/// Long maps of plain numbers: their chunks (256 KiB) go beside the socket, through the pool's
/// side rings, lap after lap; two maps at once share the workers; every result is in its place.
#[multiproc::test]
fn long_maps_of_plain_numbers_are_whole_and_in_order() {
    let pool = Pool::new(2).unwrap();
    for n in [100_000u64, 1_000_000] {
        let got = pool.map(square, 0..n).unwrap();
        assert_eq!(got.len() as u64, n);
        assert!(got.iter().zip(0u64..).all(|(&v, x)| v == x * x));
    }
    let a = pool.map_async(square, 0..300_000u64).unwrap();
    let b = pool.map_async(square, 300_000..700_000u64).unwrap();
    let (a, b) = (a.get().unwrap(), b.get().unwrap());
    assert!(a.iter().chain(&b).zip(0u64..).all(|(&v, x)| v == x * x));
    assert_eq!(a.len() + b.len(), 700_000);
    // The rings are there: every worker maps its side block.
    for pid in pool.pids() {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        assert!(maps.contains("multiproc-side"), "worker {pid} has no side");
    }
}

#[multiproc::test]
fn imap_is_ordered_and_lazy() {
    let pool = Pool::new(2).unwrap();
    let got: Vec<u64> = pool.imap(square, 0..200u64).map(|r| r.unwrap()).collect();
    assert_eq!(got, (0..200u64).map(|x| x * x).collect::<Vec<_>>());

    let mut it = pool
        .imap(square, (0..10u64).collect::<Vec<_>>())
        .chunksize(3);
    assert_eq!(it.len(), 10);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert_eq!(it.completed(), 1);
    assert_eq!(it.len(), 9);

    // An endless source: only a window of it is ever read.
    let first: Vec<u64> = pool
        .imap(square, 0u64..)
        .window(8)
        .take(100)
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(first, (0..100u64).map(|x| x * x).collect::<Vec<_>>());

    // The window bounds what is read ahead of the results taken, in both flavours.
    for ordered in [true, false] {
        let pulled = std::cell::Cell::new(0u64);
        let source = (0u64..).inspect(|_| pulled.set(pulled.get() + 1));
        let mut it = if ordered {
            pool.imap(square, source)
        } else {
            pool.imap_unordered(square, source)
        }
        .window(8);
        for taken in 1..=50u64 {
            it.next().unwrap().unwrap();
            assert!(
                pulled.get() <= taken + 8,
                "{} read after {taken}",
                pulled.get()
            );
        }
        assert!(pulled.get() >= 50);
    }
}

#[multiproc::test]
fn imap_unordered_yields_every_result() {
    let pool = Pool::new(2).unwrap();
    let mut got: Vec<u64> = pool
        .imap_unordered(square, 0..500u64)
        .chunksize(16)
        .map(|r| r.unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..500u64).map(|x| x * x).collect::<Vec<_>>());
    let outcomes: Vec<_> = pool.imap_unordered(reject_five, 0..10u64).collect();
    assert_eq!(outcomes.len(), 10);
    assert_eq!(outcomes.iter().filter(|r| r.is_err()).count(), 1);
}

#[multiproc::test]
fn initializer_runs_in_every_worker() {
    let pool = Pool::builder()
        .processes(2)
        .initializer(set_seed, (1000,))
        .build()
        .unwrap();
    let got = pool.map_chunked(read_seed, 0..20u64, 1).unwrap();
    assert_eq!(got, (1000..1020u64).collect::<Vec<_>>());
}

#[multiproc::test]
fn close_then_join_finishes_the_work() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.join().unwrap_err().kind(), &ErrorKind::InvalidInput);
    let pending: Vec<_> = (0..20u64)
        .map(|i| pool.apply_async(square, (i,)).unwrap())
        .collect();
    let pids = pool.pids();
    pool.close();
    assert_eq!(
        pool.apply_async(square, (1,)).unwrap_err().kind(),
        &ErrorKind::Closed
    );
    pool.join().unwrap();
    for (i, r) in pending.into_iter().enumerate() {
        assert_eq!(r.get().unwrap(), (i * i) as u64);
    }
    assert!(pool.pids().is_empty());
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} left behind");
    }
}

#[multiproc::test]
fn an_unregistered_worker_is_refused_before_any_task() {
    let pool = Pool::new(1).unwrap();
    let err = pool.apply(Unregistered, (1,)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotAWorker { .. }), "{err}");
    let err = pool.map(Unregistered, 0..3).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotAWorker { .. }), "{err}");
    let mut it = pool.imap(Unregistered, 0..3);
    assert!(matches!(
        it.next().unwrap().unwrap_err().kind(),
        ErrorKind::NotAWorker { .. }
    ));
    assert!(it.next().is_none());
    assert_eq!(Pool::new(0).unwrap_err().kind(), &ErrorKind::InvalidInput);
}

#[multiproc::test]
fn cpu_count_is_positive() {
    assert!(multiproc::cpu_count() >= 1);
    let pids = pid_of(0);
    assert_eq!(pids, std::process::id());
}

#[multiproc::test]
fn a_panicking_item_fails_only_itself_inside_its_chunk() {
    let pool = Pool::new(2).unwrap();
    let mut before = pool.pids();
    let outcomes: Vec<_> = pool.imap(reject_five, 0..10u64).chunksize(4).collect();
    assert_eq!(outcomes.len(), 10);
    for (x, r) in (0..10u64).zip(&outcomes) {
        match r {
            Ok(v) => assert_eq!(*v, x, "item {x}"),
            Err(e) => {
                assert_eq!(x, 5, "only item 5 fails, not {x}: {e}");
                assert!(
                    matches!(e.kind(), ErrorKind::WorkerPanicked { message, .. } if message.contains("five is rejected")),
                    "{e}"
                );
            }
        }
    }
    assert!(outcomes[5].is_err());
    assert_eq!(
        pool.map_chunked(reject_five, 0..4u64, 4).unwrap(),
        [0, 1, 2, 3]
    );
    // No worker was replaced: a panic fails the task, not the worker.
    let mut after = pool.pids();
    before.sort_unstable();
    after.sort_unstable();
    assert_eq!(before, after);
}

#[multiproc::test]
fn callbacks_may_call_into_the_pool() {
    // Many tiny tasks fill the workers' queues deep; each callback, run on a supervisor thread while
    // its worker still holds queued jobs, submits a follow-up task and reads the pids.
    let pool = std::sync::Arc::new(Pool::new(2).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let n = 400u64;
    for i in 0..n {
        let weak = std::sync::Arc::downgrade(&pool);
        let tx = tx.clone();
        pool.apply_async_with(
            square,
            (i,),
            move |v| {
                let pool = weak.upgrade().expect("the test holds the pool");
                assert!(!pool.pids().is_empty());
                let follow = pool.apply_async(add, (*v, 1));
                drop(pool);
                let _ = tx.send(follow);
            },
            |e| panic!("{e}"),
        )
        .unwrap();
    }
    let mut got = HashSet::new();
    for _ in 0..n {
        let follow = rx.recv_timeout(Duration::from_secs(20)).unwrap().unwrap();
        got.insert(follow.get_timeout(Duration::from_secs(20)).unwrap());
    }
    let want: HashSet<u64> = (0..n).map(|i| i * i + 1).collect();
    assert_eq!(got, want);
}

#[multiproc::test]
fn a_task_with_too_many_handles_is_refused_and_the_pool_goes_on() {
    let pool = Pool::new(2).unwrap();
    // 254 pipe ends: one more than a message can carry.
    let ends: Vec<Connection<u32>> = (0..127)
        .flat_map(|_| {
            let (a, b) = Pipe::<u32>::new().unwrap();
            [a, b]
        })
        .collect();
    let fits: Vec<Connection<u32>> = (0..2)
        .flat_map(|_| {
            let (a, b) = Pipe::<u32>::new().unwrap();
            [a, b]
        })
        .collect();
    let err = pool.apply(count_ends, (ends,)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    assert_eq!(pool.apply(count_ends, (fits,)).unwrap(), 4);
    assert_eq!(pool.map(square, 0..100u64).unwrap().len(), 100);
    pool.close();
    pool.join().unwrap();
}

#[multiproc::test]
fn a_reply_with_too_many_handles_fails_its_task_and_the_worker_lives() {
    let pool = Pool::new(1).unwrap();
    let pids = pool.pids();
    assert_eq!(pool.apply(make_ends, (2,)).unwrap().len(), 4);
    // 254 pipe ends back: one more than a message can carry.
    let err = pool.apply(make_ends, (127,)).unwrap_err();
    assert!(err.to_string().contains("253"), "{err}");
    assert_eq!(pool.apply(square, (3,)).unwrap(), 9);
    assert_eq!(pool.pids(), pids);
}

/// An iterator whose `size_hint` claims an exact length it does not keep.
struct Liar(std::ops::Range<u64>, usize);

impl Iterator for Liar {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

/// A map reads an exactly sized iterable as it goes (no list of every item first) and any other
/// after collecting it; an iterator that breaks its own size_hint fails the map with a clear error,
/// never a hang, and the pool goes on.
#[multiproc::test]
fn map_reads_sized_and_unsized_iterables_and_refuses_a_lying_one() {
    let pool = Pool::new(2).unwrap();
    let n = 200_000u64;
    let sized = pool.map(square, (0..n).map(|x| x % 1000)).unwrap();
    assert_eq!(sized.len() as u64, n);
    assert!(
        sized
            .iter()
            .enumerate()
            .all(|(i, &r)| r == (i as u64 % 1000).pow(2))
    );
    let unsized_ = pool.map(square, (0..n).filter(|x| x % 3 == 0)).unwrap();
    assert_eq!(
        unsized_,
        (0..n)
            .filter(|x| x % 3 == 0)
            .map(|x| x * x)
            .collect::<Vec<_>>()
    );
    for (items, claimed) in [(0..10, 50_000), (0..90_000, 50_000)] {
        let err = pool
            .map_chunked(square, Liar(items, claimed), 1000)
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("size_hint"), "{err}");
    }
    assert_eq!(pool.map(square, 0..4u64).unwrap(), [0, 1, 4, 9]);
}
