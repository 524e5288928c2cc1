//! Shared memory and lock workloads: `lock_uncontended`, `value_increment_locked`, `array_sum`,
//! `shm_attach` (definitions in the Python script's docstring).

use crate::harness::{Better, Options, Row, median, median_lat, rounds, secs};
use multiproc::{Barrier, Lock, RawArray, SharedMemory, Value};
use std::hint::black_box;

const LOCK_ITERS: u32 = 2_000_000;
const INCREMENTS: u32 = 250_000;
const ARRAY_LEN: usize = 8 << 20;
const ATTACH_CYCLES: u32 = 1_000;

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    if opts.wants("lock_uncontended") {
        rows.push(lock_uncontended(opts));
    }
    if opts.wants("value_increment_locked") {
        rows.push(value_increment_locked(opts));
    }
    if opts.wants("array_sum") {
        rows.push(array_sum(opts));
    }
    if opts.wants("shm_attach") {
        rows.push(shm_attach(opts));
    }
}

/// A robust, process-shared glibc mutex used directly: the floor for `Lock`.
struct RawRobustMutex(Box<libc::pthread_mutex_t>);

impl RawRobustMutex {
    fn new() -> RawRobustMutex {
        // SAFETY: attr and mutex are initialised by the pthread calls before use.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            let mut m = Box::new(std::mem::zeroed::<libc::pthread_mutex_t>());
            libc::pthread_mutex_init(&mut *m, &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            RawRobustMutex(m)
        }
    }

    fn pair(&mut self) {
        // SAFETY: an initialised mutex, locked and unlocked by this thread.
        unsafe {
            libc::pthread_mutex_lock(&mut *self.0);
            libc::pthread_mutex_unlock(&mut *self.0);
        }
    }
}

fn lock_uncontended(opts: &Options) -> Row {
    let lock = Lock::new().expect("lock");
    let mut raw = RawRobustMutex::new();
    for _ in 0..10_000 {
        drop(lock.acquire().expect("acquire"));
        raw.pair();
    }
    let ours = median(opts.trials, || {
        secs(|| {
            for _ in 0..LOCK_ITERS {
                drop(black_box(lock.acquire().expect("acquire")));
            }
        }) * 1e9
            / LOCK_ITERS as f64
    });
    let peer = median(opts.trials, || {
        secs(|| {
            for _ in 0..LOCK_ITERS {
                raw.pair();
            }
        }) * 1e9
            / LOCK_ITERS as f64
    });
    Row {
        workload: "lock_uncontended",
        unit: "ns",
        better: Better::Lower,
        ours,
        peers: vec![("raw robust pthread mutex", peer)],
        pct: None,
    }
}

#[multiproc::worker]
fn increment_locked(v: Value<i32>, start: Barrier, n: u32) {
    start.wait().expect("barrier");
    for _ in 0..n {
        *v.lock().expect("lock") += 1;
    }
}

fn value_increment_locked(opts: &Options) -> Row {
    let ours = median(opts.trials, || {
        let v = Value::new(0i32).expect("value");
        let start = Barrier::new(3).expect("barrier");
        let workers = [
            increment_locked::spawn(v.clone(), start.clone(), INCREMENTS).expect("spawn"),
            increment_locked::spawn(v.clone(), start.clone(), INCREMENTS).expect("spawn"),
        ];
        start.wait().expect("barrier");
        let t = secs(|| {
            for w in workers {
                w.join().expect("join");
            }
        });
        assert_eq!(v.get().expect("get"), 2 * INCREMENTS as i32);
        2.0 * INCREMENTS as f64 / t
    });
    Row {
        workload: "value_increment_locked",
        unit: "ops/s",
        better: Better::Higher,
        ours,
        peers: vec![],
        pct: None,
    }
}

/// Eight independent accumulators, so the adds pipeline and the loop runs at memory speed.
fn sum(xs: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn array_sum(opts: &Options) -> Row {
    let arr = RawArray::from_slice(&vec![1.0f64; ARRAY_LEN]).expect("array");
    let private = vec![1.0f64; ARRAY_LEN];
    let gbs = |read: &dyn Fn() -> f64| {
        median(opts.trials, || {
            let mut s = 0.0;
            let t = secs(|| s = read());
            assert_eq!(s, ARRAY_LEN as f64);
            (ARRAY_LEN * 8) as f64 / t / 1e9
        })
    };
    // A RawArray of plain data is never borrowed while others may write it: it is read in
    // cache-sized pieces (one bulk copy each) and each piece summed from the cache.
    const PIECE: usize = 1024;
    let ours = gbs(&|| {
        let mut piece = [0.0f64; PIECE];
        let mut acc = 0.0;
        for start in (0..ARRAY_LEN).step_by(PIECE) {
            arr.read_at(start, &mut piece).expect("read");
            acc += sum(black_box(&piece));
        }
        acc
    });
    let peer = gbs(&|| sum(black_box(&private)));
    Row {
        workload: "array_sum",
        unit: "GB/s",
        better: Better::Higher,
        ours,
        peers: vec![("the same sum over a private Vec", peer)],
        pct: None,
    }
}

fn shm_attach(opts: &Options) -> Row {
    let cycle = || {
        let owner = SharedMemory::new(1 << 20).expect("create");
        let other = SharedMemory::attach(owner.name()).expect("attach");
        drop(other);
        drop(owner); // unlinks
    };
    for _ in 0..10 {
        cycle();
    }
    let ours = median_lat(opts.trials, || rounds(ATTACH_CYCLES as usize, 1e3, cycle));
    Row::latency("shm_attach", "ms", ours, vec![])
}
