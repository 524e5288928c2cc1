//! Pool supervision under real faults: a worker that aborts, one SIGKILLed from outside while busy, a
//! task past `task_timeout`, a panicking initializer, worker recycling by `maxtasksperchild`, terminate
//! with tasks in flight, and `get_timeout`. None of them may hang the pool (Python's bpo-22393).

mod common;

use common::is_our_child;
use multiproc::{Connection, ErrorKind, Pipe, Pool, worker};
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

#[worker]
fn abort_at_617(x: u64) -> u64 {
    if x == 617 {
        std::process::abort();
    }
    x + 1
}
#[worker]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[worker]
fn pid_of(_x: u64) -> u32 {
    std::process::id()
}

/// Says which process took the task, then works for `ms` milliseconds.
#[worker]
fn report_then_sleep(conn: Connection<u32>, ms: u64) -> u64 {
    conn.send(&std::process::id()).expect("send pid");
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[worker]
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[worker]
fn failing_init(log: String) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log)
        .expect("open log");
    // One write per line: both workers append at once, and `writeln!` may write in pieces.
    f.write_all(format!("{}\n", std::process::id()).as_bytes())
        .expect("write log");
    panic!("cannot connect to the database");
}

#[multiproc::test]
fn an_aborting_worker_fails_only_its_task() {
    let pool = Pool::new(2).unwrap();
    let results: Vec<_> = pool.imap(abort_at_617, 0..1000u64).collect();
    assert_eq!(results.len(), 1000);
    for (x, r) in results.into_iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(v, x as u64 + 1),
            Err(e) => {
                assert_eq!(x, 617, "only input 617 fails, not {x}: {e}");
                match e.kind() {
                    ErrorKind::WorkerDied { signal, .. } => {
                        assert_eq!(signal.as_deref(), Some("SIGABRT"), "{e}")
                    }
                    other => panic!("expected WorkerDied, got {other:?}: {e}"),
                }
            }
        }
    }
    // The dead worker was replaced: the pool still serves, with all its workers.
    assert_eq!(
        pool.map(plus_one, 0..100u64).unwrap(),
        (1..=100).collect::<Vec<_>>()
    );
    // The replacement starts while the other worker serves: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.pids().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pool.pids().len(), 2);
}

#[multiproc::test]
fn a_worker_killed_from_outside_fails_its_task_and_is_replaced() {
    let pool = Pool::new(2).unwrap();
    let before: HashSet<u32> = pool.pids().into_iter().collect();
    let (here, there) = Pipe::<u32>::new().unwrap();
    let r = pool
        .apply_async(report_then_sleep, (there, 60_000))
        .unwrap();
    let pid = here.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(before.contains(&pid));
    // SAFETY: sending SIGKILL to our own pool worker.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let err = r.get_timeout(Duration::from_secs(10)).unwrap_err();
    match err.kind() {
        ErrorKind::WorkerDied {
            pid: dead, signal, ..
        } => {
            assert_eq!(*dead as u32, pid);
            assert_eq!(signal.as_deref(), Some("SIGKILL"));
        }
        other => panic!("expected WorkerDied, got {other:?}: {err}"),
    }
    assert_eq!(pool.apply(plus_one, (1,)).unwrap(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.pids().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let after: HashSet<u32> = pool.pids().into_iter().collect();
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&pid));
    assert!(!is_our_child(pid), "the killed worker was not reaped");
}

#[multiproc::test]
fn tasks_queued_behind_a_dying_worker_still_run() {
    let pool = Pool::new(1).unwrap();
    let doomed = pool.apply_async(abort_at_617, (617,)).unwrap();
    let queued: Vec<_> = (0..5u64)
        .map(|i| pool.apply_async(plus_one, (i,)).unwrap())
        .collect();
    assert!(matches!(
        doomed.get().unwrap_err().kind(),
        ErrorKind::WorkerDied { .. }
    ));
    for (i, r) in queued.into_iter().enumerate() {
        assert_eq!(r.get().unwrap(), i as u64 + 1);
    }
}

#[multiproc::test]
fn join_returns_when_the_last_task_dies() {
    let pool = Pool::new(1).unwrap();
    let r = pool.apply_async(abort_at_617, (617,)).unwrap();
    pool.close();
    pool.join().unwrap();
    assert!(matches!(
        r.get().unwrap_err().kind(),
        ErrorKind::WorkerDied { .. }
    ));
    assert!(pool.pids().is_empty());
}

#[multiproc::test]
fn join_runs_the_tasks_queued_behind_a_worker_that_dies() {
    // Both tasks sit on the one worker: when it dies, the second goes back to the queue while `join`
    // waits, and must run on the replacement rather than be lost.
    for _ in 0..3 {
        let pool = Pool::new(1).unwrap();
        let doomed = pool.apply_async(abort_at_617, (617,)).unwrap();
        let queued = pool.apply_async(plus_one, (1,)).unwrap();
        pool.close();
        pool.join().unwrap();
        assert!(matches!(
            doomed
                .get_timeout(Duration::from_secs(10))
                .unwrap_err()
                .kind(),
            ErrorKind::WorkerDied { .. }
        ));
        assert_eq!(queued.get_timeout(Duration::from_secs(10)).unwrap(), 2);
    }
}

#[multiproc::test]
fn task_timeout_kills_and_replaces_the_worker() {
    let pool = Pool::builder()
        .processes(2)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let slow = pool.apply_async(sleep_ms, (60_000,)).unwrap();
    let fast = pool.apply_async(sleep_ms, (1,)).unwrap();
    let err = slow.get().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the timeout did not fire"
    );
    assert_eq!(fast.get().unwrap(), 1);
    assert_eq!(
        pool.map(plus_one, 0..10u64).unwrap(),
        (1..=10).collect::<Vec<_>>()
    );
}

#[multiproc::test]
fn a_panicking_initializer_is_a_clear_error_without_respawns() {
    let log = std::env::temp_dir().join(format!("multiproc-init-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let err = Pool::builder()
        .processes(2)
        .initializer(failing_init, (log.display().to_string(),))
        .build()
        .unwrap_err();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match err.kind() {
        ErrorKind::WorkerPanicked { message, .. } => {
            assert!(
                message.contains("cannot connect to the database"),
                "{message}"
            )
        }
        other => panic!("expected WorkerPanicked, got {other:?}: {err}"),
    }
    assert!(err.to_string().contains("initializer"), "{err}");
    // The initializer's failure is the cause, printed once: in `source()`, not in the message.
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    assert!(!err.to_string().contains("cannot connect"), "{err}");
    assert!(
        format!("{err:#}").contains("cannot connect to the database"),
        "{err:#}"
    );
    // Each of the two workers ran it once; none was restarted.
    let pids: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{text}");
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} left behind");
    }
}

#[multiproc::test]
fn maxtasksperchild_recycles_workers_without_losing_tasks() {
    let pool = Pool::builder()
        .processes(2)
        .maxtasksperchild(3)
        .build()
        .unwrap();
    let pids = pool.map_chunked(pid_of, 0..30u64, 1).unwrap();
    assert_eq!(pids.len(), 30);
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert!(
        distinct.len() >= 10,
        "30 tasks at 3 per worker need >= 10 workers: {distinct:?}"
    );
    for pid in &distinct {
        let per = pids.iter().filter(|p| *p == pid).count();
        assert!(per <= 3, "worker {pid} ran {per} tasks");
    }
    assert_eq!(
        pool.map(plus_one, 0..10u64).unwrap(),
        (1..=10).collect::<Vec<_>>()
    );
}

#[multiproc::test]
fn terminate_with_tasks_in_flight_returns_promptly_and_leaves_nothing() {
    let pool = Pool::new(2).unwrap();
    let pids = pool.pids();
    let results: Vec<_> = (0..6)
        .map(|_| pool.apply_async(sleep_ms, (60_000,)).unwrap())
        .collect();
    let mapped = pool.map_async(sleep_ms, vec![60_000; 4]).unwrap();
    let started = Instant::now();
    pool.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "terminate hung"
    );
    for r in results {
        assert_eq!(r.get().unwrap_err().kind(), &ErrorKind::Closed);
    }
    assert_eq!(mapped.get().unwrap_err().kind(), &ErrorKind::Closed);
    assert!(pool.pids().is_empty());
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} left behind");
    }
    assert_eq!(
        pool.apply_async(plus_one, (1,)).unwrap_err().kind(),
        &ErrorKind::Closed
    );
}

#[multiproc::test]
fn get_timeout_returns_on_time() {
    let pool = Pool::new(1).unwrap();
    let r = pool.apply_async(sleep_ms, (3_000,)).unwrap();
    let started = Instant::now();
    let err = r.get_timeout(Duration::from_millis(100)).unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), &ErrorKind::Timeout);
    assert!(
        waited >= Duration::from_millis(100),
        "returned early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(2_500),
        "returned late: {waited:?}"
    );
    assert!(!r.ready());
    assert!(r.successful().is_err());
    assert!(!r.wait_timeout(Duration::from_millis(10)));
}

/// A worker that aborts in the middle of a long map of plain numbers, whose chunks travel beside
/// the socket (the pool's side rings): the map fails with that worker's death, quickly, and the
/// replacement worker's side serves the next long map whole.
#[multiproc::test]
fn a_worker_dying_mid_way_through_a_long_plain_map_fails_it_and_the_next_map_is_whole() {
    let pool = Pool::new(2).unwrap();
    let t = Instant::now();
    let err = pool.map(abort_at_617, 0..1_000_000u64).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WorkerDied { .. }),
        "expected WorkerDied: {err}"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    for _ in 0..3 {
        let got = pool.map(plus_one, 617..1_000_617u64).unwrap();
        assert_eq!(got.len(), 1_000_000);
        assert!(got.iter().zip(618..).all(|(&v, want)| v == want));
    }
}

/// Sleeps `ms` milliseconds and says which worker ran it.
#[worker]
fn sleep_then_pid(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

/// A worker that has run tiny tasks of one function holds many of them at once; that says nothing
/// of another function's tasks: slow tasks after a warm-up of quick ones go two to a worker, so a
/// worker held up on one of them (here, a long first task) keeps no others waiting behind it while
/// the other worker runs out of work.
#[multiproc::test]
fn slow_tasks_after_quick_ones_do_not_queue_up_behind_a_held_up_worker() {
    let pool = Pool::new(2).unwrap();
    for _ in 0..3 {
        pool.map_chunked(plus_one, 0..200u64, 1).unwrap();
    }
    let mut times = vec![20u64; 8];
    times[0] = 400;
    let pids = pool.map_chunked(sleep_then_pid, times, 1).unwrap();
    let held = pids.iter().filter(|&&p| p == pids[0]).count();
    assert!(
        held <= 2,
        "the worker held up by task 0 ran {held} of the 8 tasks: {pids:?}"
    );
}
