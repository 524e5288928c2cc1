//! Chaos soak: a Pool works through 1,000,000 tiny tasks while a Queue carries messages from producer
//! children to this process and lock-holding children update a Manager dict, and a killer thread
//! SIGKILLs random pool workers, producers and lock holders. Every task returns or errors (counted),
//! every message that arrives is whole and in order, the lock and the dict keep working, nothing hangs
//! (a watchdog deadline), and afterwards no child process and no /dev/shm/multiproc* entry is left.
//! The chaos lasts `MULTIPROC_CHAOS_SECS` seconds (default 10; rounds of 1,000,000 tasks, at least
//! one), about 12 s in all in a debug build.

mod common;

use common::{is_dead, is_our_child, wait_until};
use multiproc::manager::DictProxy;
use multiproc::{ErrorKind, Event, Lock, Manager, Pool, Queue, worker};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TASKS: u64 = 1_000_000;
const PER_PRODUCER: u64 = 300;

#[worker]
fn tiny(x: u64) -> u64 {
    x.wrapping_mul(3) ^ 5
}

#[derive(Serialize, Deserialize)]
struct Msg {
    producer: u64,
    seq: u64,
    payload: Vec<u8>,
    check: u64,
}

fn checksum(producer: u64, seq: u64, payload: &[u8]) -> u64 {
    payload.iter().fold(producer << 32 ^ seq, |h, &b| {
        h.rotate_left(7) ^ u64::from(b)
    })
}

#[worker]
fn produce(q: Queue<Msg>, producer: u64) {
    for seq in 0..PER_PRODUCER {
        let payload: Vec<u8> = (0..(seq % 97) * 13).map(|i| (i ^ seq) as u8).collect();
        let check = checksum(producer, seq, &payload);
        q.put(Msg {
            producer,
            seq,
            payload,
            check,
        })
        .unwrap();
    }
}

/// Takes the lock and bumps its counter in the dict, over and over, until killed.
#[worker]
fn hold(lock: Lock, dict: DictProxy<u64, u64>, me: u64, started: Event) {
    let mut n = 0u64;
    loop {
        let g = lock.acquire().unwrap();
        dict.insert(&me, &n).unwrap();
        started.set();
        std::thread::sleep(Duration::from_micros(500));
        drop(g);
        n += 1;
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn dev_shm() -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("multiproc"))
                .collect()
        })
        .unwrap_or_default()
}

fn sigkill(pid: u32) -> bool {
    // SAFETY: kill(2) on a pid this test got from its own pool or children; a pid that has already
    // exited but is not yet reaped is still ours, so it cannot name another process.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) == 0 }
}

struct Shared {
    stop: AtomicBool,
    pool_pids: Mutex<Vec<u32>>,
    producers: Mutex<Vec<u32>>,
    holders: Mutex<Vec<u32>>,
    seen: Mutex<BTreeSet<u32>>,
    kills: [AtomicU64; 3],
}

impl Shared {
    fn track(&self, pid: u32) {
        self.seen.lock().unwrap().insert(pid);
    }
}

fn killer(s: &Shared) {
    let mut r = 0x243f_6a88_85a3_08d3u64;
    let mut next = move || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    while !s.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20 + next() % 40));
        let which = (next() % 3) as usize;
        let list = match which {
            0 => &s.pool_pids,
            1 => &s.producers,
            _ => &s.holders,
        };
        let pids = list.lock().unwrap().clone();
        if pids.is_empty() {
            continue;
        }
        let pid = pids[(next() % pids.len() as u64) as usize];
        // A target may have just been reaped by its owner: only pids still our children are killed.
        if is_our_child(pid) && !is_dead(pid) && sigkill(pid) {
            s.kills[which].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Producers, one after another, each consumed here: what arrives is whole and in order, and a
/// producer that was not killed delivers all its messages. Returns (producers, messages).
fn queue_side(s: &Shared) -> (u64, u64) {
    let q = Queue::<Msg>::bounded(32).unwrap();
    let (mut producers, mut messages) = (0, 0);
    // How the previous producer's turn ended, for the message of a failure in the next one.
    let mut previous = String::from("none");
    while !s.stop.load(Ordering::Relaxed) {
        let id = producers;
        let mut p = produce::spawn(q.clone(), id).unwrap();
        s.track(p.pid());
        s.producers.lock().unwrap().push(p.pid());
        let mut next_seq = 0;
        let mut exited_at: Option<Instant> = None;
        let mut ended = "drained";
        loop {
            match q.get_timeout(Duration::from_millis(20)) {
                Ok(m) => {
                    assert_eq!(
                        (m.producer, m.seq),
                        (id, next_seq),
                        "lost or reordered (previous producer: {previous})"
                    );
                    assert_eq!(m.check, checksum(m.producer, m.seq, &m.payload), "torn");
                    next_seq += 1;
                    messages += 1;
                }
                Err(e) if e.is_timeout() => {}
                // The promise: once no producer is left, `get` on an empty queue says so. It must
                // never say so while the producer still runs.
                Err(e) if e.is_disconnected() => {
                    // The ring judges a process by /proc, which shows it gone as its exit begins,
                    // a moment before the kernel lets its parent reap it.
                    let gone = wait_until(Duration::from_secs(5), || !p.is_alive());
                    assert!(gone, "Disconnected while the producer runs: {e}");
                    ended = "disconnected";
                    break;
                }
                Err(e) => panic!("queue get: {e}"),
            }
            if exited_at.is_none() && !p.is_alive() {
                exited_at = Some(Instant::now());
            }
            // Drained: the producer is gone and the queue stayed empty for a while after.
            if exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(60)) && q.is_empty() {
                break;
            }
        }
        s.producers.lock().unwrap().retain(|&x| x != p.pid());
        let joined = p.join();
        match &joined {
            Ok(()) => assert_eq!(next_seq, PER_PRODUCER, "producer {id} finished"),
            Err(e) => assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e}"),
        }
        previous = format!(
            "{id}, {ended} after {next_seq} messages, queue length then {}, join: {joined:?}",
            q.len()
        );
        producers += 1;
    }
    (producers, messages)
}

/// Lock holders that update the dict, killed by the killer (or here, after a while); the lock and the
/// dict keep working for this process. Returns the number of holders.
fn lock_side(s: &Shared, dict: &DictProxy<u64, u64>) -> u64 {
    let lock = Lock::new().unwrap();
    let mut holders = 0;
    while !s.stop.load(Ordering::Relaxed) {
        let me = holders + 1;
        let started = Event::new().unwrap();
        let mut p = hold::spawn(lock.clone(), dict.clone(), me, started.clone()).unwrap();
        s.track(p.pid());
        s.holders.lock().unwrap().push(p.pid());
        // Until it runs, or the killer got it first.
        let t = Instant::now();
        let mut began = false;
        while !began && p.is_alive() && t.elapsed() < Duration::from_secs(20) {
            began = started.wait_timeout(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        // The lock is free again within the timeout even if its holder was killed holding it.
        let g = lock.acquire_timeout(Duration::from_secs(10)).unwrap();
        dict.insert(&0, &me).unwrap();
        assert_eq!(dict.get(&0).unwrap(), Some(me));
        if began {
            assert!(
                dict.get(&me).unwrap().is_some(),
                "holder {me} wrote while it ran"
            );
        }
        drop(g);
        s.holders.lock().unwrap().retain(|&x| x != p.pid());
        let _ = p.kill();
        let e = p.join().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e}");
        holders += 1;
    }
    holders
}

#[multiproc::test]
fn chaos_soak() {
    // Relies on spawn semantics (see the README's start-method section): set it explicitly.
    multiproc::set_start_method(multiproc::StartMethod::Spawn);
    let extra = std::env::var("MULTIPROC_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(10);
    let started = Instant::now();
    let soak_until = started + Duration::from_secs(extra);
    let deadline = Duration::from_secs(120 + extra * 2);
    let done = std::sync::Arc::new(AtomicBool::new(false));
    {
        let done = done.clone();
        std::thread::spawn(move || {
            while started.elapsed() < deadline {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("chaos_soak: hung past its {deadline:?} deadline");
            std::process::exit(101);
        });
    }
    let shm_before = dev_shm();
    let s = Shared {
        stop: AtomicBool::new(false),
        pool_pids: Mutex::new(Vec::new()),
        producers: Mutex::new(Vec::new()),
        holders: Mutex::new(Vec::new()),
        seen: Mutex::new(BTreeSet::new()),
        kills: Default::default(),
    };
    let mgr = Manager::start().unwrap();
    if let Some(pid) = mgr.pid() {
        s.track(pid);
    }
    let dict = mgr.dict::<u64, u64>().unwrap();

    let (mut ok, mut errors) = (0u64, BTreeMap::<String, u64>::new());
    let mut rounds = 0;
    let (queue_stats, holders) = std::thread::scope(|scope| {
        let killer_t = scope.spawn(|| killer(&s));
        let queue_t = scope.spawn(|| queue_side(&s));
        let lock_t = scope.spawn(|| lock_side(&s, &dict));

        let pool = Pool::new(2).unwrap();
        loop {
            let results = pool.imap(tiny, 0..TASKS).chunksize(2000);
            let mut n = 0u64;
            for (i, r) in results.enumerate() {
                match r {
                    Ok(v) => {
                        assert_eq!(v, (i as u64).wrapping_mul(3) ^ 5);
                        ok += 1;
                    }
                    Err(e) => {
                        let kind = match e.kind() {
                            ErrorKind::WorkerDied { signal, .. } => {
                                format!("WorkerDied({signal:?})")
                            }
                            other => format!("{other:?}"),
                        };
                        *errors.entry(kind).or_default() += 1
                    }
                }
                n += 1;
                if n % 4000 == 0 {
                    let pids = pool.pids();
                    for &pid in &pids {
                        s.track(pid);
                    }
                    *s.pool_pids.lock().unwrap() = pids;
                }
            }
            assert_eq!(n, TASKS, "every task returns or errors");
            rounds += 1;
            if Instant::now() >= soak_until {
                break;
            }
        }
        s.stop.store(true, Ordering::Relaxed);
        killer_t.join().unwrap();
        s.pool_pids.lock().unwrap().clear();
        pool.close();
        pool.join().unwrap();
        (queue_t.join().unwrap(), lock_t.join().unwrap())
    });
    let total_err: u64 = errors.values().sum();
    assert_eq!(ok + total_err, TASKS * rounds);
    assert!(ok > 0, "no task succeeded: {errors:?}");
    for kind in errors.keys() {
        assert!(
            kind.starts_with("WorkerDied"),
            "unexpected task errors: {errors:?}"
        );
    }
    assert_eq!(dict.get(&0).unwrap(), Some(holders));
    mgr.shutdown().unwrap();
    drop(dict);

    let seen = s.seen.lock().unwrap().clone();
    let leaked: Vec<u32> = seen
        .iter()
        .copied()
        .filter(|&pid| !wait_until(Duration::from_secs(10), || !is_our_child(pid)))
        .collect();
    assert!(leaked.is_empty(), "child processes left: {leaked:?}");
    assert!(
        wait_until(Duration::from_secs(5), || dev_shm()
            .difference(&shm_before)
            .next()
            .is_none()),
        "left in /dev/shm: {:?}",
        dev_shm().difference(&shm_before).collect::<Vec<_>>()
    );
    done.store(true, Ordering::Relaxed);
    let kills: Vec<u64> = s.kills.iter().map(|k| k.load(Ordering::Relaxed)).collect();
    eprintln!(
        "chaos_soak: {rounds} round(s) of {TASKS} tasks in {:?}: {ok} ok, errors {errors:?}; \
         {} producers sent {} messages; {holders} lock holders; SIGKILLs: pool {}, producers {}, \
         holders {}; {} processes tracked",
        started.elapsed(),
        queue_stats.0,
        queue_stats.1,
        kills[0],
        kills[1],
        kills[2],
        seen.len()
    );
    assert!(kills.iter().sum::<u64>() > 0, "the killer never killed");
}
