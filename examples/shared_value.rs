//! Python's `Value` seed: two processes each add 1 to a shared counter 100000 times under its lock.
//! Then the same without a lock, to show what a race does: how many updates are lost depends on how
//! much the two processes overlap (none if the machine happens to run them one after the other).
//!
//! ```python
//! def increment_counter(lock, counter):
//!     for _ in range(100000):
//!         with lock: counter.value += 1
//! counter = Value(ctypes.c_int, 0); lock = Lock()
//! procs = [Process(target=increment_counter, args=(lock, counter)) for _ in range(2)]
//! for p in procs: p.start()
//! for p in procs: p.join()
//! print(f"Final counter value: {counter.value}")  # 200000
//! ```

use multiproc::{Barrier, RawValue, Value, worker};

const N: i32 = 100_000;

/// Adds 1, N times, holding the value's own lock for each increment.
#[worker]
fn increment_locked(counter: Value<i32>, start: Barrier) {
    start.wait().expect("barrier");
    for _ in 0..N {
        *counter.lock().expect("lock") += 1;
    }
}

/// The same read-add-write, with no lock: the two processes overwrite each other's updates.
#[worker]
fn increment_racy(counter: RawValue<i32>, start: Barrier) {
    start.wait().expect("barrier");
    for _ in 0..N {
        counter.set(counter.get() + 1);
    }
}

pub fn run() -> multiproc::Result<()> {
    let counter = Value::new(0i32)?; // Value(ctypes.c_int, 0)
    let start = Barrier::new(2)?; // both start counting at the same moment
    let procs = [
        increment_locked::spawn(counter.clone(), start.clone())?,
        increment_locked::spawn(counter.clone(), start.clone())?,
    ];
    for p in procs {
        p.join()?;
    }
    println!("  final counter value with the lock: {}", counter.get()?);

    let raw = RawValue::new(0i32)?; // RawValue(ctypes.c_int, 0)
    let start = Barrier::new(2)?;
    let procs = [
        increment_racy::spawn(raw.clone(), start.clone())?,
        increment_racy::spawn(raw.clone(), start.clone())?,
    ];
    for p in procs {
        p.join()?;
    }
    let got = raw.get();
    println!(
        "  final counter value without a lock: {got} ({} of {} updates lost to the race)",
        2 * N - got,
        2 * N
    );
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
